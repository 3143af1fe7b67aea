from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from scrm.api import health

api_v1 = [
    path("", include("scrm.tenancy.urls")),
    path("", include("customers.urls")),
    path("", include("campaigns.urls")),
    path("", include("campaigns.campaign_urls")),
    path("", include("interactions.urls")),
    path("", include("privacy.urls")),
    path("", include("wecom.urls")),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("admin/", admin.site.urls),
]

handler400 = "scrm.api.errors.bad_request"
handler403 = "scrm.api.errors.permission_denied"
handler404 = "scrm.api.errors.not_found"
handler500 = "scrm.api.errors.server_error"
