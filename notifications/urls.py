"""Twilio's webhooks, mounted under /twilio/ by backend.config.urls (named there by string, so the
backend never imports an entry point). Configure Twilio with CANDOUR_BASE_URL + these paths exactly:
the signature covers the whole URL."""

from __future__ import annotations

from django.urls import path

from notifications import webhooks

app_name = "notifications"

urlpatterns = [
    path("sms/", webhooks.twilio_sms_inbound, name="twilio-sms"),
    path("status/", webhooks.twilio_status_callback, name="twilio-status"),
]
