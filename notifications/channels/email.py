"""E-mail through Django's mail API, so EMAIL_BACKEND picks the transport (SMTP, console, file, anymail)."""

from __future__ import annotations

import hashlib
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.utils import DNS_NAME

from notifications.channels.base import ChannelResult
from notifications.models import Delivery, DeliveryStatus

# Django's SMTP backend waits forever by default. A send that outlives the requeue sweep's threshold
# is taken for a dead worker and tried again, so a hung server must fail the attempt well before that.
DEFAULT_TIMEOUT_SECONDS = 30


def message_id(delivery: Delivery) -> str:
    """The same Message-ID on every attempt at one delivery: some mail systems drop a second
    message with an id they have seen, which softens the duplicate a crash mid-send can cause.
    The key is hashed because it is the caller's vocabulary, not something to publish."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or str(DNS_NAME)
    digest = hashlib.sha256(delivery.idempotency_key.encode()).hexdigest()[:20]
    return f"<delivery.{delivery.pk}.{digest}@{domain}>"


class EmailChannel:
    def send(self, delivery: Delivery) -> ChannelResult:
        msg_id = message_id(delivery)
        connection = get_connection(timeout=getattr(settings, "EMAIL_TIMEOUT", None) or DEFAULT_TIMEOUT_SECONDS)
        message = EmailMessage(
            subject=delivery.subject,
            body=delivery.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[delivery.recipient],
            connection=connection,
            # Auto-Submitted stops out-of-office replies (RFC 3834); nobody reads the sending mailbox.
            headers={"Message-ID": msg_id, "Auto-Submitted": "auto-generated"},
        )
        message.send(fail_silently=False)
        return ChannelResult(provider_id=msg_id, status=DeliveryStatus.SENT)
