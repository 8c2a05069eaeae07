"""The walking skeleton's slice through the pages: raise anonymously, follow up, acknowledge."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.test import Client

from backend.concerns.audit import BrokenLink, audit_verify
from backend.concerns.models import Clock, ClockStatus, Concern, Event, Receipt
from tests.support.raise_pages import answer_every_question, raise_on_the_web, submission_key_on
from tests.support.sign_in import sign_in

pytestmark = pytest.mark.django_db

FORM = {
    "unit": "RNX07",
    "raiser_kind": "staff",
    "identity_mode": "anonymous",
    "themes": ["patient_safety", "worker_safety"],
    "what_happened": "Night shift left with one nurse for 28 patients.",
}


def _raise(client: Client, **overrides: object) -> tuple[str, str]:
    response = raise_on_the_web(client, {**FORM, **overrides})
    assert response.status_code == 200, response.content[:2000]
    html = response.content.decode()
    reference = re.search(r'data-testid="reference">([^<]+)<', html)
    receipt = re.search(r'data-testid="receipt">([^<]+)<', html)
    assert reference and receipt
    assert response["Cache-Control"].startswith("max-age=0") or "no-store" in response["Cache-Control"]
    return reference.group(1), receipt.group(1)


def test_anonymous_raise_gives_a_receipt_stored_only_as_a_keyed_hash(demo: None) -> None:
    reference, receipt = _raise(Client())
    concern = Concern.objects.get(reference=reference)
    assert concern.state == "received"
    assert concern.themes == ["patient_safety", "worker_safety"]
    stored = Receipt.objects.get(concern=concern)
    assert receipt.replace("-", "") not in stored.digest
    assert len(stored.digest) == 64
    # The exact second is not kept for an anonymous raiser.
    assert concern.received_at.minute == 0 and concern.received_at.second == 0
    assert list(Event.objects.filter(concern=concern).values_list("kind", flat=True)) == ["raised"]
    clock = Clock.objects.get(concern=concern, kind="acknowledge")
    assert (clock.kind, clock.status, clock.route_level) == ("acknowledge", ClockStatus.PENDING, 0)


def test_narrative_is_encrypted_at_rest(demo: None) -> None:
    from django.db import connection

    reference, _ = _raise(Client())
    with connection.cursor() as cursor:
        cursor.execute("SELECT what_happened FROM concerns_concern WHERE reference = %s", [reference])
        (stored,) = cursor.fetchone()
    assert "nurse" not in stored
    assert Concern.objects.get(reference=reference).what_happened == FORM["what_happened"]


def test_follow_up_shows_received_and_a_wrong_code_looks_like_a_malformed_one(demo: None) -> None:
    client = Client()
    reference, receipt = _raise(client)
    response = client.post("/follow-up/", {"receipt": receipt.lower()}, follow=True)
    assert response.redirect_chain == [("/follow-up/concern/", 302)]
    assert response.status_code == 200
    assert reference in response.content.decode()
    assert 'data-testid="status">Received<' in response.content.decode()

    wrong = client.post("/follow-up/", {"receipt": "ABCD-EFGH-JKMN-PQRS-TVWX-YZ23"})
    malformed = client.post("/follow-up/", {"receipt": "not a code"})
    assert wrong.status_code == malformed.status_code == 400
    # The pages differ only in the (per-response masked) CSRF token.
    csrf = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]+"')
    assert csrf.sub(b"", wrong.content) == csrf.sub(b"", malformed.content)


def test_bad_input_is_a_clear_400_and_stores_nothing(demo: None) -> None:
    client = Client()
    cases = [
        {**FORM, "unit": "NOPE"},
        {**FORM, "raiser_kind": "robot"},
        {**FORM, "themes": []},
        {**FORM, "what_happened": ""},
        {**FORM, "what_happened": "x" * 20_001},
        {**FORM, "identity_mode": "named", "raiser_name": ""},
    ]
    for data in cases:
        response = raise_on_the_web(client, data)
        assert response.status_code == 400, data
        assert "There is a problem" in response.content.decode()
    assert Concern.objects.count() == 0
    assert Event.objects.count() == 0


def test_an_oversized_body_is_refused_before_it_is_read(demo: None) -> None:
    response = raise_on_the_web(Client(), {**FORM, "what_happened": "x" * 400_000})
    assert response.status_code in (400, 413)
    assert Concern.objects.count() == 0


def test_guardian_sees_it_in_the_inbox_and_acknowledges_it(demo: None) -> None:
    reference, _ = _raise(Client())
    staff = Client()
    sign_in(staff, "guardian")
    inbox = staff.get("/inbox/")
    assert reference in inbox.content.decode()
    case = staff.get(f"/inbox/{reference}/")
    assert "Night shift left with one nurse" in case.content.decode()
    response = staff.post(f"/inbox/{reference}/acknowledge/")
    assert response.status_code == 302
    concern = Concern.objects.get(reference=reference)
    assert concern.state == "acknowledged"
    assert Clock.objects.get(concern=concern, kind="acknowledge").status == ClockStatus.STOPPED
    event = Event.objects.get(concern=concern, kind="acknowledge")
    assert (event.actor_role, event.from_state, event.to_state) == ("guardian", "received", "acknowledged")
    # A second acknowledgement is refused cleanly.
    assert staff.post(f"/inbox/{reference}/acknowledge/").status_code == 409
    assert not [r for r in audit_verify() if isinstance(r, BrokenLink)]


def test_staff_of_another_trust_cannot_see_or_acknowledge_it(demo: None) -> None:
    reference, _ = _raise(Client())
    other = Client()
    sign_in(other, "guardian-community")
    assert reference not in other.get("/inbox/").content.decode()
    assert other.get(f"/inbox/{reference}/").status_code == 404
    assert other.post(f"/inbox/{reference}/acknowledge/").status_code == 404
    assert Concern.objects.get(reference=reference).state == "received"


def test_the_inbox_needs_a_sign_in(demo: None) -> None:
    response = Client().get("/inbox/")
    assert response.status_code == 302
    assert response["Location"].startswith("/sign-in/")


def test_wrong_receipts_meet_a_global_ceiling_whatever_the_address(demo: None, settings) -> None:  # type: ignore[no-untyped-def]
    settings.CANDOUR_RECEIPT_ATTEMPTS_PER_MINUTE = 5
    _, receipt = _raise(Client())
    # Frozen inside one minute: the counter is per minute, and the test must not straddle two.
    with time_machine.travel(datetime(2026, 11, 27, 10, 0, 5, tzinfo=UTC), tick=False):
        _guesses(receipt)


def _guesses(receipt: str) -> None:
    for i in range(5):
        # Each guess from a "different" address: addresses are forgotten, so it makes no difference.
        guess = Client(REMOTE_ADDR=f"10.0.0.{i}").post("/follow-up/", {"receipt": f"WRONG-{i}"})
        assert guess.status_code == 400
    # Over the ceiling a wrong code is answered busy, on the pages and the API alike...
    assert Client().post("/follow-up/", {"receipt": "WRONG-6"}).status_code == 429
    api = Client().post("/api/v1/follow-up/", {"receipt": "WRONG-7"}, content_type="application/json")
    assert api.status_code == 429
    assert "detail" in api.json()
    # ...and the raiser's own code still opens their concern: a flood never locks them out.
    assert Client().post("/follow-up/", {"receipt": receipt}).status_code == 302
    right = Client().post("/api/v1/follow-up/", {"receipt": receipt}, content_type="application/json")
    assert right.status_code == 200


def test_a_refreshed_form_does_not_raise_the_concern_twice(demo: None) -> None:
    client = Client()
    assert answer_every_question(client, FORM) is None
    check = client.get("/raise/check/")
    key = submission_key_on(check)
    sent = client.post("/raise/check/", {"submission_key": key})
    assert sent.status_code == 200
    reference = re.search(r'data-testid="reference">([^<]+)<', sent.content.decode()).group(1)  # type: ignore[union-attr]
    # "Send" again (a refresh, a second click): the answers are gone, the key is recognised.
    again = client.post("/raise/check/", {"submission_key": key})
    assert again.status_code == 409
    assert reference in again.content.decode()
    assert Concern.objects.count() == 1
    assert key not in str(Concern.objects.values_list("submission_digest", flat=True)[0])
    # Without the key, a stale "Send" is sent back to the start, raising nothing.
    assert client.post("/raise/check/", {}).status_code == 302
    assert Concern.objects.count() == 1
