"""Django's admin app, with Candour's site (backend/config/admin_site.py) as ``admin.site``. Apart from
the site, because an app's config is imported before any model can be."""

from django.contrib.admin.apps import AdminConfig


class CandourAdminConfig(AdminConfig):
    default_site = "backend.config.admin_site.CandourAdminSite"
