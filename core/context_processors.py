from functools import cache

from core import roles as roles_module
from core.selectors import unread_notification_count


def roles(request):
    """What the navigation needs to know about the user: their roles and which of the
    portal's areas they may reach (the views check the same things and answer 403).
    Lazy (a template calls them, once each), so pages that do not show the navigation —
    the admin — pay no query for them."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"user_roles": []}
    return {
        "user_roles": cache(lambda: roles_module.user_roles(user)),
        "nav_is_agent": cache(lambda: roles_module.is_agent(user)),
        "nav_oversees_work": cache(lambda: roles_module.oversees_work(user)),
        "nav_quality": cache(lambda: roles_module.takes_part_in_quality(user)),
        "nav_unread_notifications": cache(lambda: unread_notification_count(user)),
    }
