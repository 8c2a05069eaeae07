"""Every page declares who may open it; a test walks the URLs and fails on any page that does not."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, Literal, TypeVar

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from backend.organisations.second_factor import second_factor_owed

# HttpResponseBase: a page may stream its answer (StreamingHttpResponse, a CSV) as well as return one.
V = TypeVar("V", bound=Callable[..., HttpResponseBase])
Access = Literal["public", "signing-in", "staff"]

# Where a session that owes a second factor is sent from a staff page (it passes on to setting one up
# when there is no device yet).
SECOND_FACTOR_URL = "frontend:sign_in_code"


def _staff_required(view: V) -> V:
    """Signed in, and past the second factor wherever the user owes one (second_factor_owed)."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if second_factor_owed(request.user):
            return redirect_to_login(request.get_full_path(), login_url=SECOND_FACTOR_URL)
        return view(request, *args, **kwargs)

    return guarded  # type: ignore[return-value]


def access(level: Access) -> Callable[[V], V]:
    """``public``: anyone, raisers included. ``signing-in``: signed in with a password, the second
    factor perhaps still owed (the second-factor pages alone). ``staff``: signed in and past the second
    factor where owed; the selector then scopes by role."""

    def decorate(view: V) -> V:
        wrapped: V = view
        if level == "staff":
            wrapped = _staff_required(view)
        elif level == "signing-in":
            wrapped = login_required(view)
        wrapped.candour_access = level  # type: ignore[attr-defined]
        return wrapped

    return decorate
