"""Who raised a named or confidential concern, shown on its own page behind a button (POST), so the
look is a deliberate act: services.concern_identity_reveal decides who may look and records each look
in the concern's audit trail. The answer is never cached and never linked to."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from backend.concerns import selectors, services
from backend.config.access import access
from backend.errors import ApplicationError
from frontend.views import _refusal_page


@access("staff")
@never_cache
@require_POST
def concern_identity_page(request: HttpRequest, reference: str) -> HttpResponse:
    concern = selectors.concern_for_handler(user=request.user, reference=reference)
    if concern is None:
        raise Http404
    try:
        identity = services.concern_identity_reveal(concern_id=concern.pk, user=request.user)  # type: ignore[arg-type]
    except ApplicationError as refused:
        return _refusal_page(request, refused, reference=reference)
    return render(request, "frontend/identity.html", {"concern": concern, "identity": identity})
