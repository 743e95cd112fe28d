"""Admin for routing steps (allocation/admin/routing_steps.py): the steps inline on the queue
and its checks — nothing written on a refusal —, a step's own page with its skill changes,
and the preview, which names the items and agents the routing job then moves."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from allocation.models import ItemStatus, RoutingStep, StepAction, StepCondition, StepSkill, WorkItem
from allocation.services.routing import routing_advance
from core import roles
from tests import factories

pytestmark = pytest.mark.django_db

NOW = datetime(2031, 3, 12, 10, 30, tzinfo=UTC)
STEPS = "routing_steps"
SKILL_CHANGES = "skill_changes"


@pytest.fixture
def admin_client(client):
    client.force_login(factories.UserFactory(roles=[roles.ADMIN], is_staff=True))
    return client


@pytest.fixture
def admin_client_at_now(client):
    """Logged in at NOW (a session begun at the real time would have expired by then)."""
    with time_machine.travel(NOW, tick=False):
        client.force_login(factories.UserFactory(roles=[roles.ADMIN], is_staff=True))
        yield client


def queue_url(queue) -> str:
    return reverse("admin:allocation_queue_change", args=[queue.pk])


def step_url(step) -> str:
    return reverse("admin:allocation_routingstep_change", args=[step.pk])


def page_data(response) -> dict:
    """A change page's forms as a browser would post them back unchanged."""
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        forms += [inline.formset.management_form, *inline.formset.forms]
    data = {}
    for form in forms:
        for field in form:
            value = field.value()
            if value is None or value is False:
                continue
            data[field.html_name] = "on" if value is True else value
    return data


def with_steps(data: dict, *rows: dict, prefix: str = STEPS) -> dict:
    """`data` with new rows added to the inline `prefix` after its saved ones."""
    saved = int(data[f"{prefix}-INITIAL_FORMS"])
    data = {key: value for key, value in data.items()
            if not key.startswith(prefix) or key.endswith("_FORMS") or int(key.split("-")[1]) < saved}
    for n, row in enumerate(rows, start=saved):
        data |= {f"{prefix}-{n}-{name}": value for name, value in row.items()}
    data[f"{prefix}-TOTAL_FORMS"] = saved + len(rows)
    return data


def waited(position: int, wait=("0", "30"), **row) -> dict:
    """A "waited" step as the page posts it: its wait in the hours and minutes boxes."""
    return {"position": position, "condition": StepCondition.WAITED, "minutes_hours": wait[0],
            "minutes_minutes": wait[1], "action": StepAction.WIDEN} | row


def overflow(position: int, target, wait=("0", "30"), **row) -> dict:
    return waited(position, wait, action=StepAction.OVERFLOW, overflow_queue=target.pk) | row


def post_queue(client, queue, *rows: dict, **changes):
    data = page_data(client.get(queue_url(queue))) | changes
    return client.post(queue_url(queue), with_steps(data, *rows))


def test_the_inline_saves_valid_steps(admin_client):
    team, night = factories.TeamFactory(), factories.TeamFactory(name="Night")
    queue, disputes = factories.QueueFactory(teams=[team]), factories.QueueFactory(name="Disputes")

    response = post_queue(
        admin_client, queue,
        waited(2, added_teams=[night.pk]),
        {"position": 3, "condition": StepCondition.BACKLOG, "backlog_over": "200", "action": StepAction.WIDEN},
        overflow(4, disputes, condition=StepCondition.NO_AGENT, wait=("0", "15")),
        routing_enabled="on",
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    steps = list(queue.routing_steps.order_by("position"))
    assert [(s.position, s.condition, s.minutes, s.backlog_over, s.action, s.overflow_queue_id) for s in steps] == [
        (2, StepCondition.WAITED, 30, None, StepAction.WIDEN, None),
        (3, StepCondition.BACKLOG, None, 200, StepAction.WIDEN, None),
        (4, StepCondition.NO_AGENT, 15, None, StepAction.OVERFLOW, disputes.pk),
    ]
    assert list(steps[0].added_teams.all()) == [night]
    queue.refresh_from_db()
    assert queue.routing_enabled


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([waited(2), waited(4)], "Number the steps 2, 3, … without gaps: these are steps 2 to 3."),
        ([waited(3)], "Number the steps 2, 3, … without gaps: these are steps 2."),
        ([waited(2), waited(2)], "Step 2 is given twice: number the steps 2 to 3, each once."),
        ([waited(2, wait=("", ""))], "How long? At least 1 min."),
        ([waited(2, condition=StepCondition.NO_AGENT, wait=("", ""))], "How long? At least 1 min."),
        ([waited(2, wait=("0", "0"))], "At least 1 min."),
        ([waited(2, wait=("1", "75"))], "Minutes run from 0 to 59: write 90 minutes as 1 h 30 min."),
        ([waited(2, wait=("-1", "0"))], "Hours cannot be negative."),
        ([waited(2, wait=("half", "0"))], "Hours: write a whole number, e.g. 8."),
        ([waited(2, wait=("721", "0"))], "At most 720 h (30 days)."),
        ([waited(2, backlog_over="5")], "Only a backlog step counts waiting items: leave this empty."),
        ([waited(2, condition=StepCondition.BACKLOG, backlog_over="10")],
         "A backlog step counts waiting items, not time: leave this empty."),
        ([waited(2, condition=StepCondition.BACKLOG, wait=("", ""))],
         "How many items may wait before the rest enter this step? 0 or more."),
        ([waited(2, condition=StepCondition.BACKLOG, wait=("", ""), backlog_over="-1")],
         "Ensure this value is greater than or equal to 0."),
        ([waited(2, action=StepAction.OVERFLOW)], "Which queue do the items move to?"),
        ([waited(2, wait=("10" + "0" * 12, "0"))], "At most 720 h (30 days)."),
        ([waited("9" * 25)], "Ensure this value is less than or equal to 5."),
        ([waited(2, wait=("9" * 5000, "0"))], "At most 720 h (30 days)."),
        ([waited(2, condition=StepCondition.BACKLOG, wait=("", ""), backlog_over="9" * 40)],
         "Ensure this value is less than or equal to 10000000."),
        ([waited(n) for n in (2, 3, 4, 5, 5)], "At most 4 steps after step 1 (steps 2 to 5)."),
        ([waited(2, condition="sometimes")], "Select a valid choice. sometimes is not one of the available choices."),
        ([waited(2, action=StepAction.OVERFLOW, overflow_queue="9" * 30)], "Select a valid choice."),
        ([waited(2, action=StepAction.OVERFLOW, overflow_queue="x")], "Select a valid choice."),
        ([waited(2, added_teams=["x"])], "“x” is not a valid value."),
    ],
)
def test_a_step_that_makes_no_sense_is_refused_and_nothing_is_written(admin_client, rows, message):
    queue = factories.QueueFactory(name="Chargebacks")

    response = post_queue(admin_client, queue, *rows, name="Renamed", routing_enabled="on")

    assert response.status_code == 200 and message in response.content.decode()
    assert not RoutingStep.objects.exists()
    queue.refresh_from_db()
    assert (queue.name, queue.routing_enabled) == ("Chargebacks", False)


def test_an_overflow_step_is_the_last_one_and_goes_elsewhere(admin_client):
    queue, other = factories.QueueFactory(), factories.QueueFactory()

    not_last = post_queue(admin_client, queue, overflow(2, other), waited(3))
    to_itself = post_queue(admin_client, queue, overflow(2, queue))
    widen_with_target = post_queue(admin_client, queue, waited(2, overflow_queue=other.pk))
    night = factories.TeamFactory()
    overflow_adding_teams = post_queue(admin_client, queue, overflow(2, other, added_teams=[night.pk]))

    assert "An overflow step is the last step (here step 3)" in not_last.content.decode()
    assert "A queue cannot overflow to itself." in to_itself.content.decode()
    assert "Only an overflow step moves items to another queue: leave this empty." in widen_with_target.content.decode()
    assert "it adds no teams" in overflow_adding_teams.content.decode()
    assert not RoutingStep.objects.exists()


def test_an_overflow_back_to_the_queue_is_refused_in_queue_names(admin_client):
    chargebacks, disputes = factories.QueueFactory(name="Chargebacks"), factories.QueueFactory(name="Disputes")
    factories.RoutingStepFactory(queue=disputes, overflow_queue=chargebacks)

    response = post_queue(admin_client, chargebacks, overflow(2, disputes))

    assert response.status_code == 200
    assert "Overflow would loop: Chargebacks → Disputes → Chargebacks" in response.content.decode()
    assert not chargebacks.routing_steps.exists()


@pytest.mark.django_db(transaction=True)
def test_two_overflow_checks_at_once_run_one_after_the_other():
    """Admins saving A → B and B → A at once: the second check waits for the first save to
    commit and sees its step, so it refuses the loop (each alone would pass)."""
    import threading

    from django.db import connections, transaction

    from allocation import routing

    a, b = factories.QueueFactory(name="A"), factories.QueueFactory(name="B")
    first_saved, first_may_commit, second = threading.Event(), threading.Event(), {}

    def first_admin():
        try:
            with transaction.atomic():
                routing.overflow_targets(excluding_queue=a.pk)
                factories.RoutingStepFactory(queue=a, overflow_queue=b)
                first_saved.set()
                first_may_commit.wait(timeout=30)
        finally:
            connections.close_all()

    def second_admin():
        try:
            with transaction.atomic():
                second["targets"] = routing.overflow_targets(excluding_queue=b.pk)
        finally:
            connections.close_all()

    one = threading.Thread(target=first_admin)
    one.start()
    assert first_saved.wait(timeout=30)
    two = threading.Thread(target=second_admin)
    two.start()
    two.join(timeout=0.5)  # still waiting for the first save (with the lock); let it commit
    first_may_commit.set()
    one.join()
    two.join()

    assert second["targets"] == {a.pk: {b.pk}}
    assert routing.overflow_cycle(b.pk, a.pk, targets=second["targets"]) == [b.pk, a.pk, b.pk]


def test_a_loop_through_three_queues_is_refused(admin_client):
    fraud, chargebacks, disputes = (factories.QueueFactory(name=name) for name in ["Fraud", "Chargebacks", "Disputes"])
    factories.RoutingStepFactory(queue=chargebacks, overflow_queue=disputes)
    factories.RoutingStepFactory(queue=disputes, position=2, condition=StepCondition.WAITED)
    factories.RoutingStepFactory(queue=disputes, position=3, overflow_queue=fraud)

    loop = post_queue(admin_client, fraud, overflow(2, chargebacks))
    chain = post_queue(admin_client, factories.QueueFactory(), overflow(2, chargebacks))

    assert "Overflow would loop: Fraud → Chargebacks → Disputes → Fraud" in loop.content.decode()
    assert not fraud.routing_steps.exists()
    assert chain.status_code == 302  # a chain that ends somewhere is no loop


def test_saved_steps_are_renumbered_in_an_order_that_keeps_each_number_free(admin_client):
    queue = factories.QueueFactory()
    first = factories.RoutingStepFactory(queue=queue, position=2, minutes=30)
    second = factories.RoutingStepFactory(queue=queue, position=3, minutes=60)
    data = page_data(admin_client.get(queue_url(queue)))
    data |= {f"{STEPS}-0-position": 3, f"{STEPS}-1-position": 4}

    inserted = admin_client.post(queue_url(queue), with_steps(data, waited(2, wait=("0", "10"))))

    assert inserted.status_code == 302, inserted.content.decode()[:3000]
    assert list(queue.routing_steps.order_by("position").values_list("pk", "minutes")) == [
        (queue.routing_steps.get(position=2).pk, 10), (first.pk, 30), (second.pk, 60),
    ]
    data = page_data(admin_client.get(queue_url(queue)))
    data |= {f"{STEPS}-0-DELETE": "on", f"{STEPS}-1-position": 2, f"{STEPS}-2-position": 3}
    assert admin_client.post(queue_url(queue), data).status_code == 302
    assert list(queue.routing_steps.order_by("position").values_list("pk", flat=True)) == [first.pk, second.pk]


def test_saved_steps_trading_places_are_refused_not_crashed(admin_client):
    queue = factories.QueueFactory()
    factories.RoutingStepFactory(queue=queue, position=2, minutes=30)
    factories.RoutingStepFactory(queue=queue, position=3, minutes=60)
    data = page_data(admin_client.get(queue_url(queue)))
    data |= {f"{STEPS}-0-position": 3, f"{STEPS}-1-position": 2}

    response = admin_client.post(queue_url(queue), data)

    assert response.status_code == 200
    assert "Saved steps cannot trade places in one save" in response.content.decode()
    assert list(queue.routing_steps.order_by("position").values_list("minutes", flat=True)) == [30, 60]


def test_a_step_page_holds_its_skill_changes(admin_client):
    french, fraud = factories.SkillFactory(name="French"), factories.SkillFactory(name="Fraud")
    queue = factories.QueueFactory(name="Chargebacks")
    factories.QueueSkillFactory(queue=queue, skill=french, min_proficiency=3)
    step = factories.RoutingStepFactory(queue=queue, routing_on=False)
    assert step_url(step) in admin_client.get(queue_url(queue)).content.decode()  # the row's change link
    data = page_data(admin_client.get(step_url(step)))

    duplicate = admin_client.post(step_url(step), with_steps(
        data, {"skill": french.pk, "min_proficiency": "2"}, {"skill": french.pk, "min_proficiency": ""},
        prefix=SKILL_CHANGES))
    dropping_what_is_not_required = admin_client.post(step_url(step), with_steps(
        data, {"skill": fraud.pk, "min_proficiency": ""}, prefix=SKILL_CHANGES))
    assert "French is given twice: one change per skill." in duplicate.content.decode()
    assert "The queue does not require Fraud" in dropping_what_is_not_required.content.decode()
    assert not StepSkill.objects.exists()

    saved = admin_client.post(step_url(step), with_steps(
        data, {"skill": french.pk, "min_proficiency": ""}, {"skill": fraud.pk, "min_proficiency": "2"},
        prefix=SKILL_CHANGES))

    assert saved.status_code == 302 and saved["Location"] == queue_url(queue)
    assert {(change.skill.name, change.min_proficiency) for change in step.skill_changes.all()} == {
        ("French", None), ("Fraud", 2),
    }
    page = admin_client.get(step_url(step)).content.decode()
    assert "Fraud at level 2 or more is enough; French no longer required" in page


def test_an_overflow_step_changes_no_skills(admin_client):
    skill = factories.SkillFactory()
    step = factories.RoutingStepFactory(overflow_queue=factories.QueueFactory())
    data = page_data(admin_client.get(step_url(step)))

    response = admin_client.post(step_url(step), with_steps(data, {"skill": skill.pk, "min_proficiency": "2"},
                                                            prefix=SKILL_CHANGES))

    assert "An overflow step moves the items to another queue: it changes no skills." in response.content.decode()
    assert not StepSkill.objects.exists()


def test_a_queue_without_steps_or_inactive_says_so(admin_client):
    without_steps = admin_client.get(queue_url(factories.QueueFactory())).content.decode()
    inactive = admin_client.get(queue_url(factories.RoutingStepFactory(queue__is_active=False).queue)).content.decode()

    assert "No routing steps: step 1 (this queue&#x27;s own teams and skills) alone admits agents." in without_steps
    assert "The queue is inactive: its steps move no item until it is active again." in inactive


def test_the_preview_names_what_the_job_then_moves(admin_client_at_now):
    admin_client = admin_client_at_now
    day, night, weekend = (factories.TeamFactory(name=name) for name in ["Day", "Night", "Weekend"])
    queue = factories.QueueFactory(name="Chargebacks", teams=[day])
    step = factories.RoutingStepFactory(queue=queue, minutes=30, added_teams=[night], routing_on=False)
    factories.AgentFactory(team=day, user__first_name="Dana", user__last_name="Day")
    factories.AgentFactory(team=night, user__first_name="Nico", user__last_name="Night")
    factories.AgentFactory(team=weekend, user__first_name="Wes", user__last_name="Weekend")
    waiting = [factories.WorkItemFactory(queue=queue, title=f"Dispute {n} <b>", received_at=NOW - timedelta(
        minutes=45 + n)) for n in range(3)]
    fresh = factories.WorkItemFactory(queue=queue, title="Fresh", received_at=NOW - timedelta(minutes=10))

    page = admin_client.get(queue_url(queue)).content.decode()

    assert "Step 2 — waited 30 min at step 1: also offered to Night." in page
    assert "Enabled now: 3 items would enter step 2." in page
    for item in waiting:
        url = reverse("work:item", args=[item.pk])
        assert f'<a href="{url}">#{item.pk} Dispute {item.title[8]} &lt;b&gt;</a>' in page  # titles escaped
    assert "Fresh" not in page
    assert "These agents would start seeing them: Nico Night." in page

    turned_on = post_queue(admin_client, queue, routing_enabled="on")
    assert turned_on.status_code == 302
    assert "Due at the next pass: 3 items would enter step 2." in admin_client.get(queue_url(queue)).content.decode()
    result = routing_advance(now=NOW)

    assert result.entered == {step.pk: 3}
    assert set(WorkItem.objects.filter(routing_step=2).values_list("pk", flat=True)) == {item.pk for item in waiting}
    fresh.refresh_from_db()
    assert fresh.routing_step == 1 and fresh.status == ItemStatus.QUEUED


def test_the_preview_says_when_an_overflow_is_blocked(admin_client_at_now):
    admin_client = admin_client_at_now
    target = factories.QueueFactory(name="Disputes", is_active=False)
    queue = factories.QueueFactory(name="Chargebacks")
    factories.RoutingStepFactory(queue=queue, overflow_queue=target, routing_on=False)
    factories.WorkItemFactory(queue=queue, received_at=NOW - timedelta(hours=1))

    page = admin_client.get(queue_url(queue)).content.decode()

    assert "Step 2 — waited 30 min at step 1: moved to the queue Disputes." in page
    assert "Blocked: the queue Disputes is inactive. 1 item due at step 2; none would move." in page
