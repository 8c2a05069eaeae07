"""Candour's routes plus one under /api/ and one page that fail on every request (test_server_errors)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.config.urls import handler404
from backend.config.urls import urlpatterns as candour

__all__ = ["handler404", "urlpatterns"]

FAILURE = "injected failure 5e1d"


class BrokenApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    def get(self, request: Request) -> Response:
        raise RuntimeError(FAILURE)


def broken_page(request: HttpRequest) -> HttpResponse:
    raise RuntimeError(FAILURE)


urlpatterns = [path("api/v1/broken/", BrokenApi.as_view()), path("broken/", broken_page), *candour]
