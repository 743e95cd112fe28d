from django.urls import path

from quality import api, views

# Mounted at /quality/ in the "quality" namespace.
page_urlpatterns = [
    path("", views.home, name="home"),
    path("evaluations/<int:evaluation_id>/", views.evaluation_page, name="evaluation"),
    path("forms/", views.forms_page, name="forms"),
    path("forms/<int:form_id>/", views.form_page, name="form"),
    path("calibrations/new/", views.calibration_new, name="calibration-new"),
    path("calibrations/<int:session_id>/", views.calibration_page, name="calibration"),
]

# Mounted at /api/v1/quality/.
api_urlpatterns = [
    path("forms/", api.FormListApi.as_view(), name="quality-forms"),
    path("evaluations/", api.EvaluationListApi.as_view(), name="quality-evaluations"),
    path("evaluations/<int:evaluation_id>/", api.EvaluationDetailApi.as_view(), name="quality-evaluation"),
    path("evaluations/<int:evaluation_id>/submit/", api.EvaluationSubmitApi.as_view(), name="quality-submit"),
    path("evaluations/<int:evaluation_id>/acknowledge/", api.EvaluationAcknowledgeApi.as_view(),
         name="quality-acknowledge"),
    path("evaluations/<int:evaluation_id>/dispute/", api.EvaluationDisputeApi.as_view(), name="quality-dispute"),
]
