from django.contrib import admin
from django.urls import include, path

from backend.config.health import healthz, readyz
from backend.config.metrics import metrics

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    # For the monitoring system's bearer token only (CANDOUR_METRICS_TOKEN): 403 to anyone else.
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/", include("backend.api.urls")),
    # Twilio's webhooks (inbound SMS, status callbacks): an entry point outside backend, named by string.
    path("twilio/", include("notifications.urls")),
    # Pages are an entry point outside backend: named by string so backend never imports them.
    path("", include("frontend.urls")),
]

# Paths under /api/ that match nothing answer JSON like the rest of the API.
handler404 = "backend.api.errors.not_found"
