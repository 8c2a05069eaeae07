"""Django's admin, behind the staff sign-in: the same page, the same lockout, the same second factor.

The admin has no sign-in form of its own: its login URL sends the browser to /sign-in/ (django-axes,
then the second factor) and back. Like django-otp's OTPAdminSite, the admin lets in only a session
that has passed a second factor, whatever else it is (an administrator always owes one).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from backend.organisations.second_factor import second_factor_passed


class CandourAdminSite(admin.AdminSite):
    site_header = "Candour administration"
    site_title = "Candour administration"

    def has_permission(self, request: HttpRequest) -> bool:
        return super().has_permission(request) and second_factor_passed(request.user)

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        index = reverse("admin:index", current_app=self.name)
        if request.method == "GET" and self.has_permission(request):
            return HttpResponseRedirect(index)
        after = request.GET.get("next", "")
        if not url_has_allowed_host_and_scheme(after, allowed_hosts={request.get_host()}):
            after = index
        return redirect_to_login(after)
