"""Candour's settings, one module per shape, each starting from ``base`` (everything shared):

- ``local``: the embedded default that ``make run`` uses (SQLite under var/, the filesystem broker,
  secrets generated once into var/secrets.json, stand-ins for Twilio, e-mail on the console);
- ``test``: the test suite (named in pyproject.toml's pytest options): ``local`` with what tests need;
- ``production``: every secret demanded from the environment, and the transport security that
  ``manage.py check --deploy`` asks for.

DJANGO_SETTINGS_MODULE names the module. Where it names none, manage.py, the WSGI application and the
Celery app take ``production`` when ``CANDOUR_PRODUCTION=1`` and ``local`` otherwise
(``backend.config.env.settings_module_default``); ``local`` refuses to start under
``CANDOUR_PRODUCTION=1``, so the flag can never end up running the demo's settings.
"""
