import os

from django.core.wsgi import get_wsgi_application

from backend.config.env import settings_module_default

os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module_default())
application = get_wsgi_application()
