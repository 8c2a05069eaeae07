"""django-axes's hooks: the lockout of a username after wrong passwords knows no client address."""

from __future__ import annotations

from django.http import HttpRequest


def client_address_none(request: HttpRequest) -> None:
    """The address axes stores with each attempt: none. Candour forgets the client's address at the
    door (ForgetClientAddressMiddleware); axes would store the stand-in, and locks by username alone."""
    return None
