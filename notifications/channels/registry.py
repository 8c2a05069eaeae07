"""Channel name -> channel object. The setting NOTIFICATIONS_CHANNELS (channel name -> dotted path of
a class) overrides the defaults one name at a time, so tests can swap every channel for locmem and
development can swap sms for the console without touching the code that writes deliveries."""

from __future__ import annotations

from functools import lru_cache
from typing import cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from notifications.channels.base import DeliveryChannel
from notifications.models import Channel

DEFAULTS: dict[str, str] = {
    Channel.EMAIL: "notifications.channels.email.EmailChannel",
    Channel.IN_APP: "notifications.channels.in_app.InAppChannel",
    # Recipients are contact-vault tokens; development points TWILIO_API_BASE_URL at a local fake.
    Channel.SMS: "notifications.channels.twilio_sms.TwilioSmsChannel",
}


def channel_paths() -> dict[str, str]:
    # Read on every call, not at import: override_settings in tests must take effect.
    configured: dict[str, str] = getattr(settings, "NOTIFICATIONS_CHANNELS", None) or {}
    unknown = set(configured) - set(Channel.values)
    if unknown:
        raise ImproperlyConfigured(f"NOTIFICATIONS_CHANNELS names unknown channels: {sorted(unknown)}")
    return {**DEFAULTS, **configured}


@lru_cache(maxsize=32)
def _channel_load(path: str) -> DeliveryChannel:
    # One instance per class per process: channels keep no per-delivery state.
    try:
        cls = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(f"cannot import the notification channel {path!r}") from exc
    return cast(DeliveryChannel, cls())


def channel_get(name: str) -> DeliveryChannel:
    try:
        path = channel_paths()[name]
    except KeyError:
        raise ImproperlyConfigured(f"no notification channel called {name!r}") from None
    return _channel_load(path)
