"""Who may receive work (allocation/eligibility.py): its forms — querysets, reasons in
words, get-next's SQL — give the same answers."""

import pytest

from allocation import eligibility, services
from allocation.models import Presence
from tests import factories
from tests.helpers import assigned_item

pytestmark = pytest.mark.django_db


def test_eligible_agents_for_a_queue_agree_with_the_reasons_per_agent(team):
    visa, spanish = factories.SkillFactory(), factories.SkillFactory()
    queue = factories.QueueFactory(teams=[team])
    factories.QueueSkillFactory(queue=queue, skill=visa, min_proficiency=3)
    factories.QueueSkillFactory(queue=queue, skill=spanish, min_proficiency=2)

    def agent(*, skills=((visa, 3), (spanish, 2)), **fields):
        made = factories.AgentFactory(**{"team": team, **fields})
        for skill, level in skills:
            factories.AgentSkillFactory(agent=made, skill=skill, proficiency=level)
        return made

    fits = agent()
    agent(skills=((visa, 2), (spanish, 5)))  # below the minimum
    agent(skills=((visa, 5),))  # missing a skill
    agent(team=factories.TeamFactory())  # team does not serve the queue
    agent(team=None)
    agent(presence=Presence.AWAY)
    full = agent(capacity=1)
    easy = factories.QueueFactory(teams=[team])
    assigned_item(full, easy)
    was_full = agent(capacity=1)
    services.item_release(item_id=assigned_item(was_full, easy).pk, actor=was_full.user, reason="r")

    listed = set(eligibility.agents_eligible_for_queue(queue).values_list("pk", flat=True))
    assert listed == {fits.pk, was_full.pk}
    everyone = list(factories.AgentFactory._meta.model.objects.all())
    for profile in everyone:
        assert (profile.pk in listed) == (not eligibility.agent_ineligibility_reasons(agent=profile, queue=queue))
    unfit = eligibility.agents_unfit_for(everyone, [queue, easy])  # all at once, as a page lists them
    assert {agent_id for (agent_id, queue_id), why in unfit.items() if queue_id == queue.pk and not why} == listed
    eligible, _ = eligibility.agents_by_eligibility(everyone, [queue])
    assert {agent.pk for agent in eligible} == listed
    assert fits.pk not in set(eligibility.agents_eligible_for_queue(queue, exclude_agent_id=fits.pk).values_list(
        "pk", flat=True))
