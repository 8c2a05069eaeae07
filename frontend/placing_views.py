"""The case page's placing form for a concern raised by text: one service, its refusals shown the
case page's way (frontend.views)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from backend.concerns import selectors, services
from backend.concerns.inputs import SmsPlaceInput
from backend.config.access import access
from backend.errors import ApplicationError
from frontend.views import _case_page, _refusal_page


@access("staff")
@require_POST
def concern_sms_place_page(request: HttpRequest, reference: str) -> HttpResponse:
    concern = selectors.concern_for_handler(user=request.user, reference=reference)
    if concern is None:
        raise Http404
    form = SmsPlaceInput(data=request.POST)
    if not form.is_valid():
        errors = {field: [str(m) for m in messages] for field, messages in form.errors.items()}
        return _case_page(request, reference, errors=errors, status=400)
    fields = form.validated_data
    try:
        services.concern_sms_place(
            concern_id=concern.pk,
            user=request.user,  # type: ignore[arg-type]  # @access("staff"): signed in
            unit=fields["unit"],
            raiser_kind=fields["raiser_kind"],
            themes=sorted(fields["themes"]),
        )
    except ApplicationError as refused:
        return _refusal_page(request, refused, reference=reference)
    return redirect("frontend:case", reference=reference)
