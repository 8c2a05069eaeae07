"""The one write path (backend.config.db), on whichever engine the suite runs on: PostgreSQL in the
main pass, the embedded default's SQLite in the second (infra/scripts/test.sh). What a use case adds
is written; what follows from it (figure deltas from Events, notices sent after commit, alerts from
told sidelining) follows through the handlers the apps register; a clash skips or writes nothing, as
each kind of row says."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from backend.concerns.facts import Sidelined
from backend.concerns.models import Concern, Event, InboundSms
from backend.concerns.services import ConcernDraft, concern_raise
from backend.concerns.services.intake import concern_build, concern_rows_build
from backend.config.db import UnitOfWork, id_reserve, rows_insert
from backend.organisations.models import Organisation
from backend.oversight.models import Alert, FigureDelta
from notifications.models import Delivery
from notifications.services import DeliveryRequest, deliveries_build
from workflows.engine.sidelining import Rule

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _draft(ward: Organisation, what: str = "The rota leaves one nurse on nights.") -> ConcernDraft:
    return ConcernDraft(
        unit=ward, raiser_kind="staff", identity_mode="named", raiser_name="A", themes=["other"], what_happened=what
    )


def _notice(key: str) -> DeliveryRequest:
    return DeliveryRequest(idempotency_key=key, channel="in_app", recipient="1", subject="s", body="b")


def test_an_outbox_key_written_twice_is_one_notice_sent_once(
    ward: Organisation, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks() as sent:
        first = UnitOfWork()
        first.add(*deliveries_build(requests=[_notice("uow:a"), _notice("uow:b")], now=NOW))
        written = first.flush().ids[Delivery]
        again = UnitOfWork()
        again.add(*deliveries_build(requests=[_notice("uow:b"), _notice("uow:c")], now=NOW))
        rewritten = again.flush().ids[Delivery]

    assert len(written) == 2
    assert len(rewritten) == 1  # b was there already: skipped, not an error
    assert set(Delivery.objects.filter(idempotency_key__startswith="uow:").values_list("pk", flat=True)) == {
        *written,
        *rewritten,
    }
    assert len(sent) == 2  # each flush's new rows handed to the sender once, after commit


def test_figures_follow_from_the_events_a_flush_writes(ward: Organisation) -> None:
    concern = concern_build(_draft(ward), now=NOW)
    concern.reference = "UOW-FIGURES"
    first = UnitOfWork()
    first.add(concern)
    first.flush()
    assert not FigureDelta.objects.exists()

    rows = UnitOfWork()
    rows.add(*concern_rows_build(concern, receipt="receipt-not-shown", notices=[]))
    rows.update([concern], ["audit_seq", "audit_head"])
    rows.flush()

    assert Event.objects.filter(concern=concern, kind="raised").count() == 1
    assert FigureDelta.objects.filter(unit=ward, measure="received", value=1).count() == 1
    concern.refresh_from_db()
    assert concern.audit_seq == 1


def test_told_sidelining_opens_one_alert_and_says_how_many(ward: Organisation) -> None:
    concern = concern_raise(draft=_draft(ward), now=NOW).concern

    def tell() -> int:
        work = UnitOfWork()
        work.tell(Sidelined(concern=concern, rule=Rule.DETRIMENT, at=NOW))
        return work.flush().told.get(Sidelined, 0)

    assert tell() == 1
    assert tell() == 0  # one open alert per concern and rule
    assert Alert.objects.filter(concern=concern, rule=Rule.DETRIMENT).count() == 1


def test_a_head_that_clashes_writes_nothing_of_what_depends_on_it(ward: Organisation) -> None:
    taken = concern_raise(draft=_draft(ward), now=NOW).concern
    before = (Event.objects.count(), FigureDelta.objects.count(), Delivery.objects.count())

    clash = concern_build(_draft(ward, "Another."), now=NOW)
    clash.pk = id_reserve(Concern)
    clash.reference = taken.reference  # the unique reference is taken
    work = UnitOfWork()
    work.add(*concern_rows_build(clash, receipt="another-receipt", notices=[_notice(f"uow:clash:{clash.pk}")]))

    assert work.flush_together(clash) is False
    assert not Concern.objects.filter(pk=clash.pk).exists()
    assert (Event.objects.count(), FigureDelta.objects.count(), Delivery.objects.count()) == before


def test_a_field_that_encrypts_is_encrypted_by_the_bulk_insert(ward: Organisation) -> None:
    from django.db import connection

    inbound = InboundSms(message_sid="SM-UOW-1", received_at=NOW, payload="CANARY-PAYLOAD", retry_at=NOW)
    ((pk,),) = rows_insert([inbound], on_conflict="skip", returning=["id"])
    assert rows_insert([InboundSms(message_sid="SM-UOW-1", received_at=NOW, payload="x")], on_conflict="skip") == []

    with connection.cursor() as cursor:
        cursor.execute("SELECT payload FROM concerns_inboundsms WHERE id = %s", [pk])
        (stored,) = cursor.fetchone()
    assert "CANARY" not in stored
    assert InboundSms.objects.get(pk=pk).payload == "CANARY-PAYLOAD"


def test_a_second_flush_writes_only_what_was_added_since_the_first(ward: Organisation) -> None:
    work = UnitOfWork()
    work.add(*deliveries_build(requests=[_notice("uow:once")], now=NOW))
    first = work.flush().ids[Delivery]
    work.add(*deliveries_build(requests=[_notice("uow:twice")], now=NOW))
    second = work.flush().ids[Delivery]

    assert len(first) == len(second) == 1
    assert first != second
    assert Delivery.objects.filter(idempotency_key__in=["uow:once", "uow:twice"]).count() == 2
