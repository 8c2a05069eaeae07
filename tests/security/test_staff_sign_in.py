"""Staff sign-in under attack (issue 10, item 4): a thousand wrong passwords for one username lock it
(per username, never by address: no address is stored), the right password is then refused while
locked and, after the cool-off, still needs the second factor; wrong codes are refused, a right app
code or backup code lets the user in, a backup code only once; a handler with no device signs in with
the password; the admin refuses a superuser who has not passed the second factor. Raisers' pages are
never counted or locked.

Every request goes through the test client and the real middleware, backends and views: axes counts
each one as it would in production (the suite takes seconds because a locked username's tries are
refused before the password is hashed and write nothing).
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from backend.organisations.demo import DEMO_PASSWORD
from backend.organisations.models import Role
from backend.organisations.second_factor import second_factor_required
from tests.support.concern_bodies import concern_body
from tests.support.factories import StaffFactory
from tests.support.sign_in import api_client, backup_code_for, sign_in

pytestmark = pytest.mark.django_db

SIGN_IN = "/sign-in/"
CODE = "/sign-in/code/"


def _user(username: str) -> User:
    return get_user_model().objects.get(username=username)


def _password(client: Client, username: str, password: str = DEMO_PASSWORD, **extra: str):  # type: ignore[no-untyped-def]
    return client.post(SIGN_IN, {"username": username, "password": password, **extra})


def _app(user: User) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def _app_code(device: TOTPDevice) -> str:
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def _signed_in_to_staff_pages(client: Client) -> bool:
    answer = client.get("/inbox/")
    assert answer.status_code in (200, 302), answer.status_code
    return answer.status_code == 200


def test_a_thousand_wrong_passwords_lock_the_username_and_the_right_one_then_needs_the_second_factor(
    demo: None,
) -> None:
    attacker = Client()
    tried = [_password(attacker, "guardian", f"guess-{n:04d}", csrfmiddlewaretoken="csrf-canary") for n in range(1000)]
    statuses = [answer.status_code for answer in tried]

    limit = settings.AXES_FAILURE_LIMIT
    assert statuses[: limit - 1] == [200] * (limit - 1)  # the form again: wrong username or password
    assert statuses[limit - 1 :] == [429] * (1000 - limit + 1)  # locked from the limit on, never a 500
    locked = _password(attacker, "guardian")  # the right password, while locked
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "You cannot sign in for now" in page
    assert "too many wrong passwords" in page
    assert "_auth_user_id" not in attacker.session
    assert not _signed_in_to_staff_pages(attacker)

    # Per username: someone else signs in as usual, from the same client.
    assert _password(Client(), "governor").status_code == 302

    # One row for the username, counting to the limit; no address, no access log of any sign-in.
    (attempt,) = AccessAttempt.objects.all()
    assert (attempt.username, attempt.failures_since_start) == ("guardian", limit)
    assert attempt.ip_address is None
    assert not AccessAttempt.objects.exclude(ip_address=None).exists()
    assert not AccessLog.objects.exists() and not AccessFailureLog.objects.exists()
    for text in (attempt.get_data, attempt.post_data, attempt.user_agent):
        assert "0.0.0.0" not in text and "127.0.0.1" not in text
        assert "guess-" not in text  # the passwords tried are never stored either
        assert "csrf-canary" not in text  # nor the browser's CSRF token, which would tie tries together

    # After the cool-off the right password works again, and a guardian still owes the second factor.
    later = timezone.now() + settings.AXES_COOLOFF_TIME + timedelta(seconds=1)
    with time_machine.travel(later, tick=True):
        staff = Client()
        answer = _password(staff, "guardian")
        assert answer.status_code == 302
        assert answer["Location"].startswith(CODE)
        assert not _signed_in_to_staff_pages(staff)
        assert staff.get("/api/v1/concerns/").status_code in (401, 403)  # nor the API by session
        assert staff.get("/inbox/")["Location"].startswith(CODE)
        assert staff.post(answer["Location"], {"code": backup_code_for(_user("guardian"))}).status_code == 302
        assert _signed_in_to_staff_pages(staff)
        assert staff.get("/api/v1/concerns/").status_code == 200
    assert not AccessAttempt.objects.exists()  # the right password cleared the count


def test_a_wrong_app_code_is_refused_and_a_right_one_lets_them_in(demo: None) -> None:
    device = _app(_user("guardian"))
    client = Client()
    answer = _password(client, "guardian")
    password_only = client.session.session_key
    assert answer["Location"].startswith(CODE)

    right = _app_code(device)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    refused = client.post(answer["Location"], {"code": wrong})
    assert refused.status_code == 400
    assert "That code is not right" in refused.content.decode()
    assert not _signed_in_to_staff_pages(client)
    # Straight after a wrong code the device waits (django-otp's throttle), even for the right one.
    waiting = client.post(answer["Location"], {"code": right})
    assert waiting.status_code == 429
    assert "Too many wrong codes" in waiting.content.decode()

    with time_machine.travel(timezone.now() + timedelta(seconds=2), tick=True):
        passed = client.post(answer["Location"], {"code": _app_code(device)})
        assert passed.status_code == 302
        assert passed["Location"] == "/inbox/"
        assert _signed_in_to_staff_pages(client)
        assert client.session.session_key != password_only  # a new session key once both factors passed


def test_a_backup_code_lets_them_in_once(demo: None) -> None:
    code = backup_code_for(_user("regulator"))
    first = Client()
    answer = _password(first, "regulator", next="/oversight/")
    assert answer["Location"].startswith(CODE)
    passed = first.post(answer["Location"], {"code": code.upper()})  # typed in capitals: still the code
    assert (passed.status_code, passed["Location"]) == (302, "/oversight/")
    assert _signed_in_to_staff_pages(first)
    assert not StaticToken.objects.filter(token=code).exists()

    second = Client()
    answer = _password(second, "regulator")
    assert second.post(answer["Location"], {"code": code}).status_code == 400  # used up
    assert not _signed_in_to_staff_pages(second)


def test_a_handler_without_a_device_gets_in_with_the_password_and_one_with_a_device_needs_it(demo: None) -> None:
    handler = Client()
    answer = _password(handler, "handler")
    assert (answer.status_code, answer["Location"]) == (302, "/inbox/")
    assert _signed_in_to_staff_pages(handler)
    assert handler.get("/api/v1/concerns/").status_code == 200

    # Optional until set up: once the handler has a device, it is needed every time.
    code = backup_code_for(_user("handler"))
    again = Client()
    answer = _password(again, "handler")
    assert answer["Location"].startswith(CODE)
    assert not _signed_in_to_staff_pages(again)
    assert again.post(answer["Location"], {"code": code}).status_code == 302
    assert _signed_in_to_staff_pages(again)


def test_the_admin_refuses_a_superuser_who_has_not_passed_the_second_factor(demo: None) -> None:
    forced = Client()
    forced.force_login(_user("admin"))  # signed in, no second factor
    half = Client()
    assert _password(half, "admin")["Location"].startswith(CODE)  # the password alone
    for client in (forced, half):
        index = client.get("/admin/")
        assert index.status_code == 302
        assert index["Location"].startswith("/admin/login/")
        assert client.get(index["Location"])["Location"].startswith("/sign-in/?next=/admin/")
        assert client.get("/admin/concerns/concern/").status_code == 302
        assert client.get("/admin/otp_static/staticdevice/").status_code == 302

    passed = sign_in(Client(), "admin", next_url="/admin/")
    assert passed.get("/admin/").status_code == 200
    # The admin shows devices but never their secrets or codes.
    device = StaticDevice.objects.filter(user__username="admin").first()
    assert device is not None
    change = passed.get(f"/admin/otp_static/staticdevice/{device.pk}/change/").content.decode()
    assert not any(token in change for token in device.token_set.values_list("token", flat=True))


def test_the_admin_sign_in_is_the_staff_sign_in(demo: None) -> None:
    answer = Client().get("/admin/login/?next=/admin/organisations/organisation/")
    assert answer.status_code == 302
    assert answer["Location"] == "/sign-in/?next=/admin/organisations/organisation/"
    # The admin's own form is never offered, so it cannot be used to step around the lockout.
    assert Client().post("/admin/login/", {"username": "admin", "password": DEMO_PASSWORD}).status_code == 302


def test_a_required_user_with_no_device_sets_up_an_app_and_gets_backup_codes(ward: object) -> None:
    guardian = StaffFactory(membership__role=Role.GUARDIAN, membership__organisation=ward.parent)  # type: ignore[attr-defined]
    client = Client()
    answer = _password(client, guardian.username)
    assert answer["Location"].startswith(CODE)
    set_up = client.get(answer["Location"])
    assert set_up.status_code == 302 and set_up["Location"].startswith("/sign-in/set-up/")
    page = client.get(set_up["Location"])
    assert page.status_code == 200
    text = page.content.decode()
    device = TOTPDevice.objects.get(user=guardian, confirmed=False)
    assert "otpauth://totp/Candour" in text
    assert "<script" not in text  # the key and link as text: no script needed
    assert not _signed_in_to_staff_pages(client)

    done = client.post(set_up["Location"], {"code": _app_code(device)})
    assert done.status_code == 200
    codes = re.findall(r'data-testid="backup-code">([a-z2-7]+)<', done.content.decode())
    assert len(codes) == 10
    assert _signed_in_to_staff_pages(client)
    # Next time the app, or one of the codes, is needed.
    again = Client()
    assert _password(again, guardian.username)["Location"].startswith(CODE)
    assert again.post(CODE, {"code": codes[0]}).status_code == 302


def test_a_password_alone_cannot_replace_a_device_that_was_never_passed(demo: None) -> None:
    device = _app(_user("guardian"))
    client = Client()
    _password(client, "guardian")
    answer = client.get("/sign-in/set-up/")
    assert answer.status_code == 302 and answer["Location"].startswith(CODE)
    assert client.post("/sign-in/set-up/", {"code": _app_code(device)}).status_code == 302
    assert list(TOTPDevice.objects.filter(user__username="guardian")) == [device]
    assert client.post("/account/two-step/").status_code == 302  # no new backup codes either
    assert not _signed_in_to_staff_pages(client)


def test_sign_in_goes_back_only_to_candour_pages(demo: None) -> None:
    client = Client()
    answer = _password(client, "handler", next="https://elsewhere.example/steal")
    assert answer["Location"] == "/inbox/"


def test_raisers_pages_are_never_counted_or_locked(demo: None) -> None:
    # Lock a username first: raisers are not affected by it, nor counted by axes themselves.
    for n in range(settings.AXES_FAILURE_LIMIT):
        _password(Client(), "guardian", f"guess-{n}")
    before = list(AccessAttempt.objects.values_list("username", "failures_since_start"))

    raiser = Client()
    raised = raiser.post("/api/v1/concerns/raise/", json.dumps(concern_body()), content_type="application/json")
    assert raised.status_code == 201
    for _ in range(30):
        assert raiser.post("/follow-up/", {"receipt": "0000-0000-0000-0000-0000-0000"}).status_code == 400
    assert raiser.post("/follow-up/", {"receipt": raised.json()["receipt"]}).status_code == 302
    assert raiser.get("/follow-up/concern/").status_code == 200
    assert list(AccessAttempt.objects.values_list("username", "failures_since_start")) == before


@pytest.mark.parametrize(
    ("username", "required"),
    [
        ("guardian", True),
        ("governor", True),
        ("commissioner", True),
        ("regulator", True),
        ("patient-group", True),
        ("admin", True),
        ("handler", False),
    ],
)
def test_who_owes_a_second_factor(demo: None, username: str, required: bool) -> None:
    assert second_factor_required(_user(username)) is required


def test_an_integration_token_is_not_a_sign_in_and_owes_no_second_factor(demo: None) -> None:
    assert api_client("guardian").get("/api/v1/concerns/").status_code == 200
