"""A valid body for every request that sends one, so the matrix tests who may act, not
what they typed (bad input has its own tests)."""

from datetime import timedelta

from django.utils import timezone

from allocation.models import OTHER_REASON


def bodies(world) -> dict[str, dict]:
    tomorrow = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    other_queue_id = world.kwargs["other_queue_id"]
    return {
        # pages (form posts; each action's form has the action as its prefix)
        "work:item-pend": {"pend-until": tomorrow.strftime("%Y-%m-%dT%H:%M"), "pend-reason": OTHER_REASON,
                           "pend-details": "x"},  # "Other" is offered whatever the admins' list holds
        "work:item-release": {"release-reason": OTHER_REASON, "release-details": "x"},
        "work:item-complete": {"complete-outcome": "done", "complete-note": ""},
        "work:item-transfer": {"transfer-target": f"queue:{other_queue_id}", "transfer-reason": "x"},
        "work:item-priority": {"priority-priority": "5", "priority-reason": "x"},
        "work:item-reject": {"reject-reason": "x"},
        "work:item-cancel": {"cancel-reason": "x", "cancel-confirm": "on"},
        "work:presence": {"presence": "away"},
        "reports:agent-presence": {"presence": "away"},
        "reports:wallboard-thresholds": {},
        # API (JSON)
        "item-pend": {"until": tomorrow.isoformat(), "reason": "Waiting for the customer"},
        "item-release": {"reason": "x"},
        "item-complete": {"outcome": "done"},
        "item-transfer": {"queue": world.kwargs["other_queue_code"], "reason": "x"},
        "item-priority": {"priority": 5, "reason": "x"},
        "item-reject": {"reason": "x"},
        "item-cancel": {"reason": "x"},
        "items-reassign": {"items": [world.kwargs["item_id"]], "queue": world.kwargs["other_queue_code"]},
        "work:reassign": {"step": "apply", "items": [world.kwargs["item_id"]],
                          "target": f"queue:{world.kwargs['queue_id']}", "reason": "x"},
        "quality:evaluation": {"action": "save"},
        "agent-presence": {"presence": "away"},
        "item-list": {"queue": world.kwargs["queue_code"], "source": "crm", "external_id": "NEW-1",
                      "customer_ref": "CUST-9", "title": "A new case"},
        "quality-dispute": {"comment": "I disagree"},
        "webhook-list": {"name": "Decisions", "url": "https://93.184.215.14/hooks", "kinds": ["completed"]},
        "webhook-detail": {"name": "Renamed"},
        "quality-submit": {"answers": {}, "draft": True},
    }
