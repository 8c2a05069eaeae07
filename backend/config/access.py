"""Every page declares who may open it; a test walks the URLs and fails on any page that does not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeVar

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse

V = TypeVar("V", bound=Callable[..., HttpResponse])
Access = Literal["public", "staff"]


def access(level: Access) -> Callable[[V], V]:
    """``public``: anyone, raisers included. ``staff``: signed in; the selector then scopes by role."""

    def decorate(view: V) -> V:
        wrapped: V = login_required(view) if level == "staff" else view
        wrapped.candour_access = level  # type: ignore[attr-defined]
        return wrapped

    return decorate
