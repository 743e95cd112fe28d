"""Django admin of the allocation domain: configuration (core: skills, teams, queues,
agents, items; routing_steps: a queue's routing steps and their preview; sla: calendars,
policies, alerts). Admin actions call the services."""

from allocation.admin import core, routing_steps, sla  # noqa: F401  (registers the ModelAdmins)
