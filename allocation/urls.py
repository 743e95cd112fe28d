from django.urls import path

from allocation import api

urlpatterns = [
    path("items/", api.ItemListCreateApi.as_view(), name="item-list"),
    path("items/<int:item_id>/", api.ItemDetailApi.as_view(), name="item-detail"),
    path("items/<int:item_id>/cancel/", api.ItemCancelApi.as_view(), name="item-cancel"),
    path("items/<int:item_id>/start/", api.ItemStartApi.as_view(), name="item-start"),
    path("items/<int:item_id>/pend/", api.ItemPendApi.as_view(), name="item-pend"),
    path("items/<int:item_id>/complete/", api.ItemCompleteApi.as_view(), name="item-complete"),
    path("items/<int:item_id>/release/", api.ItemReleaseApi.as_view(), name="item-release"),
    path("items/<int:item_id>/transfer/", api.ItemTransferApi.as_view(), name="item-transfer"),
    path("agent/next/", api.AgentNextApi.as_view(), name="agent-next"),
    path("agent/presence/", api.AgentPresenceApi.as_view(), name="agent-presence"),
    path("customers/<str:customer_ref>/items/", api.CustomerItemsApi.as_view(), name="customer-items"),
]
