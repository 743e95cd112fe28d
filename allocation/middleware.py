"""Request-wide behaviour of the allocation domain: noting when an agent last used the
portal (rebalancing sets an idle session offline)."""

from __future__ import annotations

from django.utils import timezone

from allocation.services.agents import agent_seen


class AgentLastSeenMiddleware:
    """Record when an agent last used the portal, at most once a minute per session (the
    session remembers when it last wrote), so an idle session can be set offline."""

    EVERY_SECONDS = 60
    SESSION_KEY = "wfo_seen_at"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            now = timezone.now()
            last = request.session.get(self.SESSION_KEY, 0)
            if now.timestamp() - last >= self.EVERY_SECONDS:
                agent_seen(agent_id=user.pk, at=now)
                request.session[self.SESSION_KEY] = now.timestamp()
        return self.get_response(request)
