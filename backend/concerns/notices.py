"""Who is told what when a concern moves: Delivery requests for the notifications outbox.

Counts, references and links only: a notice never carries narrative or anything about the raiser.
Recipients for a whole sweep batch are found with one query, however many concerns it touches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models.functions import Length

from backend.concerns.models import Channel, Concern
from backend.organisations.models import AlertChannel, Membership, Organisation, Role
from notifications.services import DeliveryRequest, deliveries_write


def _ancestor_paths(path: str) -> list[str]:
    parts = [p for p in path.strip("/").split("/") if p]
    return ["/" + "/".join(parts[: i + 1]) + "/" for i in range(len(parts))]


@dataclass(frozen=True)
class Directory:
    """The guardians, governors and handlers relevant to a set of organisations, fetched once."""

    memberships: list[Membership]
    # Guardians per organisation, asked once each: a sweep batch asks for the same few bodies hundreds of times.
    _guardians: dict[int, list[User]] = field(default_factory=dict, compare=False, repr=False)
    _governors: dict[tuple[int, int], list[User]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def for_organisations(cls, organisations: Iterable[Organisation]) -> Directory:
        paths = {p for org in organisations for p in _ancestor_paths(org.path)}
        rows = (
            Membership.objects.filter(role__in=[Role.GUARDIAN, Role.GOVERNOR, Role.HANDLER])
            .filter(organisation__path__in=paths)
            .select_related("user", "user__profile", "organisation")
        )
        governing = Membership.objects.filter(role=Role.GOVERNOR, organisation__governs__path__in=paths).select_related(
            "user", "user__profile", "organisation", "organisation__governs"
        )
        return cls(memberships=list(rows) + list(governing))

    @classmethod
    def guardians_above(cls, organisation: Organisation) -> Directory:
        """Only the guardians on the organisation's path, in one query: what intake needs."""
        rows = Membership.objects.filter(
            role=Role.GUARDIAN, organisation__path__in=_ancestor_paths(organisation.path)
        ).select_related("user", "user__profile", "organisation")
        return cls(memberships=list(rows))

    def guardians_of(self, organisation: Organisation) -> list[User]:
        if organisation.pk not in self._guardians:
            self._guardians[organisation.pk] = self._users(
                Role.GUARDIAN, lambda m: organisation.path.startswith(m.organisation.path)
            )
        return list(self._guardians[organisation.pk])

    def governors_for(self, concern: Concern) -> list[User]:
        """Governors of the board that governs the trust the concern is about, or of the body holding it."""
        unit, holder = concern.unit, concern.holder

        def governs(m: Membership) -> bool:
            governed = m.organisation.governs
            return (governed is not None and unit.path.startswith(governed.path)) or (
                holder.path.startswith(m.organisation.path)
            )

        key = (unit.pk, holder.pk)
        if key not in self._governors:
            self._governors[key] = self._users(Role.GOVERNOR, governs)
        return list(self._governors[key])

    def governors_of_unit(self, unit: Organisation) -> list[User]:
        """Governors of the board that governs the trust the unit is part of."""

        def governs(m: Membership) -> bool:
            governed = m.organisation.governs
            return governed is not None and unit.path.startswith(governed.path)

        return self._users(Role.GOVERNOR, governs)

    def _users(self, role: str, keep: Callable[[Membership], bool]) -> list[User]:
        seen: dict[int, User] = {}
        for m in self.memberships:
            if m.role == role and keep(m):
                seen.setdefault(m.user_id, m.user)
        return list(seen.values())


def _outside_channel(user: User) -> tuple[str, str] | None:
    """The user's chosen channel beyond Candour itself, and where to send: e-mail by default."""
    profile = getattr(user, "profile", None)
    choice = profile.alert_channel if profile else AlertChannel.EMAIL
    if choice == AlertChannel.SMS and profile and profile.sms_token:
        return "sms", profile.sms_token
    if choice != AlertChannel.IN_APP and user.email:
        return "email", user.email
    return None


def _requests(*, key: str, users: Iterable[User], subject: str, body: str, fold: str = "") -> list[DeliveryRequest]:
    """An in-app notice for each user, and one by the channel they chose (e-mail unless they said).
    ``fold``: the kind of notice the outside one may be folded by, into a digest, when too many come
    at once (the in-app one is the user's inbox: never folded)."""
    out: list[DeliveryRequest] = []
    for user in users:
        out.append(
            DeliveryRequest(
                idempotency_key=f"{key}:{user.pk}:in_app",
                channel="in_app",
                recipient=str(user.pk),
                subject=subject,
                body=body,
            )
        )
        outside = _outside_channel(user)
        if outside:
            channel, recipient = outside
            # A text has no subject line: it leads with it.
            text = body if channel == "email" else f"{subject}. {body}"
            out.append(
                DeliveryRequest(
                    idempotency_key=f"{key}:{user.pk}:{channel}",
                    channel=channel,
                    recipient=recipient,
                    subject=subject,
                    body=text,
                    fold_key=f"{fold}:{user.pk}" if fold else "",
                )
            )
    return out


def _link(path: str) -> str:
    return f"{settings.CANDOUR_BASE_URL.rstrip('/')}{path}"


def raised_notices(*, directory: Directory, concern: Concern) -> list[DeliveryRequest]:
    """The guardians of the body receiving a new concern are told it is there, and its clock running.
    A burst of concerns on one unit within an hour is folded into a digest past the first few (an
    urgent concern never is): every concern is still raised, and each is in the guardians' inbox."""
    return _requests(
        fold="" if concern.urgent else f"raised:{concern.unit_id}:{concern.received_at:%Y%m%d%H}",
        key=f"raised:{concern.pk}",
        users=directory.guardians_of(concern.holder),
        subject=f"Candour: new concern {concern.reference} for {concern.holder.name}",
        body=f"A new concern, {concern.reference}, has been raised. Acknowledge it: "
        f"{_link(f'/inbox/{concern.reference}/')}",
    )


def escalation_notices(
    *, directory: Directory, concern: Concern, sender: Organisation, reason: str
) -> list[DeliveryRequest]:
    """The receiving body's guardians get the case; the sending body's guardians are told it moved."""
    key = f"escalated:{concern.pk}:{concern.route_level}"
    receivers = directory.guardians_of(concern.holder)
    receiving = _requests(
        key=f"{key}:to",
        users=receivers,
        subject=f"Candour: concern {concern.reference} escalated to {concern.holder.name}",
        body=f"Concern {concern.reference} has been escalated to you ({reason.replace('_', ' ')}). "
        f"Open it: {_link(f'/inbox/{concern.reference}/')}",
    )
    sending = _requests(
        key=f"{key}:from",
        users=[u for u in directory.guardians_of(sender) if u not in receivers],
        subject=f"Candour: concern {concern.reference} moved to {concern.holder.name}",
        body=f"Concern {concern.reference} has moved from {sender.name} to {concern.holder.name} "
        f"({reason.replace('_', ' ')}). You keep a read-only view: {_link(f'/inbox/{concern.reference}/')}",
    )
    return receiving + sending


def alert_notices(*, directory: Directory, alert_id: int, concern: Concern, label: str) -> list[DeliveryRequest]:
    return _requests(
        key=f"alert:{alert_id}",
        users=directory.governors_for(concern),
        subject="Candour: 1 new sidelining alert",
        body=f"1 new alert ({label}) at {concern.holder.name}. See {_link('/oversight/alerts/')}",
    )


def signal_notices(*, directory: Directory, signal_id: int, unit: Organisation, label: str) -> list[DeliveryRequest]:
    """An early warning opened on a unit: its guardians and its trust's governors are told, with a
    count-free line and a link (the signal page says the rest to those who may see it)."""
    users = {u.pk: u for u in directory.guardians_of(unit) + directory.governors_of_unit(unit)}
    return _requests(
        key=f"signal:{signal_id}",
        users=users.values(),
        subject=f"Candour: early warning for {unit.name}",
        body=f"An early warning ({label}) has opened for {unit.name}. See {_link('/oversight/signals/')}",
    )


def reminder_notices(
    *, directory: Directory, clock_id: int, concern: Concern, assignee: User | None
) -> list[DeliveryRequest]:
    users = directory.guardians_of(concern.holder) + ([assignee] if assignee else [])
    return _requests(
        key=f"remind:{clock_id}",
        users=users,
        subject=f"Candour: concern {concern.reference} needs attention",
        body=f"Concern {concern.reference} has had no recorded activity. Open it: "
        f"{_link(f'/inbox/{concern.reference}/')}",
    )


# The deadline each kind of clock keeps, in the words a reminder uses.
DEADLINE_WORDS = {
    "acknowledge": "acknowledge it",
    "feedback": "give the raiser feedback",
    "inactivity": "record some activity on it before governors are alerted",
}


def due_soon_notices(
    *,
    directory: Directory,
    clock_id: int,
    kind: str,
    due_at: datetime,
    concern: Concern,
    assignee: User | None,
    now: datetime,
) -> list[DeliveryRequest]:
    """Before a deadline: the guardians of the body holding the concern and its handler are told it
    falls due soon. The reference, the day and a link only. Keyed by the clock and its deadline, so a
    deadline is reminded once (an inactivity clock that activity moves gets a reminder per deadline);
    a sweep that reminds many at once folds the outside notices into a digest past the first few."""
    users = {u.pk: u for u in directory.guardians_of(concern.holder) + ([assignee] if assignee else [])}
    local = due_at.astimezone(concern.holder.calendar.tz)
    day = f"{local:%A} {local.day} {local:%B}"
    return _requests(
        fold=f"due-soon:{now:%Y%m%d%H}",
        key=f"due-soon:{clock_id}:{due_at:%Y%m%d%H%M}",
        users=users.values(),
        subject=f"Candour: concern {concern.reference} due soon",
        body=f"Concern {concern.reference} is due by {day}: {DEADLINE_WORDS.get(kind, 'act on it')}. "
        f"Open it: {_link(f'/inbox/{concern.reference}/')}",
    )


def notices_send(requests: Sequence[DeliveryRequest], *, now: datetime | None = None) -> None:
    """Write them to the outbox in the caller's transaction (at ``now``, or the present); they go
    out after commit."""
    if requests:
        deliveries_write(requests=requests, now=now)


def sms_to_raiser(*, concern: Concern, key: str, text: str) -> None:
    """An SMS raiser hears from the guardian by text: the outbox holds the vault token, not the number,
    and the guardian's words only until sent. It comes from the number of the organisation they
    texted (the nearest on the concern's path that takes texts), so their reply reaches it again."""
    if concern.channel != Channel.SMS or not concern.contact_token:
        return
    codes = [part for part in concern.unit.path.strip("/").split("/") if part]
    sender = (
        Organisation.objects.filter(code__in=codes)
        .exclude(sms_number="")
        .order_by(Length("path").desc())
        .values_list("sms_number", flat=True)
        .first()
    )
    notices_send(
        [
            DeliveryRequest(
                idempotency_key=f"sms:{key}",
                channel="sms",
                recipient=concern.contact_token,
                body=f"Candour, concern {concern.reference}: {text}"[:1500],
                private=True,
                sender=sender or "",
            )
        ]
    )
