from django.urls import path

from quality import views

# Mounted at /quality/ in the "quality" namespace.
page_urlpatterns = [
    path("", views.home, name="home"),
    path("evaluations/<int:evaluation_id>/", views.evaluation_page, name="evaluation"),
    path("calibrations/<int:session_id>/", views.calibration_page, name="calibration"),
]
