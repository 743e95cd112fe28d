"""Request-wide behaviour of the allocation domain: noting when an agent last used the
portal, through its pages or its API (rebalancing sets an idle agent offline)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.utils import timezone

from allocation.selectors import agent_profile_for
from allocation.services.agents import agent_seen
from core.errors import DATABASE_UNAVAILABLE, database_error_words

logger = logging.getLogger(__name__)


class AgentLastSeenMiddleware:
    """Record when an agent last used the portal, at most once a minute: the profile the
    request has read anyway (allocation.identity) says when it was last recorded, so a
    request in between writes nothing — not even its session (WFO_AGENT_SEEN_EVERY).

    Recorded once the view has answered: an API request's token is read in the view (DRF
    authenticates there), so only then is its agent known — an agent working through the
    API is as present as one in the pages, and the idle sweep must not take it for absent.
    The answer stands whatever becomes of the record: an answer the server could not give
    (a database not answering: 503) records nothing, and a record the database refuses is
    logged and dropped — never a done action (a completed item) answered as failed, whose
    retry would then be refused."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if response.status_code < 500 and user is not None and user.is_authenticated:
            agent = agent_profile_for(user)
            now = timezone.now()
            seen = agent.last_seen_at if agent is not None else None
            if agent is not None and (seen is None or now - seen >= settings.WFO_AGENT_SEEN_EVERY):
                try:
                    agent_seen(agent_id=agent.pk, at=now)
                except DATABASE_UNAVAILABLE as error:
                    logger.warning("agent %s's visit not recorded, the database not answering: %s",
                                   agent.pk, database_error_words(error))
                else:
                    agent.last_seen_at = now
        return response
