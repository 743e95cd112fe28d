from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from allocation import selectors


@login_required
def home(request):
    """Landing page after login: what this user can do here."""
    agent = selectors.agent_profile_for(request.user)
    context = {
        "agent": agent,
        "held_count": selectors.agent_active_item_count(agent.pk) if agent else None,
    }
    return render(request, "home.html", context)
