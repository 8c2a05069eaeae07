"""The REST API end to end through DRF: raise, follow up, handle; errors are clear 4xx."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from backend.concerns.models import Concern, Event, Message
from tests.support.concern_bodies import concern_body
from tests.support.sign_in import staff_client

pytestmark = pytest.mark.django_db

RAISE = concern_body()


def post(client: Client, url: str, body: object, **headers: str):  # type: ignore[no-untyped-def]
    return client.post(url, data=json.dumps(body), content_type="application/json", **headers)


def token_for(username: str) -> str:
    from django.contrib.auth import get_user_model

    return Token.objects.get_or_create(user=get_user_model().objects.get(username=username))[0].key


def test_raise_follow_up_and_handle_through_the_api(demo: None) -> None:
    client = Client()
    raised = post(client, "/api/v1/concerns/raise/", RAISE)
    assert raised.status_code == 201, raised.content
    reference, receipt = raised.json()["reference"], raised.json()["receipt"]
    assert raised["Cache-Control"] == "no-store"

    status = post(client, "/api/v1/follow-up/", {"receipt": receipt})
    assert status.status_code == 200
    assert status.json()["state"] == "received"
    assert [t["kind"] for t in status.json()["timeline"]] == ["raised"]

    auth = {"HTTP_AUTHORIZATION": f"Token {token_for('guardian')}"}
    listing = client.get("/api/v1/concerns/?state=received&theme=bullying", **auth)
    assert listing.status_code == 200
    assert [c["reference"] for c in listing.json()["results"]] == [reference]
    detail = client.get(f"/api/v1/concerns/{reference}/", **auth)
    assert detail.json()["what_happened"] == RAISE["what_happened"]

    base = f"/api/v1/concerns/{reference}"
    assert post(client, f"{base}/acknowledge/", {}, **auth).json()["state"] == "acknowledged"
    assert post(client, f"{base}/messages/", {"body": "Can you tell us which week?"}, **auth).status_code == 201
    reply = post(client, "/api/v1/follow-up/messages/", {"receipt": receipt, "body": "The week of the 3rd."})
    assert reply.status_code == 201
    detriment = post(
        client, "/api/v1/follow-up/messages/", {"receipt": receipt, "body": "My shifts were cut.", "kind": "detriment"}
    )
    assert detriment.status_code == 201
    assert post(client, f"{base}/start-review/", {}, **auth).json()["state"] == "under_review"
    assert (
        post(client, f"{base}/feedback/", {"feedback": "We have changed the rota process."}, **auth).status_code == 200
    )
    answer = post(client, "/api/v1/follow-up/speak-up-again/", {"receipt": receipt, "answer": "maybe"})
    assert answer.json()["would_speak_up_again"] == "maybe"
    assert (
        post(client, f"{base}/close/", {"reason": "Feedback given, rota changed."}, **auth).json()["state"] == "closed"
    )

    concern = Concern.objects.get(reference=reference)
    assert concern.detriment_reported
    kinds = list(Event.objects.filter(concern=concern).order_by("seq").values_list("kind", flat=True))
    assert kinds == [
        "raised",
        "acknowledge",
        "message_to_raiser",
        "message_from_raiser",
        "detriment_reported",
        "start_review",
        "give_feedback",
        "speak_up_again_answered",
        "close",
    ]
    assert Message.objects.filter(concern=concern).count() == 4
    # A closed concern takes no more messages and cannot be acknowledged again.
    assert post(client, "/api/v1/follow-up/messages/", {"receipt": receipt, "body": "x"}).status_code == 409
    assert post(client, f"{base}/acknowledge/", {}, **auth).status_code == 409


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"unit": "NOPE"}, "unit"),
        ({"raiser_kind": "robot"}, "raiser_kind"),
        ({"identity_mode": "secret"}, "identity_mode"),
        ({"themes": ["astrology"]}, "themes"),
        ({"themes": []}, "themes"),
        ({"what_happened": ""}, "what_happened"),
        ({"what_happened": "x" * 20_001}, "what_happened"),
        ({"identity_mode": "confidential"}, "raiser_name"),
        ({"urgent": "perhaps"}, "urgent"),
    ],
)
def test_bad_input_gets_field_messages_and_stores_nothing(demo: None, change: dict[str, object], field: str) -> None:
    response = post(Client(), "/api/v1/concerns/raise/", {**RAISE, **change})
    assert response.status_code == 400
    assert field in response.json()
    assert Concern.objects.count() == 0


def test_wrong_content_type_and_broken_json_are_clear_4xx(demo: None) -> None:
    client = Client()
    form = client.post("/api/v1/concerns/raise/", RAISE)
    assert form.status_code == 415
    broken = client.post("/api/v1/concerns/raise/", data="{not json", content_type="application/json")
    assert broken.status_code == 400
    assert "detail" in broken.json()
    assert Concern.objects.count() == 0


def test_html_emoji_and_right_to_left_text_are_kept_as_text(demo: None) -> None:
    text = "<script>alert('x')</script> 😟 \u202eتم تجاهل الشكوى"
    raised = post(Client(), "/api/v1/concerns/raise/", {**RAISE, "what_happened": text})
    assert raised.status_code == 201
    concern = Concern.objects.get(reference=raised.json()["reference"])
    assert concern.what_happened == text
    staff = staff_client("guardian")
    page = staff.get(f"/inbox/{concern.reference}/").content.decode()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; 😟" in page
    assert "<script>alert" not in page


def test_the_api_refuses_what_the_caller_may_not_do(demo: None) -> None:
    client = Client()
    raised = post(client, "/api/v1/concerns/raise/", RAISE).json()
    reference = raised["reference"]
    assert client.get("/api/v1/concerns/").status_code in (401, 403)
    other = {"HTTP_AUTHORIZATION": f"Token {token_for('guardian-community')}"}
    assert client.get(f"/api/v1/concerns/{reference}/", **other).status_code == 404
    assert post(client, f"/api/v1/concerns/{reference}/acknowledge/", {}, **other).status_code == 404
    governor = {"HTTP_AUTHORIZATION": f"Token {token_for('governor')}"}
    assert client.get("/api/v1/concerns/", **governor).json()["results"] == []
    assert post(client, "/api/v1/follow-up/", {"receipt": "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA"}).status_code == 404
    assert post(client, "/api/v1/follow-up/", {"receipt": "nonsense"}).status_code == 404


def test_schema_and_offline_docs_are_served(demo: None) -> None:
    client = Client()
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = json.loads(schema.content)["paths"]
    assert "/api/v1/concerns/raise/" in paths
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()


def test_an_oversized_json_body_is_413_and_stores_nothing(demo: None) -> None:
    response = post(Client(), "/api/v1/concerns/raise/", {**RAISE, "what_happened": "x" * 300_000})
    assert response.status_code == 413
    assert Concern.objects.count() == 0


def test_a_retried_raise_with_the_same_submission_key_is_409_not_a_second_concern(demo: None) -> None:
    body = {**RAISE, "submission_key": "retry-key-7c1b"}
    first = post(Client(), "/api/v1/concerns/raise/", body)
    second = post(Client(), "/api/v1/concerns/raise/", body)
    assert first.status_code == 201
    assert second.status_code == 409
    assert second.json()["reference"] == first.json()["reference"]
    assert Concern.objects.count() == 1
