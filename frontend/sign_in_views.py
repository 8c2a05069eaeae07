"""Staff sign-in: a password (django-axes locks a username after too many wrong ones), then a second
factor where the user owes one (backend/organisations/second_factor.py): a code from an authenticator
app or a one-time backup code. A user who owes one and has no device sets up an app first.

The admin signs in here too (backend/config/admin_site.py). Raisers never sign in: nothing here, and
nothing axes counts, is on their pages.
"""

from __future__ import annotations

from collections.abc import Callable
from math import ceil
from typing import Any, cast
from urllib.parse import urlencode

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth import login as auth_login
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from django_otp.models import Device

from backend.config.access import access
from backend.organisations import second_factor as sf

CODE_STEP = "frontend:sign_in_code"
SET_UP_STEP = "frontend:sign_in_set_up"


def _after(request: HttpRequest) -> str:
    """Where to go once signed in: the page that asked (``next``), if it is one of Candour's own."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _step(name: str, after: str) -> str:
    return f"{reverse(name)}?{urlencode({'next': after})}"


def locked_out_page(request: HttpRequest, original_response: object = None, credentials: object = None) -> HttpResponse:
    """What a locked username's sign-in answers (axes' AXES_LOCKOUT_CALLABLE): 429, in words, the same
    whether or not the password was right."""
    minutes = ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    return render(request, "frontend/locked_out.html", {"minutes": minutes}, status=429)


class StaffSignInView(LoginView):
    """Step one, the password. The wrong password that reaches the limit is answered with the lockout
    page (axes' middleware); from then on the username is refused before its password is looked at."""

    template_name = "frontend/sign_in.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if sf.second_factor_owed(request.user):
            return redirect(_step(CODE_STEP, self.get_success_url()))
        return super().get(request, *args, **kwargs)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # A locked username is answered at once, right password or not: nothing is checked or written
        # (axes' backend would refuse it too, after the form had been read and the page drawn).
        if not AxesProxyHandler.is_allowed(request):
            return locked_out_page(request)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        auth_login(self.request, form.get_user())
        if sf.second_factor_owed(self.request.user):
            return HttpResponseRedirect(_step(CODE_STEP, self.get_success_url()))
        return HttpResponseRedirect(self.get_success_url())


# The same page for everyone, raisers included; it answers HttpResponse subclasses only.
staff_sign_in_page = access("public")(cast(Callable[..., HttpResponse], StaffSignInView.as_view()))


def _passed(request: HttpRequest, device: Device) -> None:
    """The session has passed its second factor with ``device`` (django-otp keeps which), under a new
    session key: the one that held only a password is not the one that holds both."""
    otp_login(request, device)
    request.session.cycle_key()


def _refused(request: HttpRequest, template: str, context: dict[str, Any], check: sf.CodeCheck) -> HttpResponse:
    if check.wait_until is not None:
        when = timezone.localtime(check.wait_until).strftime("%H:%M:%S")
        errors = {"code": [gettext("Too many wrong codes. Wait until %(when)s, then try again.") % {"when": when}]}
        return render(request, template, {**context, "errors": errors}, status=429)
    errors = {"code": [gettext("That code is not right. Check it and try again.")]}
    return render(request, template, {**context, "errors": errors}, status=400)


@access("signing-in")
@never_cache
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def sign_in_code_page(request: HttpRequest) -> HttpResponse:
    """Step two: a code from the authenticator app, or a backup code (each works once)."""
    after = _after(request)
    if not sf.second_factor_owed(request.user):
        return redirect(after)
    if not sf.second_factor_devices(request.user):
        return redirect(_step(SET_UP_STEP, after))
    context: dict[str, Any] = {"next": after, "errors": {}}
    if request.method == "GET":
        return render(request, "frontend/sign_in_code.html", context)
    check = sf.second_factor_check(user=request.user, code=request.POST.get("code", ""))  # type: ignore[arg-type]
    if check.device is None:
        return _refused(request, "frontend/sign_in_code.html", context, check)
    _passed(request, check.device)
    return redirect(after)


@access("signing-in")
@never_cache
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def sign_in_set_up_page(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator app: on first sign-in when a second factor is owed and there is no
    device, or later from the account page. Confirmed by a code from the app; new backup codes follow."""
    after = _after(request)
    user = request.user
    if not sf.second_factor_set_up_allowed(user):
        return redirect(_step(CODE_STEP, after))
    device = sf.app_set_up_start(user=user)  # type: ignore[arg-type]
    context: dict[str, Any] = {
        "next": after,
        "secret": sf.app_secret_text(device),
        "uri": device.config_url,
        "owed": sf.second_factor_owed(user),
        "errors": {},
    }
    if request.method == "GET":
        return render(request, "frontend/sign_in_set_up.html", context)
    check = sf.app_set_up_confirm(user=user, code=request.POST.get("code", ""))  # type: ignore[arg-type]
    if check.device is None:
        return _refused(request, "frontend/sign_in_set_up.html", context, check)
    _passed(request, check.device)
    issued = sf.backup_codes_issue(user=user)  # type: ignore[arg-type]
    return render(request, "frontend/backup_codes.html", {"codes": issued.codes, "next": after, "app": True})


@access("staff")
@never_cache
@require_http_methods(["GET", "POST"])
def two_step_page(request: HttpRequest) -> HttpResponse:
    """The account's second factor: set up (or replace) an authenticator app, make new backup codes."""
    if request.method == "POST":
        issued = sf.backup_codes_issue(user=request.user)  # type: ignore[arg-type]
        if not sf.second_factor_passed(request.user):
            # A handler signed in with a password alone: the codes just shown are this session's factor.
            _passed(request, issued.device)
        context = {"codes": issued.codes, "next": reverse("frontend:two_step"), "app": False}
        return render(request, "frontend/backup_codes.html", context)
    summary = sf.second_factor_summary(user=request.user)  # type: ignore[arg-type]
    return render(request, "frontend/two_step.html", {"summary": summary})
