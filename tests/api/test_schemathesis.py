"""Schemathesis over the whole API, as an anonymous caller and as every demo role.

The schema is the one the app serves at /api/schema/, loaded in-process over WSGI: what integrators
read is tested against the code that answers them. Requests run against a seeded world (the demo
organisations and users, and concerns in every state), and many carry a real concern reference,
receipt, unit code or handler, so they reach the views' real work and not only their 404s and 400s.
Each case runs in a savepoint that is rolled back, so every case meets the same world and a failure
replays the same way every time; each caller and operation has its own fixed seed.

The error answers (400, 401, 403, 404, 409, 413, 415, 429) are documented by the schema hook in
backend/api/schema.py. A path parameter outside what Django's URL converters match (a negative
case's -1 for an {alert_id}) reaches no route at all, and gets the API's JSON 404 (pinned at the end).

Checks, and why these:

- ``not_a_server_error``: the issue's "0 server errors". Cases are both schema-valid (positive) and
  schema-violating (negative), so bad input must be a 4xx, never a 500.
- ``status_code_conformance``: every status the API answers with is documented for the operation.
- ``content_type_conformance``: every response is of a documented media type (JSON).
- ``response_schema_conformance``: every body matches the documented schema for its status.
- ``response_headers_conformance``: documented response headers are present and well formed.

Not used: ``negative_data_rejection`` and ``positive_data_acceptance`` are stricter than the API's
contract. A number where the schema says string is still acceptable text to DRF (so a "negative" case
may get a 200 or a 404), and a schema-valid body can be refused for reasons no schema states (an
unknown unit, a receipt that opens nothing, a move the concern's state does not allow: 400/404/409).
The stateful checks (``use_after_free``, ``ensure_resource_availability``) and the probes that send
extra requests (``ignored_auth``, ``unsupported_method``, ``missing_required_header``) answer other
questions; who may do what is ``test_access_spec`` and ``test_role_matrix``.
"""

from __future__ import annotations

import json
import math
import time
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import hypothesis
import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from backend.concerns import services
from tests.support.concern_bodies import concern_body

pytestmark = pytest.mark.django_db

ROLES = (
    "guardian",
    "handler",
    "governor",
    "guardian-community",
    "commissioner",
    "icb-guardian",
    "regulator",
    "patient-group",
    "admin",
)
CALLERS: tuple[str | None, ...] = (None, *ROLES)  # None: no credentials at all
ANONYMOUS = "anonymous"
UNITS = ("RNX07", "RNXMAT", "RCXDNE", "RCXMHC")
ORGANISATIONS = ("RGX", "QNX", "RNXB", "RNX", "RCXB", "RCX", "HWX", *UNITS)
MIN_CASES = 1_000
# Spread over every caller and operation however many there are, so the time stays about the same
# (under a minute on two cores) as the API grows; a quarter of them schema-violating.
TARGET_CASES = 1_200
NEGATIVE_SHARE = 0.25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
RAISE = concern_body()


def _post(client: Client, url: str, body: object, token: str | None = None) -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Token {token}"} if token else {}
    response = client.post(url, data=json.dumps(body), content_type="application/json", **headers)
    assert response.status_code in (200, 201), (url, response.status_code, response.content)
    return response.json()


@dataclass(frozen=True)
class World:
    """What the seeded world holds that a generated request can name."""

    references: list[str]
    receipts: list[str]
    alerts: list[str]


def _seed(tokens: dict[str, str]) -> World:
    """Concerns in every state the API can reach, in both trusts, with paused clocks and open alerts."""
    client = Client()
    made: list[dict[str, str]] = []

    def raised(**change: Any) -> str:
        made.append(_post(client, "/api/v1/concerns/raise/", {**RAISE, **change}))
        return made[-1]["reference"]

    def moves(token: str, reference: str, *steps: tuple[str, dict[str, str]]) -> None:
        for move, body in steps:
            _post(client, f"/api/v1/concerns/{reference}/{move}/", body, token)

    def from_raiser(kind: str) -> None:
        _post(client, "/api/v1/follow-up/messages/", {"receipt": made[-1]["receipt"], "body": "Still.", "kind": kind})

    # Unanswered while its clocks run out, a concern climbs its route a level at a time: this one to
    # the regulator, the next one a level.
    raised(unit="RNXMAT", themes=["patient_safety"], urgent=True)
    for days in (30, 60, 90, 120):
        services.clocks_fire_due(now=timezone.now() + timedelta(days=days))
    raised(unit="RCXDNE", raiser_kind="carer")
    services.clocks_fire_due(now=timezone.now() + timedelta(days=30))

    guardian = tokens["guardian"]
    acknowledge, start, feedback = ("acknowledge", {}), ("start-review", {}), ("feedback", {"feedback": "Changed."})
    raised()  # received, and the raiser reports detriment: an alert
    from_raiser("detriment")
    raised(unit="RCXDNE", identity_mode="confidential", raiser_name="A. Nurse", raiser_contact="07700 900123")
    from_raiser("nothing_done")
    named = raised(identity_mode="named", raiser_name="B. Porter", raiser_contact="b@example.org")
    moves(guardian, named, ("assign", {"handler": "handler"}))
    moves(tokens["handler"], named, acknowledge)
    moves(guardian, raised(unit="RNXMAT", themes=["patient_safety", "worker_safety"]), acknowledge, start)
    moves(guardian, raised(raiser_kind="public"), acknowledge, ("pause", {"reason": "Waiting for the rota."}))
    moves(guardian, raised(), ("escalate", {"reason": "Conflict of interest."}))
    moves(guardian, raised(), acknowledge, start, feedback)
    moves(guardian, raised(themes=["other"]), acknowledge, start, feedback, ("reopen", {}))
    moves(tokens["guardian-community"], raised(unit="RCXMHC"), acknowledge, ("close", {"reason": "Resolved."}))
    raised(raiser_kind="patient")
    _post(client, "/api/v1/follow-up/withdraw/", {"receipt": made[-1]["receipt"]})

    alerts = {
        str(alert["id"])
        for token in tokens.values()
        for alert in client.get("/api/v1/alerts/", HTTP_AUTHORIZATION=f"Token {token}").json()["results"]
    }
    assert alerts, "the seeding opens alerts"
    return World([m["reference"] for m in made], [m["receipt"] for m in made], sorted(alerts))


@st.composite
def _with_real_values(draw: st.DrawFn, case: Any, world: World) -> Any:
    """Mostly put a real reference, receipt, alert, organisation or handler where the schema can only say "a
    string" or "an integer". An integer path parameter outside what the route matches (a negative
    case's -1 or "abc") becomes a real one: that path is no operation of the API, see below."""
    real = st.integers(0, 3).map(bool)  # three times in four

    def swap(container: dict[str, Any], name: str, values: Sequence[str]) -> dict[str, Any]:
        if name in container and draw(real):
            return {**container, name: draw(st.sampled_from(values))}
        return container

    if case.path_parameters:
        path = swap(case.path_parameters, "reference", world.references)
        path = swap(path, "code", ORGANISATIONS)
        if "alert_id" in path and draw(real):
            path = {**path, "alert_id": draw(st.sampled_from(world.alerts))}
        case.path_parameters = path
    if case.query and "page" in case.query and draw(real):
        case.query = {**case.query, "page": 1}  # a page that exists, not only one past the end
    if isinstance(case.body, dict):
        body = swap(case.body, "receipt", world.receipts)
        body = swap(body, "unit", UNITS)
        case.body = swap(body, "handler", ROLES)
    return case


def _can_be_wrong(operation: Any) -> bool:
    """Negative data needs something typed to break, a body or a query: a {reference} is any string."""
    definition = operation.definition.raw
    return "requestBody" in definition or any(p.get("in") == "query" for p in definition.get("parameters", []))


def _examples(operations: list[Any]) -> dict[GenerationMode, int]:
    """Cases per caller, operation and mode, to make TARGET_CASES in all."""
    pairs = len(CALLERS) * len(operations)
    wrong = len(CALLERS) * sum(_can_be_wrong(operation) for operation in operations)
    return {
        GenerationMode.POSITIVE: max(3, math.ceil(TARGET_CASES * (1 - NEGATIVE_SHARE) / pairs)),
        GenerationMode.NEGATIVE: max(1, math.ceil(TARGET_CASES * NEGATIVE_SHARE / max(wrong, 1))),
    }


@contextmanager
def _connection_kept_across_requests() -> Iterator[None]:
    """The app runs over WSGI in this process, inside the test's transaction. Django closes the database
    connection when a request starts and finishes; its test client stops that and so must we (after the
    seeding, which uses the test client, which reconnects the signal when it is done)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_the_whole_api_as_every_caller_has_no_server_errors_and_matches_its_schema(demo: None) -> None:
    from backend.config.wsgi import application

    users = get_user_model().objects
    tokens = {role: Token.objects.get_or_create(user=users.get(username=role))[0].key for role in ROLES}
    world = _seed(tokens)

    cases: Counter[tuple[str, str]] = Counter()
    statuses: Counter[int] = Counter()
    refused: set[str] = set()  # callers that got a 401
    failures: list[str] = []
    started = time.monotonic()
    with _connection_kept_across_requests():
        schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
        operations = [result.ok() for result in schema.get_all_operations()]
        examples_for = _examples(operations)
        for caller in CALLERS:
            headers = {"Authorization": f"Token {tokens[caller]}"} if caller else {}
            for operation in operations:
                for mode, examples in examples_for.items():
                    if mode is GenerationMode.NEGATIVE and not _can_be_wrong(operation):
                        continue
                    name = f"{caller or ANONYMOUS} {operation.label} ({mode.value})"

                    @hypothesis.seed(zlib.crc32(name.encode()))
                    @hypothesis.settings(
                        max_examples=examples,
                        deadline=None,
                        database=None,
                        phases=[Phase.explicit, Phase.generate],  # a failure is reported as found
                        suppress_health_check=list(HealthCheck),
                    )
                    @given(
                        case=operation.as_strategy(generation_mode=mode).flatmap(
                            lambda case: _with_real_values(case, world)
                        )
                    )
                    def run(case: Any) -> None:
                        with transaction.atomic():  # every case meets the seeded world as it was
                            response = case.call(headers=headers)
                            transaction.set_rollback(True)
                        cases[(caller or ANONYMOUS, operation.label)] += 1
                        statuses[response.status_code] += 1
                        if response.status_code == 401:
                            refused.add(caller or ANONYMOUS)
                        case.validate_response(response, checks=CHECKS)

                    try:
                        run()
                    except (Exception, BaseExceptionGroup) as failure:  # report every failing operation
                        failures.append(f"{name}:\n{failure}")

    total = sum(cases.values())
    summary = f"{total} cases in {time.monotonic() - started:.0f}s, statuses {dict(sorted(statuses.items()))}"
    print(f"\nschemathesis: {summary}")
    assert not failures, "\n\n".join(failures)
    assert total >= MIN_CASES, summary
    assert len(operations) >= 17, [operation.label for operation in operations]
    assert set(cases) == {(caller or ANONYMOUS, op.label) for caller in CALLERS for op in operations}
    assert refused == {ANONYMOUS}, refused  # every role's token was taken, every time
    # The seeded world was reached: successes, and the refusals of every kind, not only 404s.
    assert {200, 201, 400, 401, 404, 409} <= set(statuses), summary


def test_a_path_under_the_api_that_matches_no_route_answers_json(db: None) -> None:
    """Found by the negative cases above (POST /api/v1/alerts/-1/resolve/): the API is JSON only."""
    response = Client().post("/api/v1/alerts/-1/resolve/", data="{}", content_type="application/json")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
