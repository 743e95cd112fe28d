from django.urls import path

from allocation import views
from allocation.api import actions, agent, items, webhooks

# Mounted at /api/v1/ (wfo/urls.py); names without a namespace.
api_urlpatterns = [
    path("items/", items.ItemListCreateApi.as_view(), name="item-list"),
    path("items/<int:item_id>/", items.ItemDetailApi.as_view(), name="item-detail"),
    path("items/reassign/", actions.ItemsReassignApi.as_view(), name="items-reassign"),
    path("items/<int:item_id>/cancel/", actions.ItemCancelApi.as_view(), name="item-cancel"),
    path("items/<int:item_id>/start/", actions.ItemStartApi.as_view(), name="item-start"),
    path("items/<int:item_id>/pend/", actions.ItemPendApi.as_view(), name="item-pend"),
    path("items/<int:item_id>/resume/", actions.ItemResumeApi.as_view(), name="item-resume"),
    path("items/<int:item_id>/complete/", actions.ItemCompleteApi.as_view(), name="item-complete"),
    path("items/<int:item_id>/release/", actions.ItemReleaseApi.as_view(), name="item-release"),
    path("items/<int:item_id>/transfer/", actions.ItemTransferApi.as_view(), name="item-transfer"),
    path("items/<int:item_id>/priority/", actions.ItemPriorityApi.as_view(), name="item-priority"),
    path("items/<int:item_id>/reject/", actions.ItemRejectApi.as_view(), name="item-reject"),
    path("agent/next/", agent.AgentNextApi.as_view(), name="agent-next"),
    path("agent/presence/", agent.AgentPresenceApi.as_view(), name="agent-presence"),
    path("customers/<str:customer_ref>/items/", items.CustomerItemsApi.as_view(), name="customer-items"),
    path("webhooks/", webhooks.SubscriptionListCreateApi.as_view(), name="webhook-list"),
    path("webhooks/<int:subscription_id>/", webhooks.SubscriptionDetailApi.as_view(), name="webhook-detail"),
    path("webhooks/<int:subscription_id>/deliveries/", webhooks.DeliveryListApi.as_view(),
         name="webhook-deliveries"),
    path("webhooks/<int:subscription_id>/redeliver/", webhooks.RedeliverApi.as_view(), name="webhook-redeliver"),
]

# Mounted at /work/ in the "work" namespace: the agent inbox and the item pages.
page_urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("inbox/list/", views.inbox_list, name="inbox-list"),
    path("next/", views.next_work, name="next"),
    path("presence/", views.presence_set, name="presence"),
    path("items/", views.item_list, name="items"),
    path("reassign/", views.reassign, name="reassign"),
    path("items/<int:item_id>/", views.item_page, name="item"),
    # One URL per action of the item page (views.ITEM_ACTIONS), named item-<action>.
    *(path(f"items/<int:item_id>/{action}/", views.item_act, {"action": action}, name=f"item-{action}")
      for action in views.ITEM_ACTIONS),
    path("items/<int:item_id>/<slug:action>/form/", views.item_action_form, name="item-action-form"),
    path("customers/<str:customer_ref>/", views.customer_page, name="customer"),
]
