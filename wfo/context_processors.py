from functools import cache

from allocation.selectors import SEE_ALL_ITEMS_PERMISSION, agent_profile_for
from wfo.roles import user_roles
from wfo.selectors import unread_notification_count


def roles(request):
    """What the navigation needs to know about the user: their roles and which of the
    portal's areas they may reach (the views check the same things and answer 403).
    Lazy (a template calls them, once each), so pages that do not show the navigation —
    the admin — pay no query for them."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"user_roles": []}
    return {
        "user_roles": cache(lambda: user_roles(user)),
        "nav_is_agent": cache(lambda: agent_profile_for(user) is not None),
        "nav_sees_all_items": cache(lambda: user.has_perm(SEE_ALL_ITEMS_PERMISSION)),
        "nav_unread_notifications": cache(lambda: unread_notification_count(user)),
    }
