"""The "Held by" filter takes a person's name or part of it (first, last or full name,
or username, in any case), on the item list page, the bulk reassign page and the API."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from tests import factories
from tests.helpers import assigned_item, supervisor_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def holders(team, queue):
    """Ines Walker, Tom Walken and Ann Other each hold an item of `queue`; a Walker of
    another team holds one of a queue the supervisor does not reach."""
    people = {}
    for username, first, last in [("iwalker", "Ines", "Walker"), ("tw", "Tom", "Walken"), ("aother", "Ann", "Other")]:
        agent = factories.AgentFactory(team=team, user__username=username, user__first_name=first,
                                       user__last_name=last)
        people[username] = assigned_item(agent, queue)
    elsewhere = factories.TeamFactory()
    stranger = factories.AgentFactory(team=elsewhere, user__username="jwalker", user__first_name="Jo",
                                      user__last_name="Walker")
    people["jwalker"] = assigned_item(stranger, factories.QueueFactory(teams=[elsewhere]))
    return people, supervisor_for(queue)


def _listed(html: str, people: dict) -> set[str]:
    return {name for name, item in people.items() if f'href="{reverse("work:item", args=[item.pk])}"' in html}


@pytest.mark.parametrize(("typed", "found"), [
    ("walk", {"iwalker", "tw"}),
    ("WALKER", {"iwalker"}),
    ("ines", {"iwalker"}),
    ("  Ines   walker ", {"iwalker"}),
    ("iwal", {"iwalker"}),
    ("tw", {"tw"}),
    ("nobody", set()),
])
def test_the_item_list_finds_the_holders_by_part_of_a_name(client, holders, typed, found):
    people, supervisor = holders
    client.force_login(supervisor)
    response = client.get(reverse("work:items"), {"assignee": typed})
    assert response.status_code == 200
    assert _listed(response.content.decode(), people) == found


def test_the_page_says_when_a_name_matches_several_people(client, holders):
    people, supervisor = holders
    client.force_login(supervisor)
    html = client.get(reverse("work:items"), {"assignee": "walk"}).content.decode()
    assert _listed(html, people) == {"iwalker", "tw"}
    assert "“walk” matches 2 people: the items of all of them are listed — Ines Walker (iwalker), Tom Walken (tw)." in (
        html)
    one = client.get(reverse("work:items"), {"assignee": "walker"}).content.decode()
    assert "matches" not in one and "Held by Ines Walker (iwalker)." in one


def test_the_reassign_page_finds_the_holders_by_name_too(client, holders):
    people, supervisor = holders
    client.force_login(supervisor)
    html = client.get(reverse("work:reassign"), {"assignee": "Walk", "select": "all"}).content.decode()
    assert {name for name, item in people.items() if f'id="pick-{item.pk}"' in html} == {"iwalker", "tw"}
    assert "“Walk” matches 2 people" in html


def test_the_api_filter_finds_the_holders_by_name_and_stays_strict(holders):
    people, supervisor = holders
    api = APIClient()
    api.force_authenticate(supervisor)

    def ids(query):
        response = api.get(reverse("item-list"), query)
        assert response.status_code == 200, response.json()
        return {row["id"] for row in response.json()["results"]}

    assert ids({"assignee": "walk"}) == {people["iwalker"].pk, people["tw"].pk}
    assert ids({"assignee": "Ines Walker"}) == {people["iwalker"].pk}
    assert ids({"assignee": "aother"}) == {people["aother"].pk}
    assert api.get(reverse("item-list"), {"asignee": "walk"}).status_code == 400
    assert api.get(reverse("item-list"), {"assignee": "walk\x00"}).status_code == 400
    assert api.get(reverse("item-list"), {"assignee": "w" * 151}).status_code == 400
