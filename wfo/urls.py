from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from allocation import urls as allocation_urls
from core import views
from quality import urls as quality_urls
from reporting import urls as reporting_urls

urlpatterns = [
    path("", views.home, name="home"),
    path("health/", views.health, name="health"),
    path("metrics/", views.metrics, name="metrics"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/read/", views.notifications_read, name="notifications-read"),
    path("admin/", admin.site.urls),
    path("work/", include((allocation_urls.page_urlpatterns, "work"))),
    path("quality/", include((quality_urls.page_urlpatterns, "quality"))),
    path("reports/", include((reporting_urls.page_urlpatterns, "reports"))),
    path("api/v1/quality/", include(quality_urls.api_urlpatterns)),
    path("api/v1/reports/", include(reporting_urls.api_urlpatterns)),
    path("api/v1/", include(allocation_urls.api_urlpatterns)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The portal's icon and a way back to the portal on the docs page (templates/api_docs.html).
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema", template_name="api_docs.html"),
         name="api-docs"),
]

# Unmatched paths, requests Django refuses (a foreign Host header) and unhandled errors: JSON
# under /api/, pages elsewhere; a database that is not answering is a 503 (core/errors.py).
handler400 = "core.errors.bad_request"
handler404 = "core.errors.not_found"
handler500 = "core.errors.server_error"
