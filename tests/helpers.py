"""Build multi-step item and evaluation state through the real services."""

from datetime import time, timedelta

from django.utils import timezone

from allocation import services
from allocation.models import WorkItem
from core.actors import SystemActor

_sequence = iter(range(1, 10**9))


def queued_item(queue, **draft_fields) -> WorkItem:
    """A new item taken in through the intake service (so it has its 'created' event)."""
    n = next(_sequence)
    fields = {
        "source": "tests", "external_id": f"HELPER-{n}", "customer_ref": f"CUST-{n % 7}", "title": f"Case {n}",
        **draft_fields,
    }
    draft = services.ItemDraft(queue=queue, **fields)
    return services.item_intake(actor=SystemActor("tests"), draft=draft).item


def assigned_item(agent, queue, **item_fields) -> WorkItem:
    item = queued_item(queue, **item_fields)
    got = services.item_get_next(agent_id=agent.pk)
    assert got.pk == item.pk, "test setup expected the new item to be next"
    return got


def started_item(agent, queue, **item_fields) -> WorkItem:
    item = assigned_item(agent, queue, **item_fields)
    return services.item_start(item_id=item.pk, actor=agent.user)


def pended_item(agent, queue, *, minutes=30, **item_fields) -> WorkItem:
    item = started_item(agent, queue, **item_fields)
    until = timezone.now() + timedelta(minutes=minutes)
    return services.item_pend(item_id=item.pk, actor=agent.user, until=until, reason="Waiting for the customer")


ITEM_STATES = ("queued", "assigned", "in_progress", "pended", "completed", "cancelled")


def item_in_state(state: str, *, agent, queue, canceller) -> WorkItem:
    """An item of `queue` in `state` (one of ITEM_STATES), held or completed by `agent`
    where the state has a holder, cancelled by `canceller` — through the services."""
    builders = {
        "queued": lambda: queued_item(queue),
        "assigned": lambda: assigned_item(agent, queue),
        "in_progress": lambda: started_item(agent, queue),
        "pended": lambda: pended_item(agent, queue),
        "completed": lambda: services.item_complete(item_id=started_item(agent, queue).pk, actor=agent.user),
        "cancelled": lambda: services.item_cancel(item_id=queued_item(queue).pk, actor=canceller, reason="r"),
    }
    item = builders[state]()
    assert item.status == state
    return item


def at_the_same_time(action, *, times: int = 2) -> list:
    """Run `action()` in `times` threads released together, each on its own database
    connection; return their results. An exception in any thread fails the test (a
    thread's error would otherwise vanish and the test pass on what the others did)."""
    import threading

    from django.db import connections

    barrier = threading.Barrier(times)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(action())
        except BaseException as error:  # reported below, in the test's own thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def office_hours_queue(team):
    """A queue of `team` whose SLA counts 8 working hours on a Monday-to-Friday, 09:00–17:00
    London calendar, so its deadlines go through the working-time arithmetic."""
    from allocation.models import BusinessCalendar, SlaPolicy, WorkingWindow
    from tests import factories

    queue = factories.QueueFactory(teams=[team])
    calendar = BusinessCalendar.objects.create(name=f"Office {queue.code}", time_zone="Europe/London")
    for weekday in range(5):
        WorkingWindow.objects.create(calendar=calendar, weekday=weekday, start=time(9), end=time(17))
    SlaPolicy.objects.create(queue=queue, target=timedelta(hours=8), calendar=calendar)
    return queue


def supervisor_for(*queues):
    """A supervisor of every team that serves `queues` (so its permitted actions reach
    their items: allocation.transitions.items_in_reach)."""
    from core import roles
    from tests import factories

    lead = factories.UserFactory(roles=[roles.SUPERVISOR])
    for queue in queues:
        for team in queue.teams.all():
            team.supervisors.add(lead)
    return lead


def seen_just_now(user) -> None:
    """Record `user`'s visit (if an agent) now, as a request a moment ago would have: the next
    request within the minute writes none (allocation.middleware), so a test pinning what a
    request runs counts the view's statements, not the once-a-minute visit."""
    from allocation.services.agents import agent_seen

    agent_seen(agent_id=user.pk, at=timezone.now())  # an agent's profile is keyed by its user


def token_client(user):
    """An API client that authenticates as `user` with a token, as an integration does."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


EVALUATION_STATES = ("assigned", "draft", "submitted", "acknowledged", "disputed", "upheld", "rescored")


def evaluation_act(action: str, *, evaluation_id: int, actor, answers: dict):
    """Take one step of the evaluation workflow (quality.transitions.ACTIONS) through its
    service, with fixed words where the step asks for some."""
    from quality import services as quality

    pk = evaluation_id
    return {
        "save": lambda: quality.evaluation_save(evaluation_id=pk, actor=actor, answers=answers),
        "submit": lambda: quality.evaluation_submit(evaluation_id=pk, actor=actor, answers=answers),
        "acknowledge": lambda: quality.evaluation_acknowledge(evaluation_id=pk, actor=actor),
        "dispute": lambda: quality.evaluation_dispute(evaluation_id=pk, actor=actor, comment="Unfair"),
        "uphold": lambda: quality.evaluation_uphold(evaluation_id=pk, actor=actor, reason="Procedure 4.2"),
        "rescore": lambda: quality.evaluation_rescore(evaluation_id=pk, actor=actor, answers=answers,
                                                      reason="Second look"),
        "rework": lambda: quality.evaluation_rework(evaluation_id=pk, actor=actor),
    }[action]()


class _RolledBack(Exception):
    pass


def service_accepts(call) -> bool:
    """Whether a service call is accepted now: tried in a transaction that is then rolled
    back, so nothing it wrote stays; a domain error means refused."""
    from django.db import transaction

    from core.exceptions import DomainError

    try:
        with transaction.atomic():
            call()
            raise _RolledBack
    except _RolledBack:
        return True
    except DomainError:
        return False


def evaluation_in_state(state: str, *, evaluation, answers: dict, decider):
    """`evaluation` (assigned) taken to `state` (one of EVALUATION_STATES) through the
    services: its evaluator drafts or submits `answers`, its agent acknowledges or disputes
    it, `decider` upholds it or re-scores it with the same answers."""
    from quality.models import Evaluation

    pk = evaluation.pk
    by = {"save": evaluation.evaluator, "submit": evaluation.evaluator, "acknowledge": evaluation.agent,
          "dispute": evaluation.agent, "uphold": decider, "rescore": decider}
    path = {
        "assigned": [], "draft": ["save"], "submitted": ["submit"], "acknowledged": ["submit", "acknowledge"],
        "disputed": ["submit", "dispute"], "upheld": ["submit", "dispute", "uphold"],
        "rescored": ["submit", "dispute", "rescore"],
    }[state]
    for action in path:
        evaluation_act(action, evaluation_id=pk, actor=by[action], answers=answers)
    evaluation = Evaluation.objects.get(pk=pk)
    assert evaluation.status == state
    return evaluation
