"""What every page's header needs to know about who is signed in."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest

from backend.organisations.second_factor import second_factor_owed


def staff(request: HttpRequest) -> dict[str, Callable[[], bool]]:
    """``staff_signed_in``: signed in and past the second factor where one is owed, so the header offers
    the staff pages. Asked only by a page that shows the header for a signed-in user (a callable: the
    template calls it), so a raiser's page costs nothing."""

    def signed_in() -> bool:
        user = getattr(request, "user", None)
        return user is not None and user.is_authenticated and not second_factor_owed(user)

    return {"staff_signed_in": signed_in}
