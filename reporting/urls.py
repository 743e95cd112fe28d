from django.urls import path

from reporting import api, views

# Mounted at /reports/ in the "reports" namespace.
page_urlpatterns = [
    path("", views.home, name="home"),
    path("home/live/", views.home_live, name="home-live"),
    path("wallboard/", views.wallboard, name="wallboard"),
    path("wallboard/live/", views.wallboard_live, name="wallboard-live"),
    path("wallboard/thresholds/", views.wallboard_thresholds, name="wallboard-thresholds"),
    path("agents/", views.agents, name="agents"),
    path("agents/live/", views.agents_live, name="agents-live"),
    path("agents/<int:agent_id>/presence/", views.agent_presence, name="agent-presence"),
    path("history/", views.history, name="history"),
    path("customers/", views.customer_journey, name="customer-journey"),
    path("capacity/", views.capacity, name="capacity"),
    path("scorecards/", views.scorecards, name="scorecards"),
    path("scorecards/<int:agent_id>/", views.scorecard, name="scorecard"),
]

# Mounted at /api/v1/reports/.
api_urlpatterns = [
    path("backlog/", api.BacklogReportApi.as_view(), name="report-backlog"),
    path("sla/", api.SlaReportApi.as_view(), name="report-sla"),
    path("history/", api.HistoryReportApi.as_view(), name="report-history"),
]
