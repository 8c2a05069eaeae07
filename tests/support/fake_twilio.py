"""A local stand-in for Twilio: the outer edge of the world, on 127.0.0.1.

In tests (``with FakeTwilio() as fake``) and as a process (``python -m tests.support.fake_twilio
--port N``, with TWILIO_API_BASE_URL=http://127.0.0.1:N in Candour's environment) it:

- answers ``POST /2010-04-01/Accounts/{sid}/Messages.json`` like Twilio's Messages API: checks the
  basic auth, records the form, returns 201 and a message (sid ``SM...``, status ``queued``);
- keeps every message's body, as Twilio does, outbound and inbound (a text sent with
  ``send_inbound`` or made with ``receive``), with its status, until redacted: ``POST
  .../Messages/{sid}.json`` with ``Body=`` empties it (200), but only once the message has a final
  status (delivered, undelivered, failed, read, canceled; received for an inbound text): before,
  400 with error 30400; an unknown sid gets 404 (20404). ``GET .../Messages/{sid}.json`` reads one,
  and an inbound text's media are listed and deleted at ``.../Messages/{sid}/Media[/{ME}].json``.
  ``bodies_held()`` and ``media_held()`` say what it still holds; ``redactions`` lists every
  redaction request with its answer;
- can be told to fail the next N requests with a status (500, or 400 with a Twilio error code) or to
  hold them (a hang past the client's timeout), so retries can be tested (``on="send"``: the
  Messages API's creates, the default; ``on="redact"``: redactions);
- signs webhooks as Twilio does (X-Twilio-Signature, HMAC-SHA1 of the URL and sorted form with the
  auth token) and posts them: status callbacks and inbound texts. With ``auto_callbacks`` each
  accepted message with a StatusCallback moves to "sent" then "delivered", reported each time, as
  Twilio would; ``finish`` (or ``set_status`` and ``report``) does it by hand.

As a process it also serves ``GET /_fake/messages`` (what Candour sent, as JSON), ``GET
/_fake/held`` (the bodies it still holds, by sid) and ``POST /_fake/inbound`` (form From, To, Body:
sends a signed inbound text to Candour's /twilio/sms/ and answers with Candour's TwiML, which is
empty: Candour's reply comes a moment later as a message of its own, listed at
``/_fake/messages``), so a developer can hold an SMS conversation with ``curl``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import secrets
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from twilio.request_validator import RequestValidator

MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json$")
MESSAGE_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages/(?P<message>[^/.]+)\.json$")
MEDIA_PATH = re.compile(
    r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages/(?P<message>[^/.]+)/Media(?:/(?P<media>[^/.]+))?\.json$"
)
# The statuses after which Twilio lets a message be redacted (and never changes it again).
FINAL_STATUSES = frozenset({"delivered", "undelivered", "failed", "read", "canceled", "received"})
NOT_FINAL_CODE = 30400


def channel_settings(settings: Any, server: FakeTwilio, *, status_callback: bool = False) -> None:
    """Point this process's SMS channel (the real twilio SDK) at ``server``: its account and address,
    one default sender, no Messaging Service, a short timeout, and Twilio as the sms channel. A test
    adds what it needs besides (a resolver, the public base URL)."""
    settings.TWILIO_ACCOUNT_SID = server.account_sid
    settings.TWILIO_AUTH_TOKEN = server.auth_token
    settings.TWILIO_API_BASE_URL = server.base_url
    settings.TWILIO_DEFAULT_FROM = "+447700900000"
    settings.TWILIO_MESSAGING_SERVICE_SID = ""
    settings.TWILIO_STATUS_CALLBACK = status_callback
    settings.TWILIO_HTTP_TIMEOUT = 5
    settings.NOTIFICATIONS_CHANNELS = None  # the default: sms is Twilio


def new_sid(prefix: str = "SM") -> str:
    return prefix + secrets.token_hex(16)


def status_callback_params(
    message_sid: str, status: str, *, account_sid: str = "ACtest", to: str = "+447700900123", error_code: str = ""
) -> dict[str, str]:
    """The form Twilio posts to a StatusCallback URL."""
    params = {
        "AccountSid": account_sid,
        "ApiVersion": "2010-04-01",
        "MessageSid": message_sid,
        "SmsSid": message_sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "To": to,
        "From": "+447700900000",
    }
    if error_code:
        params["ErrorCode"] = error_code
    return params


def inbound_params(
    *,
    from_: str,
    to: str,
    body: str,
    message_sid: str | None = None,
    account_sid: str = "ACtest",
    media_urls: tuple[str, ...] = (),
) -> dict[str, str]:
    """The form Twilio posts to a number's messaging webhook when someone texts it."""
    sid = message_sid or new_sid()
    media = {f"MediaUrl{i}": url for i, url in enumerate(media_urls)}
    media |= {f"MediaContentType{i}": "image/jpeg" for i in range(len(media_urls))}
    return {
        "ToCountry": "GB",
        "SmsMessageSid": sid,
        "NumMedia": str(len(media_urls)),
        **media,
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "To": to,
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": account_sid,
        "From": from_,
        "ApiVersion": "2010-04-01",
    }


def sign(auth_token: str, url: str, params: dict[str, str] | Any) -> str:
    """X-Twilio-Signature for a POST of ``params`` to ``url`` (``params`` may be a QueryDict or
    a dict of lists, for repeated parameters)."""
    return str(RequestValidator(auth_token).compute_signature(url, params))


def post_form(url: str, params: dict[str, str], *, signature: str | None, timeout: float = 10) -> tuple[int, str]:
    """POST a urlencoded form the way Twilio does; returns (status, body), HTTP errors included."""
    data = urllib.parse.urlencode(params).encode()
    request = urllib.request.Request(url, data=data, method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    request.add_header("User-Agent", "TwilioProxy/1.1")
    if signature is not None:
        request.add_header("X-Twilio-Signature", signature)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode(errors="replace")


@dataclass
class _Trouble:
    kind: str  # "fail" or "hang"
    status: int = 500
    code: int | None = None
    seconds: float = 0.0
    accept: bool = False  # hang: accept the message after all (Twilio took it, the client gave up)


@dataclass
class _Held:
    """One message as Twilio keeps it."""

    sid: str
    direction: str  # "outbound-api" or "inbound"
    to: str
    from_: str
    body: str
    status: str
    status_callback: str = ""
    media: list[str] = field(default_factory=list)  # media sids
    created: float = field(default_factory=time.time)


class FakeTwilio:
    def __init__(
        self,
        *,
        account_sid: str = "ACtest",
        auth_token: str = "test-token",
        host: str = "127.0.0.1",
        port: int = 0,
        auto_callbacks: bool = False,
        webhook_base: str = "http://127.0.0.1:8000",
        latency: float = 0.0,
    ) -> None:
        self.account_sid, self.auth_token = account_sid, auth_token
        # Seconds each API call waits before it is answered: Twilio's API is a round trip across the
        # internet (a few hundred milliseconds), not a local socket, and a worker waits that long.
        self.latency = latency
        self.auto_callbacks = auto_callbacks
        self.webhook_base = webhook_base.rstrip("/")
        # Every Messages API request's form, accepted or not, in order.
        self.requests: list[dict[str, str]] = []
        # The messages accepted (201): the form plus "sid".
        self.messages: list[dict[str, str]] = []
        # Status callbacks sent by auto_callbacks, finish and report: (url, params, response status).
        self.callbacks: list[tuple[str, dict[str, str], int]] = []
        # Every redaction request (a POST to one Message resource): (sid, the answer's status).
        self.redactions: list[tuple[str, int]] = []
        # What Twilio holds, by sid: every message accepted or received, body and all, until redacted.
        self.held: dict[str, _Held] = {}
        self._trouble: list[_Trouble] = []
        self._redact_trouble: list[_Trouble] = []
        # While set (down()), every Messages API create is answered with this status, however many.
        self._outage: int | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
                path = urllib.parse.urlsplit(self.path).path
                if path == "/_fake/inbound":
                    fake._fake_inbound(self, form)
                    return
                if fake.latency:
                    fake._stopping.wait(fake.latency)
                one = MESSAGE_PATH.match(path)
                if one is not None:
                    if not fake._authorised(self.headers.get("Authorization", ""), one["sid"]):
                        self._json(401, {"code": 20003, "message": "Authenticate", "status": 401})
                        return
                    self._json(*fake._redact(one["message"], form))
                    return
                match = MESSAGES_PATH.match(path)
                if match is None:
                    self._json(404, {"code": 20404, "message": "The requested resource was not found", "status": 404})
                    return
                if not fake._authorised(self.headers.get("Authorization", ""), match["sid"]):
                    self._json(401, {"code": 20003, "message": "Authenticate", "status": 401})
                    return
                trouble = fake._take_trouble(form)
                if trouble is not None and trouble.kind == "fail":
                    self._json(
                        trouble.status,
                        {"code": trouble.code or trouble.status, "message": "fake failure", "status": trouble.status},
                    )
                    return
                if trouble is not None and trouble.kind == "hang":
                    fake._stopping.wait(trouble.seconds)
                    if not trouble.accept:
                        self.close_connection = True  # no answer at all: the client sees a timeout or a reset
                        return
                message = fake._accept(form)
                # OSError: the client gave up waiting; the message was accepted all the same.
                with contextlib.suppress(OSError):
                    self._json(201, message)

            def do_GET(self) -> None:
                path = urllib.parse.urlsplit(self.path).path
                if path == "/_fake/messages":
                    with fake._lock:
                        self._json(200, {"messages": list(fake.messages)})
                    return
                if path == "/_fake/held":
                    self._json(200, {"bodies": fake.bodies_held(), "media": fake.media_held()})
                    return
                listing = MESSAGES_PATH.match(path)
                if listing is not None:
                    if not fake._authorised(self.headers.get("Authorization", ""), listing["sid"]):
                        self._json(401, {"code": 20003, "message": "Authenticate", "status": 401})
                        return
                    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                    self._json(200, fake._list(query))
                    return
                one, media = MESSAGE_PATH.match(path), MEDIA_PATH.match(path)
                account = (one or media)["sid"] if (one or media) else ""
                if account and not fake._authorised(self.headers.get("Authorization", ""), account):
                    self._json(401, {"code": 20003, "message": "Authenticate", "status": 401})
                    return
                with fake._lock:
                    message = fake.held.get((one or media)["message"]) if (one or media) else None
                    if message is not None and one is not None:
                        self._json(200, fake._resource(message))
                        return
                    if message is not None and media is not None and media["media"] is None:
                        self._json(200, fake._media_page(message))
                        return
                self._json(404, {"code": 20404, "message": "The requested resource was not found", "status": 404})

            def do_DELETE(self) -> None:
                media = MEDIA_PATH.match(urllib.parse.urlsplit(self.path).path)
                if media is None or media["media"] is None:
                    self._json(404, {"code": 20404, "message": "not found", "status": 404})
                    return
                if not fake._authorised(self.headers.get("Authorization", ""), media["sid"]):
                    self._json(401, {"code": 20003, "message": "Authenticate", "status": 401})
                    return
                with fake._lock:
                    message = fake.held.get(media["message"])
                    if message is None or media["media"] not in message.media:
                        gone = True
                    else:
                        message.media.remove(media["media"])
                        gone = False
                if gone:
                    self._json(404, {"code": 20404, "message": "not found", "status": 404})
                    return
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return

        # A listen backlog for a worker pool's worth of callers connecting at once (the default is 5).
        ThreadingHTTPServer.request_queue_size = 128
        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.host, self.port = host, int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="fake-twilio")

    # -- what tests tell it ------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def fail_next(self, n: int = 1, *, status: int = 500, code: int | None = None, on: str = "send") -> None:
        """The next ``n`` Messages API requests get ``status`` (with Twilio error ``code``, if given):
        ``on="send"``, the requests that create a message; ``on="redact"``, redactions."""
        trouble = self._trouble if on == "send" else self._redact_trouble
        with self._lock:
            trouble.extend(_Trouble("fail", status=status, code=code) for _ in range(n))

    def hang_next(self, n: int = 1, *, seconds: float = 2.0, accept: bool = False) -> None:
        """The next ``n`` requests are held ``seconds`` and then dropped unanswered (``accept``: then
        accepted after all, as when Twilio took a message whose sender had stopped waiting)."""
        with self._lock:
            self._trouble.extend(_Trouble("hang", seconds=seconds, accept=accept) for _ in range(n))

    def down(self, *, status: int = 503) -> None:
        """An outage: every message create is answered ``status`` until ``up()``."""
        with self._lock:
            self._outage = status

    def up(self) -> None:
        with self._lock:
            self._outage = None

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.messages.clear()
            self.callbacks.clear()
            self.redactions.clear()
            self.held.clear()
            self._trouble.clear()
            self._redact_trouble.clear()

    # -- what Twilio holds -------------------------------------------------------------------------

    def bodies_held(self) -> dict[str, str]:
        """The bodies Twilio still holds, by sid: every message not yet redacted (an empty text too
        has nothing to hold)."""
        with self._lock:
            return {sid: m.body for sid, m in self.held.items() if m.body}

    def media_held(self) -> dict[str, list[str]]:
        """The media sids Twilio still holds, by message sid."""
        with self._lock:
            return {sid: list(m.media) for sid, m in self.held.items() if m.media}

    def status_of(self, sid: str) -> str:
        with self._lock:
            return self.held[sid].status

    def set_status(self, sid: str, status: str) -> None:
        """Move a message to ``status`` in what Twilio holds (no callback: see ``report``)."""
        with self._lock:
            self.held[sid].status = status

    def report(self, sid: str, status: str | None = None, *, url: str | None = None) -> int:
        """Post a signed status callback for ``sid`` (its current status, unless ``status``) to ``url``
        or the StatusCallback it was sent with; returns the HTTP status."""
        with self._lock:
            message = self.held[sid]
            target = url or message.status_callback
            reported, to = status or message.status, message.to
        if not target:
            raise ValueError(f"message {sid} has no StatusCallback to report to")
        params = status_callback_params(sid, reported, account_sid=self.account_sid, to=to)
        try:
            code, _ = post_form(target, params, signature=self.sign(target, params))
        except OSError:
            code = 0
        with self._lock:
            self.callbacks.append((target, params, code))
        return code

    def finish(self, sid: str, status: str = "delivered") -> int:
        """The message reaches its final ``status``, and Twilio reports it to its StatusCallback."""
        self.set_status(sid, status)
        return self.report(sid)

    def receive(
        self,
        *,
        from_: str,
        to: str,
        body: str,
        message_sid: str | None = None,
        status: str = "received",
        media: int = 0,
    ) -> dict[str, str]:
        """Someone texts one of the account's numbers: Twilio keeps the message (with ``media``
        photos, in ``status``: "receiving" is not final yet) and returns the form it posts to the
        number's webhook, for a test to send however it likes (``send_inbound`` posts it signed)."""
        sid = message_sid or new_sid()
        media_sids = [new_sid("ME") for _ in range(media)]
        base = f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media"
        urls = tuple(f"{base}/{me}" for me in media_sids)
        with self._lock:
            self.held[sid] = _Held(sid, "inbound", to=to, from_=from_, body=body, status=status, media=media_sids)
        return inbound_params(
            from_=from_, to=to, body=body, message_sid=sid, account_sid=self.account_sid, media_urls=urls
        )

    # -- webhooks, signed as Twilio signs them -----------------------------------------------------

    def sign(self, url: str, params: dict[str, str] | Any) -> str:
        return sign(self.auth_token, url, params)

    def send_status_callback(
        self, url: str, message_sid: str, status: str, *, sign_url: str | None = None, **extra: str
    ) -> int:
        """POST a signed status callback to ``url`` (signed for ``sign_url`` if given: the public
        address when ``url`` is reached another way). Returns the HTTP status."""
        params = status_callback_params(message_sid, status, account_sid=self.account_sid, **extra)
        code, _ = post_form(url, params, signature=self.sign(sign_url or url, params))
        return code

    def send_inbound(
        self,
        url: str,
        *,
        from_: str,
        to: str,
        body: str,
        message_sid: str | None = None,
        sign_url: str | None = None,
        media: int = 0,
    ) -> tuple[int, str]:
        """Text Candour: Twilio keeps the message (``receive``) and POSTs it, signed, to ``url``;
        returns (status, TwiML)."""
        params = self.receive(from_=from_, to=to, body=body, message_sid=message_sid, media=media)
        return post_form(url, params, signature=self.sign(sign_url or url, params))

    # -- inside ------------------------------------------------------------------------------------

    def _authorised(self, header: str, path_sid: str) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return path_sid == self.account_sid and secrets.compare_digest(header, f"Basic {expected}")

    def _take_trouble(self, form: dict[str, str]) -> _Trouble | None:
        with self._lock:
            self.requests.append(form)
            if self._outage is not None:
                return _Trouble("fail", status=self._outage)
            return self._trouble.pop(0) if self._trouble else None

    def _accept(self, form: dict[str, str]) -> dict[str, Any]:
        sid = new_sid()
        message = _Held(
            sid,
            "outbound-api",
            to=form.get("To", ""),
            from_=form.get("From", ""),
            body=form.get("Body", ""),
            status="queued",
            status_callback=form.get("StatusCallback", ""),
        )
        with self._lock:
            # "accepted_at": when it reached "Twilio" (epoch seconds), for the benchmarks' reply latency.
            self.messages.append({**form, "sid": sid, "accepted_at": f"{time.time():.6f}"})
            self.held[sid] = message
            resource = self._resource(message)
        resource["messaging_service_sid"] = form.get("MessagingServiceSid")
        if self.auto_callbacks and form.get("StatusCallback"):
            threading.Thread(target=self._report, args=(sid,), daemon=True).start()
        return resource

    def _list(self, query: dict[str, str]) -> dict[str, Any]:
        """The Messages list, newest first, filtered by To and From as Twilio's is; one page."""
        size = int(query.get("PageSize", "50"))
        with self._lock:
            chosen = [
                m
                for m in reversed(self.held.values())
                if (not query.get("To") or m.to == query["To"]) and (not query.get("From") or m.from_ == query["From"])
            ][:size]
            page = [self._resource(m) for m in chosen]
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        return {
            "messages": page,
            "end": max(0, len(page) - 1),
            "first_page_uri": uri,
            "next_page_uri": None,
            "page": 0,
            "page_size": size,
            "previous_page_uri": None,
            "start": 0,
            "uri": uri,
        }

    def _resource(self, message: _Held) -> dict[str, Any]:
        """A Message resource as Twilio's API returns it (under the lock)."""
        now = formatdate(usegmt=True)
        created = formatdate(message.created, usegmt=True)
        return {
            "sid": message.sid,
            "account_sid": self.account_sid,
            "messaging_service_sid": None,
            "to": message.to,
            "from": message.from_,
            "body": message.body,
            "status": message.status,
            "direction": message.direction,
            "num_segments": "1",
            "num_media": str(len(message.media)),
            "api_version": "2010-04-01",
            "date_created": created,
            "date_updated": now,
            "date_sent": None,
            "error_code": None,
            "error_message": None,
            "price": None,
            "price_unit": "GBP",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{message.sid}.json",
        }

    def _media_page(self, message: _Held) -> dict[str, Any]:
        base = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{message.sid}/Media"
        return {
            "media_list": [
                {
                    "sid": me,
                    "account_sid": self.account_sid,
                    "parent_sid": message.sid,
                    "content_type": "image/jpeg",
                    "uri": f"{base}/{me}.json",
                }
                for me in message.media
            ],
            "first_page_uri": f"{base}.json?PageSize=50&Page=0",
            "next_page_uri": None,
            "previous_page_uri": None,
            "page": 0,
            "page_size": 50,
            "start": 0,
            "end": max(len(message.media) - 1, 0),
            "uri": f"{base}.json?PageSize=50&Page=0",
        }

    def _redact(self, sid: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """POST to one Message resource: Twilio takes only ``Body=`` (empty) there, and only once
        the message's status is final."""
        with self._lock:
            trouble = self._redact_trouble.pop(0) if self._redact_trouble else None
            message = self.held.get(sid)
            if trouble is not None:
                answer: tuple[int, dict[str, Any]] = (
                    trouble.status,
                    {"code": trouble.code or trouble.status, "message": "fake failure", "status": trouble.status},
                )
            elif message is None:
                answer = (404, {"code": 20404, "message": "The requested resource was not found", "status": 404})
            elif form.get("Body") != "" or set(form) != {"Body"}:
                answer = (400, {"code": 21619, "message": "Only an empty Body redacts a message", "status": 400})
            elif message.status not in FINAL_STATUSES:
                answer = (
                    400,
                    {"code": NOT_FINAL_CODE, "message": "Cannot redact a message not yet finalized", "status": 400},
                )
            else:
                message.body = ""
                answer = (200, self._resource(message))
            self.redactions.append((sid, answer[0]))
        return answer

    def _report(self, sid: str) -> None:
        for status in ("sent", "delivered"):
            if self._stopping.wait(0.2):
                return
            self.set_status(sid, status)
            self.report(sid)

    def _fake_inbound(self, handler: BaseHTTPRequestHandler, form: dict[str, str]) -> None:
        url = f"{self.webhook_base}/twilio/sms/"
        try:
            status, reply = self.send_inbound(
                url,
                from_=form.get("From", "+447700900123"),
                to=form.get("To", "+447700900000"),
                body=form.get("Body", ""),
            )
        except OSError as exc:
            status, reply = 502, f"Candour unreachable at {url}: {type(exc).__name__}"
        body = reply.encode()
        handler.send_response(status if status < 400 else 502)
        handler.send_header("Content-Type", "application/xml" if status < 400 else "text/plain")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def start(self) -> FakeTwilio:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A local stand-in for Twilio's Messages API and webhooks.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("FAKE_TWILIO_PORT", "8025")))
    parser.add_argument("--account-sid", default=os.environ.get("TWILIO_ACCOUNT_SID", "ACtest"))
    parser.add_argument("--auth-token", default=os.environ.get("TWILIO_AUTH_TOKEN", "test-token"))
    parser.add_argument(
        "--webhook-base",
        default=os.environ.get("CANDOUR_BASE_URL", "http://127.0.0.1:8000"),
        help="Candour's public base URL, for /_fake/inbound (default: $CANDOUR_BASE_URL)",
    )
    parser.add_argument("--no-callbacks", action="store_true", help="do not report sent/delivered to StatusCallback")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="wait this long before answering each API call")
    args = parser.parse_args(argv)
    fake = FakeTwilio(
        account_sid=args.account_sid,
        auth_token=args.auth_token,
        host=args.host,
        port=args.port,
        auto_callbacks=not args.no_callbacks,
        webhook_base=args.webhook_base,
        latency=args.latency_ms / 1000,
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    fake.start()
    print(f"fake twilio on {fake.base_url} (account {fake.account_sid}); webhooks to {fake.webhook_base}", flush=True)
    done.wait()
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
