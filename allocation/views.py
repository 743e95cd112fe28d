"""Pages: the agent's task inbox, the item page, the customer view, the supervisors' item
list. Thin, like the API: each view reads through selectors, writes through one service,
and shows the service's own message when a rule refuses (core/middleware.py renders errors
raised while reading: 403, 404). Every form works without JavaScript; htmx only swaps
fragments (the inbox list, the presence switch) in place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from allocation import eligibility, events, forms, labels, selectors, services, transitions
from allocation.filters import ItemPageFilter, ReassignFilter
from allocation.models import ACTIVE_STATUSES, OPEN_STATUSES, AdmissionTeam, AgentProfile, ItemStatus, Queue, WorkItem
from allocation.services import bulk
from core import roles
from core.actors import Actor
from core.exceptions import DomainError, InvalidInput, PermissionDenied
from core.forms import form_errors_from
from core.pagination import EstimatedCountPaginator

ITEMS_PER_PAGE = 50


def agent_required(view: Callable) -> Callable:
    """Pages only agents have: the user's profile is passed as `agent`; others get a 403."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        agent = selectors.agent_profile_for(request.user)
        if agent is None:
            raise PermissionDenied("This page is for agents: your account has no agent profile.")
        return view(request, *args, agent=agent, **kwargs)

    return wrapper


# The inbox -----------------------------------------------------------------------------

def _inbox_context(agent: AgentProfile) -> dict:
    now = timezone.now()
    items = selectors.with_clock_readings(list(selectors.agent_inbox(agent.pk)), now=now)
    active = sum(1 for item in items if item.status in ACTIVE_STATUSES)  # what counts against capacity
    refusal = services.agent_next_work_refusal(agent, held=active)
    return {
        "agent": agent, "items": items, "active_count": active, "now": now,
        "refresh_seconds": settings.WFO_INBOX_REFRESH_SECONDS,
        "next_work_refusal": refusal.message if refusal else "",
    }


def _presence_form(agent: AgentProfile, data=None) -> forms.PresenceForm:
    initial = {"presence": agent.presence, "reason": agent.presence_reason_id}
    return forms.PresenceForm(data, current=agent.presence, initial=initial)


def _presence_shown(agent: AgentProfile) -> str:
    """What the presence switch shows, which the page sends back with each refresh of its
    list (`presence_shown`): another's change (a supervisor's, the idle sweep's) is then
    swapped in, not left under a "Get next work" that says otherwise."""
    return f"{agent.presence}:{agent.presence_reason_id or ''}"


def _presence_context(agent: AgentProfile, form: forms.PresenceForm | None = None) -> dict:
    set_by = selectors.presence_set_by_another(agent)
    return {"presence_form": form or _presence_form(agent), "presence_shown": _presence_shown(agent),
            "presence_set_by": labels.presence_set_by_words(set_by) if set_by else ""}


@require_GET
@agent_required
def inbox(request: HttpRequest, agent: AgentProfile) -> HttpResponse:
    context = _inbox_context(agent) | _presence_context(agent) | {
        "inbox_version": selectors.agent_inbox_version(agent, now=timezone.now()),
    }
    return render(request, "allocation/inbox.html", context)


@require_GET
@agent_required
def inbox_list(request: HttpRequest, agent: AgentProfile) -> HttpResponse:
    """The list alone, for htmx to refresh in place — or 304 Not Modified when the version
    the page holds (If-None-Match) is still the inbox's (selectors.agent_inbox_version):
    most refreshes find nothing changed, and then nothing is rendered. "Get next work" comes
    along (out of band) only when its refusal changed from the one the page shows
    (`?button=`): swapped on every refresh, it would drop the keyboard's focus and race a
    click. The presence switch comes along the same way when another — a supervisor, the
    idle sweep — changed the presence the page shows (`presence_shown`)."""
    version = selectors.agent_inbox_version(agent, now=timezone.now())
    if version in request.headers.get("If-None-Match", ""):
        return _inbox_version_stamped(HttpResponseNotModified(), version)
    context = _inbox_context(agent) | {"inbox_version": version}
    context["button_changed"] = request.GET.get("button", "") != context["next_work_refusal"]
    shown_now = _presence_shown(agent)
    if request.GET.get("presence_shown", shown_now) != shown_now:
        context |= _presence_context(agent) | {"presence_changed": True}
    return _inbox_version_stamped(render(request, "allocation/_inbox_list.html", context), version)


def _inbox_version_stamped(response: HttpResponse, version: str) -> HttpResponse:
    # The page sends the version back itself (the list's hx-headers); the browser keeps no
    # copy, which it would revalidate and hand to htmx as a 200 with the old countdowns.
    response["ETag"] = version
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@agent_required
def presence_set(request: HttpRequest, agent: AgentProfile) -> HttpResponse:
    form = _presence_form(agent, request.POST)
    if form.is_valid():
        try:
            agent = services.agent_set_presence(
                agent_id=agent.pk, presence=form.cleaned_data["presence"], actor=request.user,
                reason_id=form.cleaned_data["reason"].pk if form.cleaned_data["reason"] else None,
            )
        except DomainError as error:
            form.add_error(None, error.message)
    if request.htmx:
        # The switch in place, and "Get next work" beside it (out of band): its refusal
        # follows the presence.
        context = _inbox_context(agent) | _presence_context(agent, form if form.errors else None) | {
            "just_saved": not form.errors,
        }
        return render(request, "allocation/_presence.html", context, status=400 if form.errors else 200)
    if form.errors:
        messages.error(request, " ".join(message for errors in form.errors.values() for message in errors))
    else:
        messages.success(request, f"You are now {agent.presence_words}.")
    return redirect("work:inbox")


@require_POST
@agent_required
def next_work(request: HttpRequest, agent: AgentProfile) -> HttpResponse:
    try:
        item = services.item_get_next(agent_id=agent.pk, actor=request.user)
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("work:inbox")
    if item is None:
        messages.info(request, "Nothing is waiting for you right now. Try again in a moment.")
        return redirect("work:inbox")
    if item.status == ItemStatus.IN_PROGRESS:
        messages.success(request, f"You got #{item.pk} from {item.queue.name}, in progress: the queue starts "
                                  f"the work you pull at once.")
    else:
        messages.success(request, f"You got #{item.pk} from {item.queue.name}. Start it when you begin.")
    return redirect("work:item", item_id=item.pk)


# The item page -------------------------------------------------------------------------

@dataclass(frozen=True)
class ItemAction:
    """How the item page takes one action of the lifecycle (transitions.ACTIONS): the words
    for it done, the form it takes input with (None: one click) and the service doing it."""

    past_tense: str
    perform: Callable[[WorkItem, Actor, dict], WorkItem]
    form: Callable[[WorkItem, dict | None], Form | None] | None = None
    button: str = ""
    button_class: str = "secondary"

    def form_for(self, item: WorkItem, data=None) -> Form | None:
        return self.form(item, data) if self.form is not None else None


def _transfer_form(item: WorkItem, data) -> forms.TransferForm:
    agents = eligibility.agents_eligible_for_queue(item.queue, reached=item.routing_step,
                                                   exclude_agent_id=item.assignee_id)
    return forms.TransferForm(data, item=item, queues=list(selectors.transfer_queues()), agents=list(agents),
                              prefix=transitions.TRANSFER)


ITEM_ACTIONS: dict[str, ItemAction] = {
    transitions.START: ItemAction(
        "started", lambda item, actor, data: services.item_start(item_id=item.pk, actor=actor)),
    transitions.RESUME: ItemAction(
        "resumed", lambda item, actor, data: services.item_resume(item_id=item.pk, actor=actor)),
    transitions.PEND: ItemAction(
        "pended", lambda item, actor, data: services.item_pend(
            item_id=item.pk, actor=actor, until=data["until"], reason=data["reason_text"]),
        lambda item, data: forms.PendForm(data, prefix=transitions.PEND), "Pend item"),
    transitions.COMPLETE: ItemAction(
        "completed", lambda item, actor, data: services.item_complete(
            item_id=item.pk, actor=actor, outcome=data["outcome"], note=data["note"]),
        lambda item, data: forms.CompleteForm(data, queue=item.queue, prefix=transitions.COMPLETE),
        "Complete item", "cta wide"),
    transitions.RELEASE: ItemAction(
        "released", lambda item, actor, data: services.item_release(
            item_id=item.pk, actor=actor, reason=data["reason_text"]),
        lambda item, data: forms.ReleaseForm(data, prefix=transitions.RELEASE), "Release item"),
    transitions.REJECT: ItemAction(
        "rejected", lambda item, actor, data: services.item_reject(
            item_id=item.pk, actor=actor, reason=data["reason"]),
        lambda item, data: forms.RejectForm(data, prefix=transitions.REJECT), "Reject item"),
    transitions.TRANSFER: ItemAction(
        "transferred", lambda item, actor, data: services.item_transfer(
            item_id=item.pk, actor=actor, to_queue_id=data["to_queue_id"], to_agent_id=data["to_agent_id"],
            reason=data["reason"]),
        _transfer_form, "Transfer item"),
    transitions.REPRIORITIZE: ItemAction(
        "given another priority", lambda item, actor, data: services.item_change_priority(
            item_id=item.pk, actor=actor, priority=data["priority"], reason=data["reason"]),
        lambda item, data: forms.PriorityForm(data, prefix=transitions.REPRIORITIZE,
                                              initial={"priority": item.priority}),
        "Change priority"),
    transitions.CANCEL: ItemAction(
        "cancelled", lambda item, actor, data: services.item_cancel(
            item_id=item.pk, actor=actor, reason=data["reason"]),
        lambda item, data: forms.CancelForm(data, prefix=transitions.CANCEL), "Cancel item", "danger-button"),
}


# The forms the item page carries as it loads: Complete, open at the top. Every other action's
# form comes when its section is opened (item_action_form): most visits open none, and the
# transfer form alone reads every agent eligible for the queue.
FORMS_ON_LOAD = frozenset({transitions.COMPLETE})


def _item_response(request: HttpRequest, item: WorkItem, *, sent=None, status: int = 200) -> HttpResponse:
    """The item page; `sent` is a bound form (with its errors) to show in its action's place.
    `?open=<action>` carries that action's form too (the page's link to it without scripts)."""
    now = timezone.now()
    selectors.with_clock_readings([item], now=now)
    allowed = transitions.actions_allowed(item, request.user)
    on_load = FORMS_ON_LOAD | {request.GET.get("open")}
    action_forms = {action: ITEM_ACTIONS[action].form_for(item) for action in allowed if action in on_load}
    forms.reason_lists_load(action_forms.values())
    if sent is not None:
        action_forms[sent.prefix] = sent
    timeline = selectors.item_timeline(item)
    why_holder = selectors.assignment_explanation(item, timeline) if roles.oversees_work(request.user) else None
    context = {
        "item": item,
        "events": timeline,
        "user_names": selectors.user_names_in_events(timeline),
        "queue_names": selectors.queue_names_in_events(timeline),
        "allowed": allowed,
        "action_forms": action_forms,
        "action_specs": ITEM_ACTIONS,
        "now": now,
        "is_agent": roles.is_agent(request.user),
        "why_holder": why_holder,
        "why_holder_said": events.read(why_holder) if why_holder else None,
        "why_routed": selectors.routing_explanation(timeline, before=why_holder) if why_holder else [],
        "cool_offs": selectors.item_cool_offs(item, now=now) if roles.oversees_work(request.user) else [],
    }
    return render(request, "allocation/item.html", context, status=status)


@require_GET
@login_required
def item_page(request: HttpRequest, item_id: int) -> HttpResponse:
    return _item_response(request, selectors.item_for_page(user=request.user, item_id=item_id))


@require_GET
@login_required
def item_action_form(request: HttpRequest, item_id: int, action: str) -> HttpResponse:
    """One action's form for the item page, fetched when its section is opened. An action the
    user may no longer take says so in the form's place (409), with nothing else changed."""
    spec = ITEM_ACTIONS.get(action)
    if spec is None or spec.form is None:
        raise Http404("No such form.")
    item = selectors.item_for_page(user=request.user, item_id=item_id, with_events=False)
    context = {"item": item, "action": action, "spec": spec}
    if action not in transitions.actions_allowed(item, request.user):
        context["gone"] = f"{_no_longer_open(item, spec)} Reload the page to see it as it is."
        return render(request, "allocation/_action_body.html", context, status=409)
    form = spec.form_for(item)
    forms.reason_lists_load([form])
    return render(request, "allocation/_action_body.html", context | {"form": form})


def _refused(request: HttpRequest, item_id: int, message: str) -> HttpResponse:
    """Nothing was done: say why on the item's page, or on the inbox when the item can no
    longer be opened by this user."""
    messages.error(request, f"{message} Nothing was done.")
    try:
        selectors.item_for_page(user=request.user, item_id=item_id)
    except DomainError:
        return redirect("work:inbox" if selectors.agent_profile_for(request.user) else "home")
    return redirect("work:item", item_id=item_id)


@require_POST
@login_required
def item_act(request: HttpRequest, item_id: int, action: str) -> HttpResponse:
    """Run one action posted from the item page (ITEM_ACTIONS; each has its URL). A page
    loaded before someone else changed the item gets a clear refusal, never a 500; input
    errors come back on the form (400)."""
    spec = ITEM_ACTIONS[action]
    try:
        item = selectors.item_for_page(user=request.user, item_id=item_id, with_events=False)
    except DomainError as error:
        return _refused(request, item_id, error.message)
    if action not in transitions.actions_allowed(item, request.user):
        return _refused(request, item_id, f"{_no_longer_open(item, spec)} It changed after your page was loaded.")
    form = spec.form_for(item, request.POST)
    if form is not None and not form.is_valid():
        return _item_response(request, item, sent=form, status=400)
    try:
        done = spec.perform(item, request.user, form.cleaned_data if form is not None else {})
    except InvalidInput as error:
        if form is None or not error.fields:
            return _refused(request, item_id, error.message)
        form_errors_from(form, error)
        return _item_response(request, item, sent=form, status=400)
    except DomainError as error:
        return _refused(request, item_id, error.message)
    messages.success(request, _done_message(done, action))
    # An agent goes on working a started item; anything else it did ends its turn with
    # the item, so back to the inbox. Supervisors stay on the item they acted on.
    if action in (transitions.START, transitions.RESUME) or selectors.agent_profile_for(request.user) is None:
        return redirect("work:item", item_id=item_id)
    return redirect("work:inbox")


def _no_longer_open(item: WorkItem, spec: ItemAction) -> str:
    """Why an action offered by a page loaded earlier cannot be taken now."""
    return f"Work item #{item.pk} is {item.get_status_display().lower()} now, so it cannot be {spec.past_tense} by you."


def _done_message(item: WorkItem, action: str) -> str:
    said = f"#{item.pk} {ITEM_ACTIONS[action].past_tense}"
    if action == transitions.PEND:
        return f"{said} until {labels.moment_words(item.pended_until)}; it comes back to you first then."
    if action == transitions.COMPLETE:
        return f"{said} ({labels.outcome_label(item.outcome)}). Press n for your next item."
    if action == transitions.TRANSFER:
        target = labels.display_name(item.assignee) if item.assignee_id else item.queue.name
        return f"{said} to {target}."
    if action == transitions.REPRIORITIZE:
        due = labels.moment_words(item.due_at)
        return f"#{item.pk} is now {item.get_priority_display().lower()} priority; due {due}."
    return f"{said}."


# The customer view and the supervisors' list --------------------------------------------

@require_GET
@login_required
def customer_page(request: HttpRequest, customer_ref: str) -> HttpResponse:
    now = timezone.now()
    items = selectors.with_clock_readings(
        selectors.customer_journey(user=request.user, customer_ref=customer_ref), now=now
    )
    rows = [(item, selectors.user_may_open(request.user, item)) for item in items]
    # The reference as its source sent it, however it was typed to get here.
    context = {"customer_ref": items[0].customer_ref, "rows": rows, "now": now}
    return render(request, "allocation/customer.html", context)


@require_GET
@login_required
def item_list(request: HttpRequest) -> HttpResponse:
    if not roles.oversees_work(request.user):
        raise PermissionDenied("Only supervisors and admins can browse work items.")
    filterset = ItemPageFilter(request.GET or None, queryset=selectors.items_visible_to(request.user))
    items = filterset.qs if filterset.is_bound and filterset.is_valid() else filterset.queryset
    page = EstimatedCountPaginator(items.order_by("-id"), ITEMS_PER_PAGE).get_page(request.GET.get("page"))
    page.object_list = selectors.with_clock_readings(list(page.object_list), now=timezone.now())
    query = request.GET.copy()
    query.pop("page", None)
    context = {"filter": filterset, "page": page, "query": query.urlencode(), "now": timezone.now(),
               "held_by": _held_by(filterset.form, items)}
    return render(request, "allocation/item_list.html", context,
                  status=400 if filterset.is_bound and not filterset.is_valid() else 200)


def _held_by(form, items) -> dict | None:
    """What a "Held by" name matched: whose items are listed, so a supervisor sees when it
    named more than one person."""
    if not form.is_bound or not form.is_valid() or not form.cleaned_data.get("assignee"):
        return None
    return {"name": form.cleaned_data["assignee"], "holders": selectors.holders_of(items)}


# Supervisor bulk reassign -------------------------------------------------------------------

REASSIGN_LIST_LIMIT = 200


@login_required
def reassign(request: HttpRequest) -> HttpResponse:
    """Filter items, select, choose a target, preview what would move and what is refused
    (and why), then apply. GET filters; POST step=preview shows the preview; step=apply moves,
    then redirects to the same filters, so the page shows the items as they now are and a
    reload moves nothing again."""
    if not roles.oversees_work(request.user):
        raise PermissionDenied("Only supervisors and admins can reassign work.")
    scope = WorkItem.objects.filter(bulk.items_reassignable_by(request.user)).distinct()
    queues = Queue.objects.filter(pk__in=scope.values("queue_id")).order_by("name")
    filterset = ReassignFilter(request.GET or None, queues=queues,
                               queryset=scope.filter(status__in=OPEN_STATUSES).select_related("queue", "assignee"))
    filters = filterset.form
    items = filterset.qs if filterset.is_bound and filterset.is_valid() else filterset.queryset
    shown = list(items.order_by("start_by", "id")[:REASSIGN_LIST_LIMIT])
    item_ids = [item.pk for item in shown]
    if request.method == "POST":
        item_ids = [int(pk) for pk in request.POST.getlist("items") if pk.isdigit()]
    # The agents who may take the items in question (those ticked, else those listed) come
    # first, by the rule get-next and transfer follow; the others say why not.
    reaches = sorted({eligibility.reach_of(item) for item in scope.filter(pk__in=item_ids).select_related("queue")},
                     key=lambda reach: (reach.queue.name, reach.step))
    candidates = list(
        AgentProfile.objects.filter(team_id__in=AdmissionTeam.objects.filter(queue__in=queues).values("team_id"))
        .select_related("user", "team")
        .order_by("user__username")
    )
    eligible, ineligible = eligibility.agents_by_eligibility(candidates, reaches)
    form = forms.ReassignForm(request.POST or None, item_ids=item_ids, queues=list(queues), eligible=eligible,
                              ineligible=ineligible,
                              initial={"items": item_ids if request.GET.get("select") == "all" else []})
    context = {"filters": filters, "items": shown, "form": form, "limit": REASSIGN_LIST_LIMIT,
               "total": items.count() if len(shown) == REASSIGN_LIST_LIMIT else len(shown),
               "held_by": _held_by(filters, items)}
    if request.method != "POST":
        return render(request, "allocation/reassign.html", context,
                      status=400 if filters.is_bound and not filters.is_valid() else 200)
    if not form.is_valid():
        return render(request, "allocation/reassign.html", context, status=400)
    target = {"to_agent_id": form.cleaned_data["to_agent_id"], "to_queue_id": form.cleaned_data["to_queue_id"]}
    try:
        if request.POST.get("step") == "apply":
            result = bulk.items_reassign(actor=request.user, item_ids=form.cleaned_data["items"],
                                         reason=form.cleaned_data["reason"], **target)
            _say_what_moved(request, result)
            return redirect(_reassign_url_keeping_filters(request))
        context |= {"result": bulk.items_reassign_preview(actor=request.user, item_ids=form.cleaned_data["items"],
                                                          **target)}
    except InvalidInput as error:
        form_errors_from(form, error)
        return render(request, "allocation/reassign.html", context, status=400)
    return render(request, "allocation/reassign.html", context)


def _say_what_moved(request: HttpRequest, result: bulk.BulkResult) -> None:
    """What an apply did, for the page it redirects to: what moved where, and what did not
    and why (items refused for the same reasons together)."""
    moved = result.moving
    if moved:
        ids = ", ".join(f"#{verdict.item_id}" for verdict in moved)
        messages.success(request, f"Moved {len(moved)} item{'s' if len(moved) != 1 else ''} to {result.target}: {ids}.")
    if result.refused:
        by_reason: dict[str, list[str]] = {}
        for verdict in result.refused:
            by_reason.setdefault(" ".join(verdict.reasons), []).append(f"#{verdict.item_id}")
        why = " ".join(f"{', '.join(ids)}: {reason}" for reason, ids in by_reason.items())
        lead = "" if moved else f"Nothing moved to {result.target}. "
        messages.warning(request, f"{lead}Not moved ({len(result.refused)}): {why}")


def _reassign_url_keeping_filters(request: HttpRequest) -> str:
    """The page with the filters it was posted from, nothing selected."""
    query = request.GET.copy()
    query.pop("select", None)
    return f"{reverse('work:reassign')}?{query.urlencode()}" if query else reverse("work:reassign")
