from functools import cache

from core import navigation
from core import roles as roles_module
from core.selectors import unread_notification_count


def roles(request):
    """What the layout needs to know about the user: the navigation's links (core.navigation),
    its roles, whether it oversees work, and its unread notifications.
    Lazy (a template calls them, once each), so pages that do not show the navigation —
    the admin — pay no query for them."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"user_roles": []}
    unread = cache(lambda: unread_notification_count(user))
    return {
        "nav_links": cache(lambda: navigation.links_for(user, getattr(request, "resolver_match", None),
                                                        unread=unread())),
        "user_roles": cache(lambda: roles_module.user_roles(user)),
        "nav_oversees_work": cache(lambda: roles_module.oversees_work(user)),
        "nav_unread_notifications": unread,
    }
