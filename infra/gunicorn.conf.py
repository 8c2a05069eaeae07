"""gunicorn settings for Candour. The access log leaves out the client address and user agent:
an anonymous raiser's request must not be recorded with either (the default format has both)."""

bind = "127.0.0.1:8000"
workers = 2
threads = 4
graceful_timeout = 5
accesslog = "-"
access_log_format = '%(t)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
# Forwarded headers are Django's to judge: X-Forwarded-Proto counts only with DJANGO_BEHIND_PROXY=1
# (SECURE_PROXY_SSL_HEADER, production settings). By default gunicorn trusts any peer on 127.0.0.1
# (a proxy on the same host, passing on what its client sent) to say the request came over https,
# and to set SCRIPT_NAME and PATH_INFO by header, whatever the setting says.
forwarded_allow_ips = ""
secure_scheme_headers: dict[str, str] = {}


def post_worker_init(worker: object) -> None:
    """What a web worker holds once Django is loaded (settings, models, URLs, templates) lives as long
    as the process. Frozen, the cyclic garbage collector no longer walks it on every full collection,
    which each request's allocations set off now and then: a pause of milliseconds in the tail."""
    import gc

    gc.freeze()
