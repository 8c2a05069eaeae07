"""Proof of disclosure on the web: the published keys, the certificate as a file, and the public check.
Each calls one function of backend.concerns.disclosure. None of them stores or logs what it is sent:
the words are a raiser's, and the certificate says where they spoke up."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from backend.concerns import disclosure
from backend.concerns.disclosure_inputs import DisclosureCheckInput
from backend.config.access import access


@access("public")
@require_GET
@cache_control(public=True, max_age=300)
def disclosure_keys(request: HttpRequest) -> JsonResponse:
    """Every key that ever signed a certificate, so old certificates can be checked without Candour."""
    response = JsonResponse({"algorithm": "Ed25519", "keys": disclosure.keyring().published()})
    response["Access-Control-Allow-Origin"] = "*"  # public keys: any site's own checker may fetch them
    return response


def _errors(form: DisclosureCheckInput) -> dict[str, list[str]]:
    return {field: [str(m) for m in messages] for field, messages in form.errors.items()}


@access("public")
@never_cache
@require_http_methods(["GET", "POST"])
def disclosure_verify_page(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, "frontend/disclosure_verify.html", {"errors": {}})
    form = DisclosureCheckInput(data={**request.POST.dict(), **request.FILES.dict()})
    if not form.is_valid():
        return render(request, "frontend/disclosure_verify.html", {"errors": _errors(form)}, status=400)
    try:
        check = disclosure.disclosure_check(
            document=form.validated_data["certificate"], words=form.validated_data["text"]
        )
    except disclosure.CertificateUnreadable as unreadable:
        errors = {"certificate": [str(unreadable)]}
        return render(request, "frontend/disclosure_verify.html", {"errors": errors}, status=400)
    # The words are not sent back into the page: the answer is all it holds.
    return render(request, "frontend/disclosure_verify.html", {"errors": {}, "check": check})


@access("public")
@never_cache
@require_POST
def disclosure_certificate_download(request: HttpRequest) -> HttpResponse:
    """The receipt page's certificate as a .json file. The page posts it back (Candour keeps no copy to
    serve); only a certificate Candour signed is handed back, so this cannot sign anything."""
    try:
        certificate = disclosure.disclosure_certificate_verified(document=request.POST.get("certificate", ""))
    except disclosure.CertificateUnreadable as unreadable:
        errors = {"certificate": [str(unreadable)]}
        return render(request, "frontend/disclosure_verify.html", {"errors": errors}, status=400)
    response = HttpResponse(certificate.document(), content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{certificate.filename()}"'
    return response
