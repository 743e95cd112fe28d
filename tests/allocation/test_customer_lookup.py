"""A customer reference is found however it is typed (case, surrounding spaces), through
the indexed key every item carries, and shown as its source sent it."""

import pytest
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from allocation import selectors
from allocation.models import WorkItem
from tests import factories
from tests.helpers import queued_item, supervisor_for

pytestmark = pytest.mark.django_db

SENT = "CUST-463347"
TYPED = ["cust-463347", "Cust-463347", " CUST-463347 "]


@pytest.fixture
def case(queue):
    """Two items of one customer, another customer's, and the supervisor of their queue."""
    items = [queued_item(queue, customer_ref=SENT), queued_item(queue, customer_ref=SENT)]
    queued_item(queue, customer_ref="CUST-463348")
    return items, supervisor_for(queue)


@pytest.mark.parametrize("typed", TYPED)
def test_the_customer_page_finds_the_customer_in_any_case_and_shows_the_reference_as_sent(client, case, typed):
    items, supervisor = case
    client.force_login(supervisor)
    response = client.get(reverse("work:customer", args=[typed]))
    html = response.content.decode()
    assert response.status_code == 200
    assert all(f"#{item.pk} {item.title}" in html for item in items)
    assert f"<h1>Customer {SENT}</h1>" in html


@pytest.mark.parametrize("typed", TYPED)
def test_the_api_journey_and_the_list_filter_find_the_customer_in_any_case(case, typed):
    items, supervisor = case
    api = APIClient()
    api.force_authenticate(supervisor)
    journey = api.get(reverse("customer-items", args=[typed]))
    assert journey.status_code == 200
    assert [row["id"] for row in journey.json()] == [item.pk for item in items]
    assert {row["customer_ref"] for row in journey.json()} == {SENT}
    listed = api.get(reverse("item-list"), {"customer_ref": typed})
    assert listed.status_code == 200
    assert sorted(row["id"] for row in listed.json()["results"]) == [item.pk for item in items]


def test_the_item_list_page_and_the_report_find_the_customer_in_any_case(client, case):
    items, supervisor = case
    client.force_login(supervisor)
    page = client.get(reverse("work:items"), {"customer_ref": "cust-463347"})
    assert page.status_code == 200
    assert all(f"#{item.pk} {item.title}" in page.content.decode() for item in items)
    report = client.get(reverse("reports:customer-journey"), {"ref": "cust-463347"})
    assert report.status_code == 200
    assert all(f"#{item.pk} {item.title}" in report.content.decode() for item in items)


def test_the_lookup_keeps_to_what_the_user_may_see(case):
    items, supervisor = case
    theirs = queued_item(factories.QueueFactory(teams=[factories.TeamFactory()]), customer_ref=SENT.lower())
    api = APIClient()
    api.force_authenticate(supervisor)
    journey = api.get(reverse("customer-items", args=["cust-463347"])).json()
    assert [row["id"] for row in journey] == [item.pk for item in items]
    listed = api.get(reverse("item-list"), {"customer_ref": "cust-463347"}).json()["results"]
    assert sorted(row["id"] for row in listed) == [item.pk for item in items]
    assert theirs.pk in [row["id"] for row in WorkItem.objects.filter(selectors.customer_is(SENT)).values("id")]


def test_a_reference_written_without_intake_gets_its_key_from_the_database(queue):
    """Every writer (intake, rework, seeding, a bulk load in SQL) gets the key: PostgreSQL
    computes it, as it did for the rows already there when the column was added."""
    made = factories.WorkItemFactory(queue=queue, customer_ref="  Cust-0042 ")
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {WorkItem._meta.db_table} SET customer_ref = %s WHERE id = %s", ["AbC-9", made.pk])
    assert WorkItem.objects.get(pk=made.pk).customer_key == "abc-9"
    assert list(WorkItem.objects.filter(selectors.customer_is(" ABC-9")).values_list("pk", flat=True)) == [made.pk]


def test_the_lookup_filters_on_the_indexed_key(queue):
    """Whatever the planner picks on a tiny table, the lookup must be able to use the
    key's index: with sequential scans priced out, the plan names it."""
    queued_item(queue, customer_ref=SENT)
    journey = WorkItem.objects.filter(selectors.customer_is("cust-463347"))
    sql, params = journey.query.sql_with_params()
    assert '"customer_key" = ' in sql and "customer_ref" not in sql.split("WHERE", 1)[1]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "workitem_customer_key" in plan, plan


@pytest.mark.parametrize("typed", ["CUST\x00", "x" * 65])
def test_a_reference_that_cannot_be_one_is_a_400(case, typed):
    _, supervisor = case
    api = APIClient()
    api.force_authenticate(supervisor)
    assert api.get(reverse("item-list"), {"customer_ref": typed}).status_code == 400


def test_a_reference_with_a_nul_is_a_400_on_every_lookup(client, case):
    _, supervisor = case
    client.force_login(supervisor)
    assert client.get("/work/customers/CUST%00/").status_code == 400
    assert client.get(reverse("reports:customer-journey"), {"ref": "CUST\x00"}).status_code == 400
    assert client.get(reverse("work:items"), {"customer_ref": "CUST\x00"}).status_code == 400


def test_the_migration_gives_the_items_already_there_their_key(queue):
    """Items written before the key existed are found by it once the migration ran (the
    test's transaction is rolled back afterwards, schema included)."""
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("allocation", "0013_presence_reasons")], [("allocation", "0014_customer_key")]
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no ALTER TABLE while foreign key checks wait
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {WorkItem._meta.db_table} (queue_id, source, external_id, customer_ref, title, payload, "
            "priority, status, received_at, due_at, start_by, outcome, created_at, updated_at) "
            "VALUES (%s, 'old', 'OLD-1', ' CUST-463347', 'Old case', '{}', 3, 'queued', now(), now(), now(), '', "
            "now(), now()) RETURNING id", [queue.pk])
        old_id = cursor.fetchone()[0]
    executor = MigrationExecutor(connection)
    executor.migrate(after)
    assert list(WorkItem.objects.filter(selectors.customer_is("cust-463347")).values_list("pk", flat=True)) == [old_id]
