"""gunicorn settings for Candour. The access log leaves out the client address and user agent:
an anonymous raiser's request must not be recorded with either (the default format has both)."""

bind = "127.0.0.1:8000"
workers = 2
threads = 4
graceful_timeout = 5
accesslog = "-"
access_log_format = '%(t)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
