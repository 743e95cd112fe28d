"""Django admin of the allocation domain: configuration (core: skills, teams, queues,
agents, items; sla: calendars, policies, alerts). Admin actions call the services."""

from allocation.admin import core, sla  # noqa: F401  (registers the ModelAdmins)
