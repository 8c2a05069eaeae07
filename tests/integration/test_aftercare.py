"""After closure (issue 13 item 4), with time travel: a closed concern's raiser is asked at 1, 3, 6 and
12 months how things are; the 1-month check-in shows on the follow-up page, a detriment answer opens a
detriment case (its own clocks, a governors' alert) and counts in the weekly figures, never as a
concern received. An SMS raiser is texted the check-in only if they said YES at closure (the closing
text goes through the real Twilio channel to the local fake Twilio); without consent nothing is texted
and the number leaves the vault."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db.models import Sum
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.concerns import services
from backend.concerns.crypto import ContactSpace, contact_token
from backend.concerns.models import (
    AftercareConsent,
    CheckIn,
    Clock,
    Concern,
    Event,
    VaultEntry,
)
from backend.concerns.sms import sms_inbound_process, sms_inbound_store
from backend.errors import IllegalMove
from backend.organisations.models import Organisation
from backend.oversight.figures import figures_rebuild
from backend.oversight.models import Alert, FigureDelta, Measure, OrganisationQuarterFigures
from notifications.models import Delivery
from notifications.services import delivery_send
from tests.support.fake_twilio import FakeTwilio, channel_settings, new_sid
from workflows.engine.vocabulary import EventKind

pytestmark = pytest.mark.django_db

RAISED = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)  # a Monday; London is on UTC in January
CLOSED = datetime(2026, 1, 20, 10, 0, tzinfo=UTC)
RAISER = "+447700900777"
TRUST_NUMBER = "+447700900101"  # RNX in the demo


def _user(username: str) -> User:
    return get_user_model().objects.get(username=username)


def _raise_on_the_web(*, contact: str = "raiser@example.invalid") -> services.RaisedConcern:
    return services.concern_raise(
        draft=services.ConcernDraft(
            unit=Organisation.objects.get(code="RNX07"),
            raiser_kind="staff",
            identity_mode="confidential",
            raiser_name="Raiser Canary",
            raiser_contact=contact,
            themes=["patient_safety"],
            what_happened="One nurse on nights again",
        ),
        now=RAISED,
    )


def _close(concern: Concern, *, at: datetime = CLOSED) -> Concern:
    guardian = _user("guardian")
    services.concern_acknowledge(concern_id=concern.pk, user=guardian, now=at - timedelta(days=2))
    services.concern_give_feedback(concern_id=concern.pk, user=guardian, feedback="We changed the rota.", now=at)
    return services.concern_close(concern_id=concern.pk, user=guardian, reason="Resolved", outcome="not_upheld", now=at)


def _sweep(at: datetime) -> services.SweepResult:
    with time_machine.travel(at, tick=False):
        return services.clocks_fire_due(now=at)


def _measure(measure: str) -> int:
    return FigureDelta.objects.filter(measure=measure).aggregate(total=Sum("value"))["total"] or 0


def test_a_closed_concern_is_asked_at_one_month_on_the_follow_up_page_and_detriment_opens_a_case(demo: None) -> None:
    raised = _raise_on_the_web()
    concern = _close(raised.concern)
    schedule = list(CheckIn.objects.filter(concern=concern).order_by("due_at").values_list("months", "due_at"))
    assert schedule == [
        (1, datetime(2026, 2, 20, 10, 0, tzinfo=UTC)),
        (3, datetime(2026, 4, 20, 9, 0, tzinfo=UTC)),  # 10:00 in London, on summer time
        (6, datetime(2026, 7, 20, 9, 0, tzinfo=UTC)),
        (12, datetime(2027, 1, 20, 10, 0, tzinfo=UTC)),
    ]
    received_before = _measure(Measure.RECEIVED), _measure(Measure.WEEK_RECEIVED)

    # A day before it is due nothing is asked; the page shows no check-in.
    assert _sweep(datetime(2026, 2, 19, 10, 0, tzinfo=UTC)).check_ins_asked == 0
    month = datetime(2026, 2, 20, 10, 30, tzinfo=UTC)
    assert _sweep(month).check_ins_asked == 1
    asked = CheckIn.objects.get(concern=concern, months=1)
    assert asked.asked_at == month and not asked.texted  # a web raiser: asked on their page

    raiser = Client()
    with time_machine.travel(month + timedelta(hours=1), tick=False):
        page = raiser.post("/follow-up/", {"receipt": raised.receipt}, follow=True)
        assert page.status_code == 200
        text = page.content.decode()
        assert "How are things 1 month after your concern closed?" in text
        assert "Please answer by Monday 20 April 2026" in text
        # The page's consent question for a web raiser who left a contact, and its answer.
        assert "May we ask how things are for you over the next year?" in text
        assert raiser.post("/follow-up/concern/aftercare-consent/", {"consent": "yes"}).status_code == 302
        # Bad input is answered 400 in words, never 500.
        refused = raiser.post("/follow-up/concern/check-in/", {"detriment": "perhaps"})
        assert refused.status_code == 400
        assert "Say whether you have been treated badly because you spoke up." in refused.content.decode()
        answered = raiser.post(
            "/follow-up/concern/check-in/",
            {"detriment": "yes", "answer": "no", "words": "Moved to nights since I spoke up"},
        )
        assert answered.status_code == 302
        after = raiser.get("/follow-up/concern/").content.decode()
        # Answered: it does not ask again, and the raiser sees the case they opened.
        assert "How are things 1 month" not in after
        case = Concern.objects.get(detriment_of=concern)
        assert f"Reference {case.reference}: received." in after
        again = raiser.post("/follow-up/concern/check-in/", {"detriment": "no", "answer": "yes"})
        assert again.status_code == 409

    concern.refresh_from_db()
    assert concern.aftercare_consent == AftercareConsent.YES
    assert (concern.would_speak_up_again, concern.detriment_reported) == ("no", True)
    events = {e.kind: e.data for e in Event.objects.filter(concern=concern)}
    assert events[EventKind.SPEAK_UP_AGAIN_ANSWERED] == {"answer": "no", "check_in": 1}
    assert events[EventKind.DETRIMENT_REPORTED] == {"case": case.pk, "check_in": 1}

    # The case: same unit and identity mode, its own clocks from the policy's detriment rules, the
    # guardian's to handle, and an alert governors see in words.
    assert (case.unit_id, case.identity_mode, case.state) == (concern.unit_id, "confidential", "received")
    assert case.what_happened == "Moved to nights since I spoke up"
    clocks = {c.kind: c.due_at for c in Clock.objects.filter(concern=case, status="pending")}
    assert clocks["acknowledge"] == datetime(2026, 2, 24, 11, 30, tzinfo=UTC)  # 2 working days
    assert clocks["feedback"] == datetime(2026, 3, 20, 11, 30, tzinfo=UTC)  # a month from the report
    alert = Alert.objects.get(concern=case)
    assert alert.get_rule_display() == "Detriment reported after closure"
    assert services.concern_acknowledge(concern_id=case.pk, user=_user("guardian"), now=month + timedelta(days=1))

    # Counted as detriment and as a raiser who would not speak up again; never as a concern received.
    assert _measure(Measure.WEEK_DETRIMENT) == 1
    assert (_measure(Measure.WEEK_SPEAK_UP_ANSWERED), _measure(Measure.WEEK_WOULD_NOT_SPEAK_UP)) == (1, 1)
    assert (_measure(Measure.RECEIVED), _measure(Measure.WEEK_RECEIVED)) == received_before
    # A rebuild from the audit trail agrees: one concern received, whatever its detriment case.
    figures_rebuild(now=month + timedelta(days=1))
    assert sum(OrganisationQuarterFigures.objects.values_list("received", flat=True)) == 1

    # The 3-month check-in is asked once; the 1-month one is never asked again.
    three = datetime(2026, 4, 21, tzinfo=UTC)
    assert _sweep(three).check_ins_asked == 1
    assert _sweep(three + timedelta(hours=1)).check_ins_asked == 0
    assert CheckIn.objects.get(concern=concern, months=1).asked_at == month


def test_a_check_in_nobody_answers_lapses_when_the_next_falls_due(demo: None) -> None:
    raised = _raise_on_the_web(contact="")
    concern = _close(raised.concern)
    assert concern.aftercare_consent == ""  # no contact left: nothing to consent to, the page asks
    _sweep(datetime(2026, 3, 1, tzinfo=UTC))
    with time_machine.travel(datetime(2026, 4, 20, 8, 0, tzinfo=UTC), tick=False):
        raiser = Client()
        raiser.post("/follow-up/", {"receipt": raised.receipt})
        assert "How are things 1 month" in raiser.get("/follow-up/concern/").content.decode()
    with time_machine.travel(datetime(2026, 4, 20, 9, 30, tzinfo=UTC), tick=False):
        page = raiser.post("/follow-up/", {"receipt": raised.receipt}, follow=True).content.decode()
        assert "How are things 1 month" not in page and "How are things 3 months" in page
    lapsed = CheckIn.objects.get(concern=concern, months=1)
    assert lapsed.asked_at is not None and lapsed.answered_at is None


def test_a_closed_concern_never_reopens_and_a_withdrawn_one_is_never_asked(demo: None) -> None:
    closed = _close(_raise_on_the_web().concern)
    with pytest.raises(IllegalMove):
        services.concern_reopen_by_raiser(concern_id=closed.pk, now=CLOSED + timedelta(days=1))
    assert CheckIn.objects.filter(concern=closed).count() == 4
    withdrawn = services.concern_withdraw(concern_id=_raise_on_the_web().concern.pk, now=CLOSED)
    assert not CheckIn.objects.filter(concern=withdrawn).exists()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hours=st.lists(st.integers(min_value=0, max_value=420 * 24), min_size=1, max_size=10))
def test_each_check_in_is_asked_once_at_the_first_sweep_after_it_falls_due(demo: None, hours: list[int]) -> None:
    """Whatever the sweeps' moments (late, repeated, out of order with other concerns'): a check-in is
    asked at the first sweep at or after its due time and never again; none before it is due."""
    concern = _close(_raise_on_the_web().concern)
    moments = [CLOSED + timedelta(hours=h) for h in sorted(set(hours))]
    for moment in moments:
        _sweep(moment)
    for check_in in CheckIn.objects.filter(concern=concern):
        first = next((m for m in moments if m >= check_in.due_at), None)
        assert check_in.asked_at == first


# -- by text ---------------------------------------------------------------------------------------


@pytest.fixture
def fake(settings: Any) -> Iterator[FakeTwilio]:
    """The real Twilio channel (the twilio SDK) against the local fake Twilio; numbers from the vault."""
    with FakeTwilio(account_sid="ACfake", auth_token="fake-token") as server:
        channel_settings(settings, server)
        yield server


def _text(body: str, *, at: datetime) -> None:
    """A text from the raiser, as the webhook stores it and the worker processes it."""
    with time_machine.travel(at, tick=False):
        inbound = sms_inbound_store(message_sid=new_sid(), from_number=RAISER, to_number=TRUST_NUMBER, body=body)
        assert inbound is not None
        sms_inbound_process(inbound_id=inbound, now=at)


def _send_texts(fake: FakeTwilio) -> list[str]:
    """Send every text waiting in the outbox through the Twilio channel, as the worker would; the
    bodies the fake Twilio accepted."""
    before = len(fake.messages)
    for delivery in Delivery.objects.filter(channel="sms", status="pending").order_by("pk"):
        delivery_send(delivery_id=delivery.pk)
    return [m["Body"] for m in fake.messages[before:]]


def _raise_by_text_and_close(fake: FakeTwilio) -> Concern:
    _text("Ward 7 left with one nurse again tonight", at=RAISED)
    _send_texts(fake)
    concern = Concern.objects.get()
    guardian = _user("guardian")
    services.concern_acknowledge(concern_id=concern.pk, user=guardian, now=RAISED + timedelta(days=1))
    services.concern_give_feedback(concern_id=concern.pk, user=guardian, feedback="A second nurse.", now=CLOSED)
    _send_texts(fake)
    return services.concern_close(concern_id=concern.pk, user=guardian, reason="Resolved", now=CLOSED)


def test_an_sms_raiser_who_says_yes_is_texted_the_check_in_and_may_report_detriment(
    demo: None, fake: FakeTwilio
) -> None:
    concern = _raise_by_text_and_close(fake)
    token = contact_token(RAISER, space=ContactSpace.RAISER)
    assert (concern.aftercare_consent, concern.contact_token) == (AftercareConsent.ASKED, token)
    [question] = _send_texts(fake)
    assert "May we text you 1, 3, 6 and 12 months from now" in question and "Reply YES" in question
    assert fake.messages[-1]["To"] == RAISER  # the number came from the vault at send time

    _text("yes", at=CLOSED + timedelta(hours=2))
    concern.refresh_from_db()
    assert concern.aftercare_consent == AftercareConsent.YES
    assert concern.contact_kept_until == datetime(2027, 2, 19, 10, 0, tzinfo=UTC)  # the last check-in lapses
    assert _send_texts(fake) == [
        "Candour: thank you. We will text you to ask how things are. Text STOP at any time and we stop."
    ]

    # Past the consent window the number stays: they said yes.
    _sweep(CLOSED + timedelta(days=8))
    assert VaultEntry.objects.filter(token=token).exists()
    assert _send_texts(fake) == []

    month = datetime(2026, 2, 20, 10, 30, tzinfo=UTC)
    assert _sweep(month).check_ins_asked == 1
    [check_in] = _send_texts(fake)
    assert "it is 1 month since your concern closed" in check_in and "Reply YES, NO, MAYBE or DONT KNOW" in check_in
    assert _sweep(month + timedelta(hours=1)).check_ins_asked == 0
    assert _send_texts(fake) == []  # never nagged twice

    _text("Maybe", at=month + timedelta(hours=3))
    concern.refresh_from_db()
    assert concern.would_speak_up_again == "maybe"
    assert CheckIn.objects.get(concern=concern, months=1).answered_at is not None
    _send_texts(fake)

    _text("DETRIMENT: my shifts were all changed to nights", at=month + timedelta(days=2))
    case = Concern.objects.get(detriment_of=concern)
    [reply] = _send_texts(fake)
    assert case.reference in reply
    assert (case.channel, case.identity_mode, case.contact_token) == ("sms", "anonymous", token)
    assert case.what_happened == "my shifts were all changed to nights"
    assert Alert.objects.filter(concern=case, rule="detriment_after_closure").exists()
    # A later text reaches the open case, as any text to an open concern does.
    _text("And my manager will not speak to me", at=month + timedelta(days=3))
    assert case.messages.count() == 1

    # Nothing identifying in the audit trail or the outbox: no number anywhere but the vault.
    assert RAISER not in str(list(Event.objects.values_list("data", flat=True)))
    assert not Delivery.objects.filter(recipient=RAISER).exists()


def test_an_sms_raiser_who_says_no_or_nothing_is_never_texted_and_their_number_goes(
    demo: None, fake: FakeTwilio
) -> None:
    concern = _raise_by_text_and_close(fake)
    token = contact_token(RAISER, space=ContactSpace.RAISER)
    _send_texts(fake)
    _text("NO", at=CLOSED + timedelta(hours=1))
    concern.refresh_from_db()
    assert (concern.aftercare_consent, concern.contact_token, concern.contact_kept_until) == ("no", "", None)
    assert not VaultEntry.objects.filter(token=token).exists()
    assert _send_texts(fake) == []  # no reply: that would need the number
    _sweep(datetime(2026, 2, 21, tzinfo=UTC))
    assert _send_texts(fake) == []
    assert CheckIn.objects.get(concern=concern, months=1).texted is False


def test_an_sms_raiser_who_never_answers_has_their_number_purged_when_the_consent_window_ends(
    demo: None, fake: FakeTwilio
) -> None:
    concern = _raise_by_text_and_close(fake)
    token = contact_token(RAISER, space=ContactSpace.RAISER)
    _send_texts(fake)
    _sweep(CLOSED + timedelta(days=6))
    assert VaultEntry.objects.filter(token=token).exists()
    _sweep(CLOSED + timedelta(days=7, minutes=1))
    concern.refresh_from_db()
    assert (concern.aftercare_consent, concern.contact_token) == (AftercareConsent.UNANSWERED, "")
    assert not VaultEntry.objects.filter(token=token).exists()
    _sweep(datetime(2026, 2, 21, tzinfo=UTC))
    assert _send_texts(fake) == []
