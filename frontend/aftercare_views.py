"""The raiser's pages after closure (services.aftercare): answer a check-in, report detriment, say
whether they want to be asked. Each calls one service; the follow-up page shows them."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy

from backend.concerns import services
from backend.concerns.aftercare_inputs import AftercareConsentInput, CheckInAnswerInput, DetrimentReportInput
from backend.concerns.models import Concern
from frontend.views import raiser_move


@raiser_move(
    field="detriment", refusal=gettext_lazy("There is no question waiting for your answer."), form=CheckInAnswerInput
)
def follow_up_check_in_page(request: HttpRequest, concern: Concern, fields: dict[str, Any]) -> HttpResponse | None:
    services.concern_check_in_answer(concern_id=concern.pk, **fields)
    return None


@raiser_move(
    field="report",
    refusal=gettext_lazy("You can report this here once your concern is closed."),
    form=DetrimentReportInput,
)
def follow_up_detriment_page(request: HttpRequest, concern: Concern, fields: dict[str, Any]) -> HttpResponse | None:
    services.concern_detriment_report_after_closure(concern_id=concern.pk, words=fields["report"])
    return None


@raiser_move(field="consent", refusal=gettext_lazy("You have already answered."), form=AftercareConsentInput)
def follow_up_aftercare_consent_page(
    request: HttpRequest, concern: Concern, fields: dict[str, Any]
) -> HttpResponse | None:
    services.concern_aftercare_consent(concern_id=concern.pk, **fields)
    return None
