"""Retention (issue #10, item 12): what Candour holds, it forgets on a schedule.

Data of every kind is written through the services at START; the story's concerns end (closed or
withdrawn) at ENDED. The retention sweep then runs at later and later moments (time travel: ``now``
passed in, the process clock moved with it), and after each run the rows and fields the schedule
says are old are counted: each count must be zero, and what must stay (open concerns, recent rows,
the concern row itself, its Events and the figures) must be exactly as it was.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.db.models import Q

from backend.concerns import services
from backend.concerns.audit import BrokenLink, audit_verify
from backend.concerns.crypto import ContactSpace, contact_token
from backend.concerns.models import (
    Clock,
    Concern,
    Event,
    InboundSms,
    Message,
    Reason,
    Receipt,
    ReceiptGuessWindow,
    VaultEntry,
)
from backend.concerns.services.retention import pk_batches
from backend.concerns.sms import sms_inbound_process, sms_inbound_store
from backend.config.celery import app
from backend.config.settings import base
from backend.organisations.models import Organisation
from backend.oversight.figures import figures_rollup
from backend.oversight.models import Alert, FigureDelta, OrganisationQuarterFigures
from backend.oversight.services import alert_resolve
from backend.retention.services import retention_check, retention_schedule, retention_sweep
from notifications.models import Delivery, DeliveryStatus
from notifications.services import delivery_in_app_mark_read, delivery_status_advance
from workflows.engine.vocabulary import EventKind
from workflows.tasks import retention_sweep_task

pytestmark = pytest.mark.django_db

START = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)  # a Monday
ENDED = START + timedelta(days=10)  # when the story's concerns are closed or withdrawn
DAY = timedelta(days=1)
# The shipped defaults, pinned so the story's dates hold whatever the environment overrides.
SCHEDULE = {
    "CONFIDENTIAL_IDENTITY_DAYS": 365,
    "CASE_FILE_DAYS": 3653,
    "DELIVERY_DAYS": 30,
    "INBOUND_SMS_DAYS": 7,
    "THROTTLE_WINDOW_DAYS": 1,
    "VAULT_STALE_DAYS": 30,
    "BATCH": 1000,
}
NARRATIVE = "RETENTION-CANARY: the night rota leaves one nurse on the ward"
KINDS = (
    "confidential_identities",
    "messages",
    "reasons",
    "case_files",
    "alert_resolutions",
    "deliveries",
    "inbound_sms",
    "receipt_windows",
    "vault_entries",
    "sessions",
)
NOTHING = dict.fromkeys(KINDS, 0)
RAISER_PHONE, HELP_PHONE, TRUST_NUMBER = "+447700900771", "+447700900772", "+447700900101"
ENDED_STATES = ("closed", "withdrawn")
FINAL = (DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.UNDELIVERABLE)


@pytest.fixture(autouse=True)
def schedule(settings) -> None:  # type: ignore[no-untyped-def]
    settings.CANDOUR_RETENTION = dict(SCHEDULE)


def user(username: str) -> User:
    return get_user_model().objects.get(username=username)


def sweep(at: datetime, **kwargs: Any) -> dict[str, int]:
    with time_machine.travel(at, tick=False):
        return retention_sweep(now=at, **kwargs)


def raise_concern(mode: str, *, name: str = "", contact: str = "") -> services.RaisedConcern:
    return services.concern_raise(
        draft=services.ConcernDraft(
            unit=Organisation.objects.get(code="RNX07"),
            raiser_kind="staff",
            identity_mode=mode,
            themes=["bullying", "patient_safety"],
            what_happened=NARRATIVE,
            when_happened="Every night shift since March",
            desired_outcome="A second nurse at night",
            raiser_name=name,
            raiser_contact=contact,
            professional_group="Nursing",
        ),
        now=START,
    )


def text(sid: str, phone: str, body: str, *, process: bool = True) -> None:
    inbound_id = sms_inbound_store(message_sid=sid, from_number=phone, to_number=TRUST_NUMBER, body=body, now=START)
    assert inbound_id is not None
    if process:
        sms_inbound_process(inbound_id=inbound_id, now=START)


def session(expires: datetime) -> str:
    store = SessionStore()
    store["seen"] = True
    store.set_expiry(expires)
    store.create()
    assert store.session_key is not None
    return store.session_key


class Story:
    """Everything the retention schedule applies to, written through the services as it would be."""

    def __init__(self) -> None:
        guardian, governor = user("guardian"), user("governor")
        with time_machine.travel(START, tick=False):
            self.confidential = raise_concern("confidential", name="Confidential Canary", contact="cc@nhs.invalid")
            self.named = raise_concern("named", name="Named Canary", contact="nc@nhs.invalid")
            self.anonymous = raise_concern("anonymous")
            self.open = raise_concern("confidential", name="Open Canary", contact="oc@nhs.invalid")
            # An SMS raiser (their concern stays open), a texter who only asks for help (their number
            # is kept for the reply, with no concern), and a text still waiting to be processed.
            text("SM-RET-1", RAISER_PHONE, "Nobody answers the call bells on ward 7.")
            text("SM-RET-2", HELP_PHONE, "HELP")
            text("SM-RET-3", RAISER_PHONE, "And again tonight.", process=False)
            # A wrong receipt code: one look-up window.
            assert services.concern_for_receipt(code="not-a-receipt", now=START) is None
        for raised in (self.confidential, self.named, self.open):
            services.concern_acknowledge(concern_id=raised.concern.pk, user=guardian, now=START + timedelta(hours=1))
        for raised in (self.confidential, self.open):
            services.concern_clocks_pause(
                concern_id=raised.concern.pk, user=guardian, reason="Waiting on HR", now=START + DAY
            )
            services.concern_message_to_raiser(
                concern_id=raised.concern.pk, user=guardian, body="Can we meet?", now=START + 2 * DAY
            )
            services.concern_message_from_raiser(
                concern_id=raised.concern.pk, body="I was moved off the ward.", kind="detriment", now=START + 3 * DAY
            )
        services.concern_give_feedback(
            concern_id=self.named.concern.pk, user=guardian, feedback="Rota changed.", now=START + 4 * DAY
        )
        services.concern_close(concern_id=self.confidential.concern.pk, user=guardian, reason="HR", now=ENDED)
        services.concern_close(concern_id=self.named.concern.pk, user=guardian, reason="answered", now=ENDED)
        services.concern_withdraw(concern_id=self.anonymous.concern.pk, now=ENDED)
        for alert in Alert.objects.filter(concern=self.confidential.concern):
            alert_resolve(alert_id=alert.pk, user=governor, reason="Discussed with the ward manager", now=ENDED + DAY)
        # The outbox: everything final by ENDED + 1 day, but for one e-mail still to send; every in-app
        # notice read then, but for one still unread in its recipient's inbox.
        deliveries = list(Delivery.objects.order_by("pk"))
        self.pending = next(d for d in deliveries if d.channel == "email")
        self.unread = next(d for d in deliveries if d.channel == "in_app")
        for delivery in deliveries:
            if delivery == self.pending:
                continue
            final = DeliveryStatus.DELIVERED if delivery.channel == "in_app" else DeliveryStatus.SENT
            assert delivery_status_advance(delivery_id=delivery.pk, status=final, now=ENDED + DAY)
            if delivery.channel == "in_app" and delivery != self.unread:
                assert delivery_in_app_mark_read(delivery_id=delivery.pk, recipient=delivery.recipient, now=ENDED + DAY)
        self.expired_session = session(START + timedelta(hours=8))
        self.live_session = session(ENDED + timedelta(days=SCHEDULE["CASE_FILE_DAYS"] + 30))
        figures_rollup()
        self.sms = Concern.objects.get(channel="sms")
        self.final_deliveries = len(deliveries) - 1
        self.messages_of_ended = Message.objects.filter(concern__state__in=ENDED_STATES).count()
        self.reasons_of_ended = Reason.objects.filter(concern__state__in=ENDED_STATES).count()
        self.resolutions = Alert.objects.filter(concern=self.confidential.concern).exclude(resolution="").count()
        self.kept = kept()

    @property
    def open_concerns(self) -> list[Concern]:
        return [self.open.concern, self.sms]


FORGETTING = (EventKind.IDENTITY_FORGOTTEN, EventKind.CASE_FILE_FORGOTTEN)


def kept() -> dict[str, Any]:
    """What no retention period ever takes: the concern rows as figures see them, the audit chain,
    the figures, and the alerts but for their resolutions."""
    return {
        "concerns": list(
            Concern.objects.order_by("pk").values(
                "pk",
                "reference",
                "state",
                "identity_mode",
                "raiser_kind",
                "professional_group",
                "themes",
                "urgent",
                "unit",
                "holder",
                "route_level",
                "received_at",
                "last_activity_at",
                "detriment_reported",
                "would_speak_up_again",
            )
        ),
        # The chain only grows: the schedule adds its own Event to each concern it forgets from.
        "events": list(
            Event.objects.exclude(kind__in=FORGETTING)
            .order_by("pk")
            .values_list("pk", "concern", "seq", "kind", "hash")
        ),
        "figures": list(OrganisationQuarterFigures.objects.order_by("pk").values()),
        "figure deltas": FigureDelta.objects.count(),
        "alerts": list(
            Alert.objects.order_by("pk").values_list("pk", "rule", "organisation", "opened_at", "resolved_at")
        ),
        "clocks": list(Clock.objects.order_by("pk").values_list("pk", "kind", "status", "started_at", "due_at")),
    }


def _given(*fields: str) -> Q:
    q = Q()
    for name in fields:
        q |= ~Q(**{name: ""})
    return q


def held(at: datetime) -> dict[str, int]:
    """What the schedule's periods, at ``at``, say should be gone: each count must be zero after a sweep."""
    s = {key: timedelta(days=days) for key, days in SCHEDULE.items() if key.endswith("_DAYS")}
    ended = Concern.objects.filter(state__in=ENDED_STATES)
    case_files = ended.filter(last_activity_at__lt=at - s["CASE_FILE_DAYS"])
    identities = ended.filter(identity_mode="confidential", last_activity_at__lt=at - s["CONFIDENTIAL_IDENTITY_DAYS"])
    final = Q(status__in=FINAL, updated_at__lt=at - s["DELIVERY_DAYS"])
    out_of_inbox = ~Q(channel="in_app") | Q(status="undeliverable") | Q(read_at__lt=at - s["DELIVERY_DAYS"])
    live_tokens = Concern.objects.exclude(state__in=ENDED_STATES).values("contact_token")
    return {
        "confidential identities": identities.filter(_given("raiser_name", "raiser_contact", "contact_token")).count(),
        "case file text": case_files.filter(
            _given(
                "what_happened", "when_happened", "desired_outcome", "raiser_name", "raiser_contact", "contact_token"
            )
        ).count(),
        "messages": Message.objects.filter(concern__in=case_files).count(),
        "reasons": Reason.objects.filter(concern__in=case_files).count(),
        "receipts": Receipt.objects.filter(concern__in=case_files).count(),
        "pause reasons": Clock.objects.filter(concern__in=case_files).exclude(pause_reason="").count(),
        "alert resolutions": Alert.objects.filter(concern__in=case_files).exclude(resolution="").count(),
        "deliveries": Delivery.objects.filter(final & out_of_inbox).count(),
        "inbound texts": InboundSms.objects.filter(processed_at__lt=at - s["INBOUND_SMS_DAYS"]).count(),
        "receipt windows": ReceiptGuessWindow.objects.filter(
            window_start__lt=at - s["THROTTLE_WINDOW_DAYS"] - timedelta(minutes=1)
        ).count(),
        "vault entries": VaultEntry.objects.filter(space=ContactSpace.RAISER, created_at__lt=at - s["VAULT_STALE_DAYS"])
        .exclude(token__in=live_tokens)
        .count(),
        "sessions": Session.objects.filter(expire_date__lt=at).count(),
    }


def nothing_held(at: datetime) -> None:
    assert held(at) == dict.fromkeys(held(at), 0)


def open_concerns_untouched(story: Story) -> None:
    """An open concern keeps everything, however old."""
    for concern in Concern.objects.filter(pk__in=[c.pk for c in story.open_concerns]):
        assert concern.what_happened.startswith(("RETENTION-CANARY", "Nobody answers"))
        assert Receipt.objects.filter(concern=concern).exists()
        assert Message.objects.filter(concern=concern).exists() or concern.channel == "sms"
    confidential = Concern.objects.get(pk=story.open.concern.pk)
    assert (confidential.raiser_name, confidential.raiser_contact) == ("Open Canary", "oc@nhs.invalid")
    assert confidential.when_happened and confidential.desired_outcome
    assert "Waiting on HR" in [clock.pause_reason for clock in Clock.objects.filter(concern=confidential)]
    assert "Waiting on HR" in [reason.text for reason in Reason.objects.filter(concern=confidential)]
    assert Concern.objects.get(pk=story.sms.pk).contact_token == contact_token(RAISER_PHONE, space=ContactSpace.RAISER)
    assert VaultEntry.objects.filter(token=story.sms.contact_token).exists()
    assert InboundSms.objects.filter(processed_at=None).count() == 1  # still owed its work
    assert Delivery.objects.filter(pk__in=[story.pending.pk, story.unread.pk]).count() == 2


def test_the_schedule_forgets_each_kind_when_its_time_comes_and_keeps_the_rest(demo: None) -> None:
    story = Story()
    assert sum(held(ENDED + timedelta(days=3660)).values()) > 0  # the story holds every kind

    # Before anything has ended or expired, nothing goes.
    assert sweep(START + timedelta(hours=1)) == NOTHING

    # 40 days on: the outbox, inbound texts, look-up windows, the stale number, expired sessions.
    soon = ENDED + timedelta(days=40)
    with time_machine.travel(soon, tick=False):
        assert services.concern_for_receipt(code="still-not-a-receipt", now=soon) is None  # this minute's: kept
    assert sweep(soon) == NOTHING | {
        "deliveries": story.final_deliveries - 1,  # all but the unread in-app notice
        "inbound_sms": 2,
        "receipt_windows": 1,
        "vault_entries": 1,  # the texter who asked for help
        "sessions": 1,
    }
    nothing_held(soon)
    assert not VaultEntry.objects.filter(token=contact_token(HELP_PHONE, space=ContactSpace.RAISER)).exists()
    assert ReceiptGuessWindow.objects.count() == 1
    assert set(Session.objects.values_list("session_key", flat=True)) == {story.live_session}
    # The identities and the case files are all still there.
    assert Concern.objects.get(pk=story.confidential.concern.pk).raiser_name == "Confidential Canary"
    assert [c.what_happened for c in Concern.objects.filter(state__in=ENDED_STATES)] == [NARRATIVE] * 3

    # A day short of a year after the concerns ended: the confidential identity is still held.
    assert sweep(ENDED + timedelta(days=364)) == NOTHING | {"receipt_windows": 1}
    # A year and a day: it is gone; the named raiser's stays with the case file, the open one's stays.
    a_year = ENDED + timedelta(days=366)
    assert sweep(a_year) == NOTHING | {"confidential_identities": 1}
    nothing_held(a_year)
    confidential = Concern.objects.get(pk=story.confidential.concern.pk)
    assert (confidential.raiser_name, confidential.raiser_contact) == ("", "")
    assert confidential.what_happened == NARRATIVE
    # The audit trail says so, as the schedule's (no person's) act, at the sweep's time.
    forgot = Event.objects.get(kind=EventKind.IDENTITY_FORGOTTEN)
    assert (forgot.concern_id, forgot.actor_id, forgot.actor_role, forgot.created_at) == (
        confidential.pk,
        None,
        "system",
        a_year,
    )
    assert (confidential.audit_seq, confidential.audit_head) == (forgot.seq, forgot.hash)
    assert Concern.objects.get(pk=story.named.concern.pk).raiser_name == "Named Canary"
    open_concerns_untouched(story)

    # Ten years: the case files of the ended concerns.
    ten_years = ENDED + timedelta(days=3654)
    assert sweep(ten_years) == NOTHING | {
        "case_files": 3,
        "messages": story.messages_of_ended,
        "reasons": story.reasons_of_ended,
        "alert_resolutions": story.resolutions,
    }
    nothing_held(ten_years)
    assert story.messages_of_ended > 0 and story.reasons_of_ended > 0 and story.resolutions > 0
    for raised in (story.confidential, story.named, story.anonymous):
        concern = Concern.objects.get(pk=raised.concern.pk)
        assert (concern.what_happened, concern.when_happened, concern.desired_outcome) == ("", "", "")
        assert (concern.raiser_name, concern.raiser_contact, concern.contact_token) == ("", "", "")
        # The receipt opens nothing any more; an open concern's still does.
        assert services.concern_for_receipt(code=raised.receipt, now=ten_years) is None
    assert services.concern_for_receipt(code=story.open.receipt, now=ten_years) == story.open.concern
    # Not even ciphertext is left in the columns.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM concerns_concern WHERE state IN ('closed', 'withdrawn') AND "
            "(what_happened <> '' OR when_happened <> '' OR desired_outcome <> '' OR raiser_name <> '' "
            "OR raiser_contact <> '')"
        )
        assert cursor.fetchone()[0] == 0
    open_concerns_untouched(story)
    # The concern rows, their states, dates, themes and figures, and the audit chain: as they were,
    # and every chain still verifies (the words it holds a digest of are simply absent).
    assert kept() == story.kept
    assert [r for r in audit_verify() if isinstance(r, BrokenLink)] == []
    ended = {r.concern.pk for r in (story.confidential, story.named, story.anonymous)}
    assert sorted(
        Event.objects.filter(kind=EventKind.CASE_FILE_FORGOTTEN).values_list("concern_id", flat=True)
    ) == sorted(ended)

    # Idempotent: run again, nothing more goes, and no further Event is written.
    events = Event.objects.count()
    assert sweep(ten_years) == NOTHING
    assert kept() == story.kept
    assert Event.objects.count() == events


def seed_five() -> list[int]:
    """Five ended confidential concerns with a message each, five final deliveries, five inbound
    texts, five look-up windows and five expired sessions."""
    guardian = user("guardian")
    ids = []
    for n in range(5):
        with time_machine.travel(START, tick=False):
            concern = raise_concern("confidential", name=f"Canary {n}", contact=f"c{n}@nhs.invalid").concern
        services.concern_acknowledge(concern_id=concern.pk, user=guardian, now=START + timedelta(hours=1))
        services.concern_message_to_raiser(concern_id=concern.pk, user=guardian, body="Thank you", now=START + DAY)
        services.concern_close(concern_id=concern.pk, user=guardian, reason="done", now=ENDED)
        ids.append(concern.pk)
        text(f"SM-FIVE-{n}", f"+4477009008{n:02d}", "HELP")
        services.concern_for_receipt(code="wrong", now=START + timedelta(minutes=n))
        session(START + timedelta(hours=n + 1))
    for delivery in Delivery.objects.exclude(status__in=FINAL):
        delivery_status_advance(delivery_id=delivery.pk, status=DeliveryStatus.UNDELIVERABLE, now=ENDED)
    return ids


@pytest.mark.parametrize("batch", [2, 1000])
def test_batches_of_two_forget_what_one_batch_does_and_a_second_run_forgets_nothing(demo: None, batch: int) -> None:
    ids = seed_five()
    deliveries = Delivery.objects.count()
    assert deliveries >= 5
    at = ENDED + timedelta(days=3654)

    counts = sweep(at, batch=batch)

    assert counts == {
        "confidential_identities": 5,
        "messages": 5,
        "reasons": 5,
        "case_files": 5,
        "alert_resolutions": 0,
        "deliveries": deliveries,
        "inbound_sms": 5,
        "receipt_windows": 5,
        "vault_entries": 5,
        "sessions": 5,
    }
    nothing_held(at)
    assert Concern.objects.filter(pk__in=ids).count() == 5
    assert sweep(at, batch=batch) == NOTHING


def test_the_walk_reads_a_batch_at_a_time(demo: None) -> None:
    ids = seed_five()
    rows = Concern.objects.filter(pk__in=ids)
    assert [len(pks) for pks in pk_batches(rows, batch=2)] == [2, 2, 1]
    assert [pk for pks in pk_batches(rows, batch=2) for pk in pks] == sorted(ids)
    with pytest.raises(ValueError):
        list(pk_batches(rows, batch=0))


def test_beat_runs_the_sweep_daily_and_the_command_runs_it_by_hand(demo: None, capsys) -> None:  # type: ignore[no-untyped-def]
    entry: dict[str, Any] = settings.CELERY_BEAT_SCHEDULE["retention-sweep"]
    assert entry["task"] == "workflows.tasks.retention_sweep"
    assert entry["schedule"] == 24 * 60 * 60
    assert app.tasks[entry["task"]].name == retention_sweep_task.name  # a task a worker knows

    seed_five()
    with time_machine.travel(ENDED + timedelta(days=3654), tick=False):
        assert retention_sweep_task.apply().get()["case_files"] == 5
        call_command("retention_sweep", "--batch", "2")
    assert capsys.readouterr().out.splitlines() == [f"{kind}: 0" for kind in KINDS]


def test_a_schedule_that_would_forget_too_soon_is_refused(settings) -> None:  # type: ignore[no-untyped-def]
    assert retention_schedule().case_file == timedelta(days=3653)
    assert retention_check() == []
    for wrong in (
        SCHEDULE | {"CASE_FILE_DAYS": 0},
        SCHEDULE | {"DELIVERY_DAYS": -1},
        SCHEDULE | {"BATCH": "1000"},
        {k: v for k, v in SCHEDULE.items() if k != "CASE_FILE_DAYS"},
        SCHEDULE | {"CASE_FILES_DAYS": 3653},
    ):
        settings.CANDOUR_RETENTION = wrong
        with pytest.raises(ImproperlyConfigured):
            retention_schedule()
        assert [e.id for e in retention_check()] == ["retention.E001"]
        with pytest.raises(ImproperlyConfigured):
            retention_sweep(now=ENDED)


def test_each_period_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANDOUR_RETENTION_CASE_FILE_DAYS", "2557")
    assert base._retention("CASE_FILE_DAYS", 3653) == 2557
    monkeypatch.delenv("CANDOUR_RETENTION_CASE_FILE_DAYS")
    assert base._retention("CASE_FILE_DAYS", 3653) == 3653
    assert set(base.CANDOUR_RETENTION) == set(SCHEDULE)
