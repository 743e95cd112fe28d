from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from allocation import selectors


@login_required
def home(request):
    """Landing page after login: agents go straight to their work; everyone else sees
    what they can do here."""
    if selectors.agent_profile_for(request.user) is not None:
        return redirect("work:inbox")
    return render(request, "home.html")
