"""gunicorn settings for Candour. The access log leaves out the client address and user agent:
an anonymous raiser's request must not be recorded with either (the default format has both)."""

bind = "127.0.0.1:8000"
workers = 2
threads = 4
graceful_timeout = 5
accesslog = "-"
# The request id (the response's X-Request-ID, backend/config/request_id.py) ties a line to the
# application's own log lines for that request.
access_log_format = '%(t)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms %({x-request-id}o)s'
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


def on_starting(server: object) -> None:
    """With PROMETHEUS_MULTIPROC_DIR set, each worker writes its request counters to files there and
    /metrics sums them (backend/config/metrics.py); a new arbiter starts from an empty folder, or the
    counts of processes long gone would be summed in."""
    import os
    from pathlib import Path

    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for stale in Path(folder).glob("*.db"):
            stale.unlink()


def child_exit(server: object, worker: object) -> None:
    """A worker gone: its live gauges stop counting (prometheus-client's multiprocess rule)."""
    import os

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
