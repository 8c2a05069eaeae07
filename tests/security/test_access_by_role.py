"""Who gets what from every route, role by role: an access specification checked against the live
URL conf (GlobaLeaks-style), pages and API alike.

``SPEC`` below is the specification, as data: one row per route (routes that take a concern
reference have a row for a concern of the caller's own system and one for a concern elsewhere; the
case page's moves have a row per move), one column per demo role and one for an anonymous caller.
Each cell is the class of answer that role must get:

    ok      the route itself answers (2xx, a redirect that is not to sign-in, or 400 for a move
            whose form was refused: the request reached the view and the role was let in)
    login   sent to sign in (the pages' redirect; the API's 401)
    403     refused: the role is known and may not do this
    404     not found: the concern or alert is not one the role may know of
    409     let in, but the concern's state refuses the move (reopen an open concern, say)

Every request is made for real, as that role: pages with a signed-in session (tests/support/
sign_in.py), the API with the role's token. Moves are really made, each inside a transaction rolled
back straight after, so every cell sees the same world. A route of ``get_resolver()`` with no row
fails with its name (admin/ guards itself and is left out, as in tests/api/test_access_spec.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.shortcuts import resolve_url
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from backend.concerns import services
from backend.concerns.models import Concern
from backend.organisations.demo import USERS, demo_seed
from backend.organisations.models import Organisation
from backend.oversight.figures import figures_rollup
from backend.oversight.models import Alert, OversightTally
from backend.oversight.signals import SignalFound, signals_open
from tests.support.concern_bodies import concern_body
from tests.support.factories import WardFactory
from tests.support.sign_in import api_client, staff_client
from workflows.engine.vocabulary import Action

ROLES = ("anonymous", *(username for username, _, _ in USERS))
DELEGATED_PREFIXES = ("admin/",)

# fmt: off
# Columns: anonymous, then backend/organisations/demo.py USERS in order (guard: guardian, handl:
# handler, gov: governor, g-comm: guardian-community, commis: commissioner, icb-g: icb-guardian,
# regul: regulator, patnt: patient-group, admin: the administrator). "own":
# a concern of the caller's own system (the ward RNX07, placed with the handler; RCXDNE for the
# community guardian), in the state its move starts from; "elsewhere": another system's concern.
SPEC_TABLE = """
# route                                  anon   guard  handl  gov    g-comm commis icb-g  regul  patnt  admin
# Open to anyone: health, intake, the raiser's follow-up (by receipt), public figures, sign-in.
healthz                                  ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
readyz                                   ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
# The monitoring system's: a bearer token (CANDOUR_METRICS_TOKEN), no role or session gets in.
metrics                                  403    403    403    403    403    403    403    403    403    403
# The API. Lists are scoped by role (tests/api/test_role_matrix.py checks what each list holds).
api:concern-list                         login  ok     ok     ok     ok     ok     ok     ok     ok     ok
api:concern-raise                        ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
api:concern-detail@own                   login  ok     ok     404    ok     404    404    404    404    404
api:concern-detail@elsewhere             login  404    404    404    404    404    404    404    404    404
api:concern-acknowledge@own              login  ok     ok     404    ok     404    404    404    404    404
api:concern-acknowledge@elsewhere        login  404    404    404    404    404    404    404    404    404
api:concern-start-review@own             login  ok     ok     404    ok     404    404    404    404    404
api:concern-start-review@elsewhere       login  404    404    404    404    404    404    404    404    404
api:concern-feedback@own                 login  ok     ok     404    ok     404    404    404    404    404
api:concern-feedback@elsewhere           login  404    404    404    404    404    404    404    404    404
# The handler may not close or reopen: the lifecycle never lets their role, answered 403.
api:concern-close@own                    login  ok     403    404    ok     404    404    404    404    404
api:concern-close@elsewhere              login  404    404    404    404    404    404    404    404    404
api:concern-reopen@own                   login  ok     403    404    ok     404    404    404    404    404
api:concern-reopen@elsewhere             login  404    404    404    404    404    404    404    404    404
api:concern-message@own                  login  ok     ok     404    ok     404    404    404    404    404
api:concern-message@elsewhere            login  404    404    404    404    404    404    404    404    404
# Staff-only notes: those handling the concern at its origin read and write them (GET answers).
api:concern-notes@own                    login  ok     ok     404    ok     404    404    404    404    404
api:concern-notes@elsewhere              login  404    404    404    404    404    404    404    404    404
# Actions agreed on a concern: those handling it list (GET), record and mark them done.
api:concern-actions@own                  login  ok     ok     404    ok     404    404    404    404    404
api:concern-actions@elsewhere            login  404    404    404    404    404    404    404    404    404
api:concern-action-done@own              login  ok     ok     404    ok     404    404    404    404    404
api:concern-action-done@elsewhere        login  404    404    404    404    404    404    404    404    404
api:concern-assign@own                   login  ok     403    404    403    404    404    404    404    404
api:concern-assign@elsewhere             login  404    404    404    404    404    404    404    404    404
# Placing a concern raised by text: its guardian's alone (the handler refused 403); the "own" concern
# came by the web, so its guardians are let in and refused by its channel (409).
api:concern-place@own                    login  409    403    404    409    404    404    404    404    404
api:concern-place@elsewhere              login  404    404    404    404    404    404    404    404    404
# Correcting how the quarterly return counts a concern: its guardian's at its origin (handler 403).
api:concern-classification@own           login  ok     403    404    ok     404    404    404    404    404
api:concern-classification@elsewhere     login  404    404    404    404    404    404    404    404    404
# The quarterly return: guardians their own organisation's, commissioners their board's and its
# providers' (asked with no query: 400 in words); anyone else 404, before reading the query.
api:return-quarterly                     login  ok     404    404    ok     ok     ok     404    404    404
frontend:return_quarterly                login  ok     404    404    ok     ok     ok     404    404    404
frontend:return_quarterly_csv            login  ok     404    404    ok     ok     ok     404    404    404
# Conflicts of interest: GET is the guardian's alone at the origin (the handler knows the concern,
# refused 403); POST declares the caller's own, open to those who handle it or could be placed with it.
api:concern-conflicts@own                login  ok     403    404    ok     404    404    404    404    404
api:concern-conflicts@elsewhere          login  404    404    404    404    404    404    404    404    404
api:concern-identity@own                 login  ok     ok     404    ok     404    404    404    404    404
api:concern-identity@elsewhere           login  404    404    404    404    404    404    404    404    404
api:oversight-concerns                   login  ok     ok     ok     ok     ok     ok     ok     ok     ok
api:oversight-dashboard                  login  ok     ok     ok     ok     ok     ok     ok     ok     ok
api:public-figures                       ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
api:public-figures-organisation          ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
# Patient groups follow any concern whose raiser shared its reference: status only.
api:public-concern@own                   login  404    404    404    404    404    404    404    ok     404
api:public-concern@elsewhere             login  404    404    404    404    404    404    404    ok     404
api:concern-escalate@own                 login  ok     403    404    ok     404    404    404    404    404
api:concern-escalate@elsewhere           login  404    404    404    404    404    404    404    404    404
api:concern-pause@own                    login  ok     403    404    ok     404    404    404    404    404
api:concern-pause@elsewhere              login  404    404    404    404    404    404    404    404    404
api:concern-resume@own                   login  ok     403    404    ok     404    404    404    404    404
api:concern-resume@elsewhere             login  404    404    404    404    404    404    404    404    404
api:alert-list                           login  ok     ok     ok     ok     ok     ok     ok     ok     ok
# Only oversight resolves an alert; the guardian and handler it is about are refused (issue 10, item 10).
api:alert-resolve                        login  403    403    ok     404    ok     404    404    404    404
# Early warnings: those who watch the ward's unit (its trust's guardian, the governors, the
# commissioners) see and move its signal; anyone else hears nothing of it.
api:signal-list                          login  ok     ok     ok     ok     ok     ok     ok     ok     ok
api:signal-review                        login  ok     404    ok     404    ok     404    404    404    404
api:signal-close                         login  ok     404    ok     404    ok     404    404    404    404
api:follow-up-escalate                   ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
api:follow-up                            ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
api:follow-up-message                    ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
api:follow-up-withdraw                   ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
api:follow-up-reopen                     ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
api:follow-up-speak-up-again             ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
api:schema                               ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
api:docs                                 ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
# Twilio's webhooks: open, guarded by Twilio's signature; an unsigned request is refused.
notifications:twilio-sms                 403    403    403    403    403    403    403    403    403    403
notifications:twilio-status              403    403    403    403    403    403    403    403    403    403
# The pages.
frontend:home                            ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
frontend:raise                           ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
frontend:raise_begin                     ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
frontend:raise_easy_read                 ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
frontend:raise_check                     ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
frontend:raise_cancel                    ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
frontend:raise_step                      ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
frontend:follow_up                       ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
frontend:follow_up_concern               ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
frontend:follow_up_message               ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
frontend:follow_up_escalate              ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
frontend:follow_up_withdraw              ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
frontend:follow_up_reopen                ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
frontend:follow_up_speak_up_again        ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
frontend:follow_up_status_share          ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
# Anyone follows a concern whose raiser let others follow its status, by its reference: no sign-in.
frontend:shared_status                   ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
# After closure: the raiser answers a check-in, reports detriment, says whether to be asked (their
# receipt's session; without one, sent to enter it).
frontend:follow_up_check_in              ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
frontend:follow_up_detriment             ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
frontend:follow_up_aftercare_consent     ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
# The raiser reads the public summary of their concern first and may object (their receipt's session;
# without one, sent to enter it).
frontend:follow_up_summary               ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
# Proof of disclosure: anyone checks a certificate, downloads the one their receipt page shows (a
# POST without a certificate Candour signed is a 400 in words), and reads the published keys.
frontend:disclosure_verify               ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
frontend:disclosure_certificate          ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
frontend:disclosure_keys                 ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
frontend:public_figures                  ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
frontend:public_figures_organisation     ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
frontend:login                           ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
frontend:logout                          ok     ok     ok     ok     ok     ok     ok     ok     ok     ok
# The second step of signing in: only after a right password (signed in, the code perhaps still owed).
frontend:sign_in_code                    login  ok     ok     ok     ok     ok     ok     ok     ok     ok
frontend:sign_in_set_up                  login  ok     ok     ok     ok     ok     ok     ok     ok     ok
frontend:two_step                        login  ok     ok     ok     ok     ok     ok     ok     ok     ok
frontend:oversight_dashboard             login  ok     ok     ok     ok     ok     ok     ok     ok     ok
# An organisation of the dashboard opened out by unit: counts in the reader's own scope, 404 where it has none.
frontend:oversight_drill                 login  404    404    ok     404    ok     404    404    404    404
frontend:alerts                          login  ok     ok     ok     ok     ok     ok     ok     ok     ok
frontend:alert_resolve                   login  403    403    ok     404    ok     404    404    404    404
frontend:signals                         login  ok     ok     ok     ok     ok     ok     ok     ok     ok
# Reports: a trust's board report for its guardians, governors and commissioners; a prescribed
# person's annual report for its own members. Anyone else hears nothing of either.
frontend:board_report                     login  ok     404    ok     404    ok     404    404    404    404
frontend:board_report_pdf                 login  ok     404    ok     404    ok     404    404    404    404
frontend:annual_report                    login  404    404    404    404    404    404    ok     404    404
frontend:annual_report_pdf                login  404    404    404    404    404    404    ok     404    404
frontend:annual_report_csv                login  404    404    404    404    404    404    ok     404    404
frontend:trends                          login  ok     404    ok     404    ok     404    404    404    404
frontend:signal                          login  ok     404    ok     404    ok     404    404    404    404
frontend:signal_review                   login  ok     404    ok     404    ok     404    404    404    404
frontend:signal_close                    login  ok     404    ok     404    ok     404    404    404    404
frontend:notification_settings           login  ok     ok     ok     ok     ok     ok     ok     ok     ok
frontend:inbox                           login  ok     ok     ok     ok     ok     ok     ok     ok     ok
# The case page and its moves answer as the API does.
frontend:case@own                        login  ok     ok     404    ok     404    404    404    404    404
frontend:case@elsewhere                  login  404    404    404    404    404    404    404    404    404
frontend:case_place@own                  login  409    403    404    409    404    404    404    404    404
frontend:case_place@elsewhere            login  404    404    404    404    404    404    404    404    404
# Who raised it: behind a button, as the API's identity look-up answers (its service decides; each look audited).
frontend:case_identity@own               login  ok     ok     404    ok     404    404    404    404    404
frontend:case_identity@elsewhere         login  404    404    404    404    404    404    404    404    404
frontend:action[acknowledge]@own         login  ok     ok     404    ok     404    404    404    404    404
frontend:action[acknowledge]@elsewhere   login  404    404    404    404    404    404    404    404    404
frontend:action[assign]@own              login  ok     403    404    403    404    404    404    404    404
frontend:action[assign]@elsewhere        login  404    404    404    404    404    404    404    404    404
frontend:action[declare_conflict]@own    login  ok     ok     404    ok     404    404    404    404    404
frontend:action[declare_conflict]@elsewhere login  404    404    404    404    404    404    404    404    404
frontend:action[close]@own               login  ok     403    404    ok     404    404    404    404    404
frontend:action[close]@elsewhere         login  404    404    404    404    404    404    404    404    404
frontend:action[escalate]@own            login  ok     403    404    ok     404    404    404    404    404
frontend:action[escalate]@elsewhere      login  404    404    404    404    404    404    404    404    404
frontend:action[give_feedback]@own       login  ok     ok     404    ok     404    404    404    404    404
frontend:action[give_feedback]@elsewhere login  404    404    404    404    404    404    404    404    404
frontend:action[message]@own             login  ok     ok     404    ok     404    404    404    404    404
frontend:action[message]@elsewhere       login  404    404    404    404    404    404    404    404    404
frontend:action[note]@own                login  ok     ok     404    ok     404    404    404    404    404
frontend:action[note]@elsewhere          login  404    404    404    404    404    404    404    404    404
frontend:action[record_action]@own       login  ok     ok     404    ok     404    404    404    404    404
frontend:action[record_action]@elsewhere login  404    404    404    404    404    404    404    404    404
frontend:action[complete_action]@own     login  ok     ok     404    ok     404    404    404    404    404
frontend:action[complete_action]@elsewhere login  404    404    404    404    404    404    404    404    404
frontend:action[pause]@own               login  ok     403    404    ok     404    404    404    404    404
frontend:action[pause]@elsewhere         login  404    404    404    404    404    404    404    404    404
frontend:action[reopen]@own              login  ok     403    404    ok     404    404    404    404    404
frontend:action[reopen]@elsewhere        login  404    404    404    404    404    404    404    404    404
frontend:action[resume]@own              login  ok     403    404    ok     404    404    404    404    404
frontend:action[resume]@elsewhere        login  404    404    404    404    404    404    404    404    404
frontend:action[start_review]@own        login  ok     ok     404    ok     404    404    404    404    404
frontend:action[start_review]@elsewhere  login  404    404    404    404    404    404    404    404    404
frontend:action[reclassify]@own          login  ok     403    404    ok     404    404    404    404    404
frontend:action[reclassify]@elsewhere    login  404    404    404    404    404    404    404    404    404
# You said, we did: a closed concern's guardians at its origin write the summary (its handler reads
# where it stands: the GET answers; their POST is refused 403); summaries waiting list only the
# reader's organisation's; approving or sharing names a summary by its id, and one the caller may
# not know of is 404.
frontend:summaries                       login  ok     ok     ok     ok     ok     ok     ok     ok     ok
frontend:summary_approve                 login  404    404    404    404    404    404    404    404    404
frontend:summary_write@own               login  ok     ok     404    ok     404    404    404    404    404
frontend:summary_write@elsewhere         login  404    404    404    404    404    404    404    404    404
frontend:lesson_share@own                login  404    404    404    404    404    404    404    404    404
frontend:lesson_share@elsewhere          login  404    404    404    404    404    404    404    404    404
# Lessons: guardians anywhere browse, mark and link; commissioners and regulators see which recur;
# every other role is refused. Marking or linking a lesson that does not exist is 404.
frontend:lessons                         login  ok     403    403    ok     ok     ok     ok     403    403
frontend:lesson_mark                     login  404    404    404    404    404    404    404    404    404
frontend:lesson_link                     login  404    404    404    404    404    404    404    404    404
"""
# fmt: on


def _parse(table: str) -> dict[str, dict[str, str]]:
    spec: dict[str, dict[str, str]] = {}
    for line in table.strip().splitlines():
        if line.startswith("#"):
            continue
        key, *cells = line.split()
        assert len(cells) == len(ROLES), f"{key}: {len(cells)} cells for {len(ROLES)} roles"
        assert key not in spec, f"{key} appears twice"
        spec[key] = dict(zip(ROLES, cells, strict=True))
    return spec


SPEC = _parse(SPEC_TABLE)


# The live URL conf --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str  # namespace:name, as reverse() takes it
    pattern: str
    params: tuple[str, ...]
    methods: tuple[str, ...]  # what the route answers to, GET first when it reads


def _walk(patterns: list[Any], prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str, URLPattern]]:
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
            yield from _walk(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), namespace + (p.name or ""), p


def _methods(callback: Any) -> tuple[str, ...]:
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if cls is not None:
        names = [m for m in ("get", "post") if hasattr(cls, m)]
        return tuple(m.upper() for m in names)
    return ("GET", "POST")  # function views: which they accept is part of what is checked


def _routes() -> list[Route]:
    routes = []
    for pattern, name, url in _walk(get_resolver().url_patterns):
        if pattern.startswith(DELEGATED_PREFIXES):
            continue
        assert name, f"{pattern} has no name: name it so the specification can"
        routes.append(Route(name, pattern, tuple(url.pattern.converters), _methods(url.callback)))
    return routes


ROUTES = _routes()


def _rows(route: Route) -> list[str]:
    """The SPEC rows a route needs: one per concern (own system, elsewhere) and per move."""
    rows = [route.name]
    if "action" in route.params:
        rows = [f"{route.name}[{action}]" for action in sorted(a.value for a in Action)]
    if "reference" in route.params:
        rows = [f"{row}@{where}" for row in rows for where in ("own", "elsewhere")]
    return rows


# The demo world, seeded once for the module --------------------------------------------------------


@dataclass(frozen=True)
class World:
    # role -> state -> reference of a concern in that state in the role's own system: the ward's
    # (RNX07, placed with the handler) for every role but the community guardian, whose is RCXDNE's.
    own: dict[str, dict[str, str]]
    elsewhere: str  # a concern in a system none of the demo users belongs to
    alert: int  # an open alert on the ward's received concern
    signal: int  # an open early warning on the ward
    code: str  # an organisation with public figures
    # role -> the cookies of a session signed in as that role (signed in once: a move like sign-out
    # ends the session of the client it is made on, so each request gets a client of its own)
    sessions: dict[str, dict[str, str]]
    # role -> an API client with that role's token
    tokens: dict[str, Client]


# The state a move's "own" concern is in, so the move is one the lifecycle allows from there and the
# answer says whether the role may make it (not that the state refuses it). Every other row: received.
STATE_FOR_MOVE = {
    "start-review": "acknowledged",
    "start_review": "acknowledged",
    "feedback": "acknowledged",
    "give_feedback": "acknowledged",
    "close": "acknowledged",
    "reopen": "feedback_given",
}


def _raise(code: str) -> Concern:
    draft = services.ConcernDraft(
        unit=Organisation.objects.get(code=code),
        raiser_kind="staff",
        identity_mode="confidential",
        raiser_name="Access Spec Person",
        raiser_contact="07700 900124",
        themes=["behaviour"],
        what_happened="Only those on the route may read this.",
    )
    return services.concern_raise(draft=draft).concern


def _in_each_state(code: str, guardian: str, handler: str | None, received: Concern) -> dict[str, str]:
    users = get_user_model().objects
    by = users.get(username=handler or guardian)
    refs = {"received": received.reference}
    for state in ("acknowledged", "feedback_given"):
        concern = _raise(code)
        if handler:
            services.concern_assign(concern_id=concern.pk, user=users.get(username=guardian), handler=by)
        services.concern_acknowledge(concern_id=concern.pk, user=by)
        if state == "feedback_given":
            services.concern_give_feedback(concern_id=concern.pk, user=by, feedback="Rotas are now set by two people.")
        refs[state] = concern.reference
    return refs


def _signal() -> int:
    """An early warning on the ward, as the nightly pass opens one."""
    ward = Organisation.objects.get(code="RNX07")
    found = SignalFound(
        unit_id=ward.pk,
        measure="w_received",
        theme="",
        kind="rise",
        week=date(2026, 3, 2),
        baseline=1.0,
        recent=3.5,
        statistic=6.0,
        threshold=4.2,
    )
    [opened] = signals_open(found=[found], now=timezone.now())
    return opened


def _world() -> World:
    demo_seed()
    users = get_user_model().objects
    # The ward concern: raised through the API, placed with the handler, and its raiser reports
    # detriment, which opens a sidelining alert (as tests/api/test_alert_resolve.py does).
    raised = Client().post("/api/v1/concerns/raise/", json.dumps(concern_body()), content_type="application/json")
    ward = Concern.objects.get(reference=raised.json()["reference"])
    services.concern_assign(
        concern_id=ward.pk, user=users.get(username="guardian"), handler=users.get(username="handler")
    )
    detriment = {"receipt": raised.json()["receipt"], "body": "I lost shifts", "kind": "detriment"}
    Client().post("/api/v1/follow-up/messages/", json.dumps(detriment), content_type="application/json")
    alert = Alert.objects.get(concern=ward, rule="detriment")
    wards = _in_each_state("RNX07", "guardian", "handler", ward)
    community = _in_each_state("RCXDNE", "guardian-community", None, _raise("RCXDNE"))
    figures_rollup()  # the public figures pages answer for an organisation once it has figures
    # The trust holds an open escalation from ward 7 on its dashboard, whatever the states above left
    # folded: the dashboard's drill-down for RNX then has a row for those who oversee it.
    OversightTally.objects.update_or_create(
        unit=Organisation.objects.get(code="RNX07"),
        holder=Organisation.objects.get(code="RNX"),
        defaults={"open_escalations": 1},
    )
    elsewhere = _raise(str(WardFactory().code)).reference
    # Their raisers let others follow their status: a patient group's account follows them by reference.
    Concern.objects.update(status_shared=True)
    own = {role: wards for role in ROLES} | {"guardian-community": community}
    staff = ROLES[1:]
    sessions = {role: {k: m.value for k, m in staff_client(role).cookies.items()} for role in staff}
    return World(
        own=own,
        elsewhere=elsewhere,
        alert=alert.pk,
        signal=_signal(),
        code="RNX",
        sessions=sessions,
        tokens={role: api_client(role) for role in staff},
    )


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: Any) -> Iterator[World]:
    """One seed for the whole module, inside a transaction rolled back at its end; each test's own
    transaction (the ``db`` fixture) nests inside it."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield _world()
        transaction.set_rollback(True)


# Asking ------------------------------------------------------------------------------------------

# Valid for every move, so an allowed role is let through to the service (extra fields are ignored).
MOVE_BODY = {
    "text": "x",
    "reason": "x",
    "feedback": "x",
    "body": "x",
    "handler": "handler",
    # Placing a concern raised by text.
    "unit": "RNX07",
    "raiser_kind": "patient",
    "themes": ["patient_safety"],
}


def _client(role: str, *, api: bool, world: World) -> Client:
    if role == "anonymous":
        return Client()
    if api:
        return world.tokens[role]
    client = Client()
    client.cookies.load(world.sessions[role])
    return client


def _url(route: Route, row: str, role: str, world: World) -> str:
    path = "/" + route.pattern
    fills = {
        "reference": world.own[role][_state(row)] if row.endswith("@own") else world.elsewhere,
        "alert_id": str(world.alert),
        "signal_id": str(world.signal),
        "code": world.code,
        "quarter": "2026Q1",  # a board report's quarter
        "regulator": "RGX",  # the demo's prescribed person
        "year": "2025",  # an annual report's year, from 1 April
        "action": row.partition("[")[2].partition("]")[0],
        "slug": "who",  # the first question of raising a concern
    }
    for param in route.params:
        path = path.replace(f"<{_converter(route, param)}{param}>", fills[param])
    return path


def _state(row: str) -> str:
    move = row.partition("[")[2].partition("]")[0] or row.partition(":concern-")[2].partition("@")[0]
    return STATE_FOR_MOVE.get(move, "received")


def _converter(route: Route, param: str) -> str:
    for prefix in ("str:", "int:", "slug:", ""):
        if f"<{prefix}{param}>" in route.pattern:
            return prefix
    raise AssertionError(f"{route.pattern}: cannot fill {param}")


def _classify(response: Any) -> str:  # the test client's response
    status = response.status_code
    if status in (301, 302, 303, 307, 308):
        return "login" if response["Location"].startswith(resolve_url(settings.LOGIN_URL)) else "ok"
    if status == 401:
        return "login"
    if 200 <= status < 300 or status == 400:
        return "ok"
    return str(status)


def _ask(route: Route, row: str, role: str, world: World) -> str:
    api = route.pattern.startswith("api/")
    client = _client(role, api=api, world=world)
    url = _url(route, row, role, world)
    with transaction.atomic():
        if route.methods[0] == "GET":
            response = client.get(url)
            if response.status_code == 405:  # a function view that only takes moves
                response = client.post(url, MOVE_BODY)
        elif api:
            response = client.post(url, json.dumps(MOVE_BODY), content_type="application/json")
        else:
            response = client.post(url, MOVE_BODY)
        transaction.set_rollback(True)  # every cell sees the same world
    return _classify(response)


# The tests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES, ids=[r.name for r in ROUTES])
def test_each_role_gets_what_the_specification_says(world: World, db: None, route: Route) -> None:
    rows = _rows(route)
    missing = [row for row in rows if row not in SPEC]
    assert not missing, f"{route.pattern} ({route.name}) has no entry in SPEC: add {', '.join(missing)}"
    wrong = []
    for row in rows:
        for role in ROLES:
            got = _ask(route, row, role, world)
            if got != SPEC[row][role]:
                wrong.append(f"{row} as {role}: {got}, the specification says {SPEC[row][role]}")
    assert not wrong, "\n".join(wrong)


def test_the_specification_names_only_live_routes() -> None:
    live = {row for route in ROUTES for row in _rows(route)}
    assert set(SPEC) <= live, f"rows for routes that do not exist: {sorted(set(SPEC) - live)}"
