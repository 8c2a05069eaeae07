"""What must hold after the drill, checked by SQL against PostgreSQL itself (not through PgBouncer).

Each check counts what was lost (something the load generator was told happened, or a due clock,
that the database does not have) and what was doubled (one thing recorded or sent twice). The
unique constraints already forbid some doubles (a MessageSid, an idempotency key, a running clock
of a kind); the checks here are the ones a constraint cannot make: a clock that fired twice at one
level, an escalation without its clock, a notice sent twice to the outside world, a message lost
between a 201 and the database, an audit chain broken by a kill mid-write.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection

from backend.concerns.audit import BrokenLink, audit_verify
from backend.concerns.crypto import receipt_digest, receipt_normalise, submission_digest
from backend.concerns.models import Concern
from tests.drill.load import Ledger


@dataclass
class Check:
    name: str
    lost: int
    doubled: int
    detail: str

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.doubled == 0


def _rows(sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return list(cursor.fetchall())


def _one(sql: str, params: list[Any] | None = None) -> int:
    return int(_rows(sql, params)[0][0] or 0)


def receipts_check(ledger: Ledger) -> Check:
    """Every receipt handed out opens its whole concern: the receipt row, the concern with the same
    reference and the narrative that was sent, its `raised` Event as the first link, its clocks."""
    by_digest = {receipt_digest(receipt_normalise(r.receipt) or ""): r for r in ledger.raised}
    found = dict(
        _rows(
            "SELECT r.digest, c.reference FROM concerns_receipt r JOIN concerns_concern c ON c.id = r.concern_id "
            "WHERE r.digest = ANY(%s)",
            [list(by_digest)],
        )
    )
    missing = [r.reference for d, r in by_digest.items() if found.get(d) != r.reference]
    references = [r.reference for r in ledger.raised]
    whole = dict(
        _rows(
            "SELECT c.reference, (SELECT count(*) FROM concerns_event e WHERE e.concern_id = c.id AND e.seq = 1 "
            "AND e.kind = 'raised') * 10 + LEAST((SELECT count(*) FROM concerns_clock k WHERE k.concern_id = c.id), 9) "
            "FROM concerns_concern c WHERE c.reference = ANY(%s)",
            [references],
        )
    )
    partial = [ref for ref in references if ref in whole and (whole[ref] // 10 != 1 or whole[ref] % 10 == 0)]
    narratives = dict(Concern.objects.filter(reference__in=references).values_list("reference", "what_happened"))
    altered = [
        r.reference for r in ledger.raised if r.reference in narratives and narratives[r.reference] != r.what_happened
    ]
    stored_keys = _one(
        "SELECT count(*) FROM concerns_concern WHERE submission_digest = ANY(%s)",
        [[submission_digest(k) for k in ledger.raise_answer_lost]],
    )
    lost = len(missing) + len(partial) + len(altered)
    return Check(
        "receipts",
        lost,
        0,
        f"{len(ledger.raised)} receipts handed out; {len(missing)} open nothing, {len(partial)} open a concern "
        f"without its raised Event or clocks, {len(altered)} a different narrative; "
        f"{len(ledger.raise_answer_lost)} raises answered 409 on a retry (the first attempt stored, its answer cut "
        f"by a kill): {stored_keys} of them found by submission key",
    )


def _messages_check(name: str, direction: str, ok: Counter[str], tried: Counter[str]) -> Check:
    references = list(tried)
    stored = dict(
        _rows(
            "SELECT c.reference, count(m.id) FROM concerns_concern c JOIN concerns_message m ON m.concern_id = c.id "
            "AND m.direction = %s AND m.author_id IS " + ("NULL" if direction == "from_raiser" else "NOT NULL") + " "
            "WHERE c.reference = ANY(%s) GROUP BY c.reference",
            [direction, references],
        )
    )
    lost = sum(max(0, ok[ref] - stored.get(ref, 0)) for ref in references)
    doubled = sum(max(0, stored.get(ref, 0) - tried[ref]) for ref in references)
    return Check(
        name,
        lost,
        doubled,
        f"{sum(ok.values())} answered 201 of {sum(tried.values())} sent; {sum(stored.values())} stored "
        f"(a message whose answer was cut may or may not be stored: between the two is not a loss)",
    )


def clocks_check(*, seeded: list[int], load_end: datetime) -> Check:
    """Every clock due before the load ended fired once; each breach of the seeded concerns' acknowledge
    clocks is one `clock_breached` and one `escalate` Event, one escalation alert; a concern a guardian
    acknowledged first has its clock stopped, and neither."""
    still_pending = _one(
        "SELECT count(*) FROM concerns_clock WHERE status = 'pending' AND paused_at IS NULL AND due_at <= %s",
        [load_end],
    )
    twice = _one(
        "SELECT count(*) FROM (SELECT 1 FROM concerns_clock WHERE status = 'fired' "
        "GROUP BY concern_id, kind, route_level HAVING count(*) > 1) t"
    )
    fired, stopped = (
        _one(
            "SELECT count(*) FROM concerns_clock WHERE concern_id = ANY(%s) AND kind = 'acknowledge' "
            "AND route_level = 0 AND status = %s",
            [seeded, status],
        )
        for status in ("fired", "stopped")
    )
    breached = _one(
        "SELECT count(*) FROM concerns_event WHERE concern_id = ANY(%s) AND kind = 'clock_breached'", [seeded]
    )
    breached_twice = _one(
        "SELECT count(*) FROM (SELECT 1 FROM concerns_event WHERE kind = 'clock_breached' "
        "GROUP BY concern_id, data::text HAVING count(*) > 1) t"
    )
    doubled = twice + breached_twice + max(0, breached - fired)
    return Check(
        "clocks",
        still_pending + max(0, fired - breached),
        doubled,
        f"{len(seeded)} seeded acknowledge clocks falling due during the load: {fired} fired, {stopped} stopped "
        f"by a guardian's acknowledgement first; {breached} clock_breached Events; {still_pending} clocks due "
        f"before the end still pending; {twice} clocks fired twice at one level",
    )


def escalations_check(*, seeded: list[int]) -> Check:
    """One `escalate` Event per fired acknowledge clock of the seeded concerns (their policy escalates
    on that breach), never two for one concern at one level; one alert per concern, rule and subject."""
    fired = _one(
        "SELECT count(*) FROM concerns_clock WHERE concern_id = ANY(%s) AND kind = 'acknowledge' AND route_level = 0 "
        "AND status = 'fired'",
        [seeded],
    )
    escalated = _one(
        "SELECT count(DISTINCT concern_id) FROM concerns_event WHERE concern_id = ANY(%s) AND kind = 'escalate'",
        [seeded],
    )
    escalate_events = _one(
        "SELECT count(*) FROM concerns_event WHERE concern_id = ANY(%s) AND kind = 'escalate'", [seeded]
    )
    twice = _one(
        "SELECT count(*) FROM (SELECT 1 FROM concerns_event WHERE kind = 'escalate' "
        "GROUP BY concern_id, from_state, data::text HAVING count(*) > 1) t"
    )
    alerts_twice = _one(
        "SELECT count(*) FROM (SELECT 1 FROM oversight_alert GROUP BY concern_id, rule, subject HAVING count(*) > 1) t"
    )
    by_rule = dict(_rows("SELECT rule, count(*) FROM oversight_alert GROUP BY rule ORDER BY rule"))
    return Check(
        "escalations and alerts",
        max(0, fired - escalated),
        twice + alerts_twice + max(0, escalate_events - escalated),
        f"{escalate_events} escalate Events on {escalated} seeded concerns for {fired} fired clocks; "
        f"{twice} concerns escalated twice at one step; alerts by rule {by_rule}, {alerts_twice} doubled",
    )


def deliveries_check(*, emails: Counter[str], texts: list[str], drained_at: datetime) -> Check:
    """Every notice due went out, once: no delivery left unsent or given up; each e-mail reached the
    SMTP server once (by its Message-ID), each text the Twilio API once (by the sid it answered)."""
    by_status = dict(_rows("SELECT status, count(*) FROM notifications_delivery GROUP BY status ORDER BY status"))
    unsent = _one(
        "SELECT count(*) FROM notifications_delivery WHERE status IN ('pending', 'sending', 'failed', 'undeliverable') "
        "AND (not_before IS NULL OR not_before <= %s)",
        [drained_at],
    )
    sent_emails = {
        pid
        for (pid,) in _rows(
            "SELECT provider_id FROM notifications_delivery WHERE channel = 'email' AND status IN ('sent', 'delivered')"
        )
    }
    sent_texts = {
        pid
        for (pid,) in _rows(
            "SELECT provider_id FROM notifications_delivery WHERE channel = 'sms' AND status IN ('sent', 'delivered')"
        )
    }
    second_tries = _one(
        "SELECT count(*) FROM notifications_delivery WHERE channel IN ('email', 'sms') AND attempts > 1 "
        "AND status IN ('sent', 'delivered')"
    )
    emails_twice = sum(n - 1 for n in emails.values() if n > 1)
    emails_missing = len(sent_emails - set(emails))
    texts_unrecorded = len(set(texts) - sent_texts)  # sent to Twilio, but no delivery says so: a second send
    texts_missing = len(sent_texts - set(texts))
    return Check(
        "deliveries",
        unsent + emails_missing + texts_missing,
        emails_twice + texts_unrecorded,
        f"by status {by_status}; {unsent} due and not sent; {sum(emails.values())} e-mails received for "
        f"{len(sent_emails)} sent ({emails_twice} twice); {len(texts)} texts at the Twilio API for "
        f"{len(sent_texts)} sent ({texts_unrecorded} not the one recorded); {second_tries} e-mails and texts sent on "
        "a second attempt (the requeue sweep, after the worker sending them was killed): a double is one whose "
        "first attempt had reached the provider before the kill, the at-least-once window "
        "notifications/channels/twilio_sms.py documents (Twilio's API takes no idempotency key; a second e-mail "
        "carries the first one's Message-ID, so a mail system can drop it)",
    )


def sms_check(ledger: Ledger) -> Check:
    """Every text Twilio was answered 2xx for is stored once and processed once: one concern each (every
    sender in the drill is a new number), and its payload emptied."""
    answered = list(ledger.sms_sids_answered)
    stored = _one("SELECT count(*) FROM concerns_inboundsms WHERE message_sid = ANY(%s)", [answered])
    all_sent = list(ledger.sms_sids_sent)
    stored_any = _one("SELECT count(*) FROM concerns_inboundsms WHERE message_sid = ANY(%s)", [all_sent])
    waiting = _one("SELECT count(*) FROM concerns_inboundsms WHERE processed_at IS NULL OR payload <> ''")
    sms_concerns = _one("SELECT count(*) FROM concerns_concern WHERE channel = 'sms'")
    twice = _one("SELECT count(*) FROM (SELECT 1 FROM concerns_inboundsms GROUP BY message_sid HAVING count(*) > 1) t")
    return Check(
        "sms",
        (len(answered) - stored) + waiting + max(0, stored_any - sms_concerns),
        twice + max(0, sms_concerns - stored_any),
        f"{len(all_sent)} distinct MessageSids sent, {len(answered)} answered 2xx, {stored_any} stored "
        f"({twice} twice), {waiting} not processed, {sms_concerns} SMS concerns",
    )


def audit_check() -> Check:
    broken = [link for link in audit_verify() if isinstance(link, BrokenLink)]
    concerns = _one("SELECT count(*) FROM concerns_concern")
    return Check("audit chain", len(broken), 0, f"{concerns} concerns verified, {len(broken)} broken chains")


REPLY_GOAL_SECONDS = 10.0


def replies_check(ledger: Ledger, texts: list[dict[str, str]]) -> Check:
    """Every new text answered 2xx gets its reply, timed from when the text was first sent to when the
    fake Twilio accepted the reply (goal: 10 s at the 99th percentile). A text whose worker was killed
    under it waits for the requeue sweep (CANDOUR_SMS_REQUEUE_AFTER_SECONDS)."""
    first_reply: dict[str, float] = {}
    for text in texts:
        at = float(text["accepted_at"])
        first_reply[text["To"]] = min(at, first_reply.get(text["To"], at))
    senders = {ledger.sms_sender_of[sid] for sid in ledger.sms_sids_answered if sid in ledger.sms_sender_of}
    waits = sorted(first_reply[s] - ledger.sms_first_sent[s] for s in senders if s in first_reply)
    unanswered = len(senders) - len(waits)
    if not waits:
        return Check("sms replies", unanswered, 0, f"{len(senders)} texts answered 2xx, no reply")
    p99 = waits[max(0, -(-len(waits) * 99 // 100) - 1)]
    late = sum(1 for w in waits if w > REPLY_GOAL_SECONDS)
    verdict = "MET" if p99 <= REPLY_GOAL_SECONDS and not unanswered else "NOT MET"
    return Check(
        "sms replies",
        unanswered,
        0,
        f"{len(waits)} of {len(senders)} new texts answered 2xx had their reply; from the text to the reply at "
        f"Twilio p50 {waits[len(waits) // 2]:.2f} s, p99 {p99:.2f} s, max {waits[-1]:.1f} s; {late} over "
        f"{REPLY_GOAL_SECONDS:.0f} s (goal p99 at most {REPLY_GOAL_SECONDS:.0f} s: {verdict})",
    )


def checks_run(
    *,
    ledger: Ledger,
    seeded: list[int],
    load_end: datetime,
    drained_at: datetime,
    emails: Counter[str],
    texts: list[dict[str, str]],
) -> list[Check]:
    return [
        receipts_check(ledger),
        _messages_check("raiser messages", "from_raiser", ledger.raiser_messages_ok, ledger.raiser_messages_tried),
        _messages_check("staff messages", "to_raiser", ledger.staff_messages_ok, ledger.staff_messages_tried),
        clocks_check(seeded=seeded, load_end=load_end),
        escalations_check(seeded=seeded),
        deliveries_check(emails=emails, texts=[text["sid"] for text in texts], drained_at=drained_at),
        sms_check(ledger),
        replies_check(ledger, texts),
        audit_check(),
    ]
