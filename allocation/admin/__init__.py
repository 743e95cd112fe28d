"""Django admin of the allocation domain: configuration (core: skills, teams, queues,
agents, items; routing_steps: a queue's routing steps and their preview; sla: calendars,
policies, alerts; webhooks: subscriptions and their delivery log). Admin actions call the
services."""

from allocation.admin import core, routing_steps, sla, webhooks  # noqa: F401  (registers the ModelAdmins)
