"""The drill's load: four open-loop streams through the balancer, each at a steady rate.

As tests/bench/steady.py: request i of a stream is due at start + i/rate whatever happened to the
ones before it, a pool of threads sends them, and each latency runs from when the request was due
to its final answer (retries included), so a stalled or dead node shows in the figures instead of
slowing the load down. Each request opens a connection of its own, so the balancer spreads requests,
not keep-alive connections, over the nodes, and a killed node costs only what it held.

The streams, and what a client does when its request gets no answer (a connection cut by a kill)
or a 5xx (PgBouncer gone mid-transaction):
  raise      POST /api/v1/concerns/raise/ with a submission key; sent again with the same key, as the
             raise page does, so a second attempt either raises it or answers 409 (the first landed)
  follow-up  a raiser with their receipt: their status (read again on failure) or a message (never
             sent twice: a message is not idempotent, so a failure is counted, not retried)
  sms        signed Twilio webhooks, one in five an exact repeat of an earlier MessageSid; retried, as
             Twilio retries a webhook that failed
  staff      a guardian's next move on a concern (acknowledge, start review, write to the raiser),
             one in four an acknowledgement racing the clock sweep on a concern falling due; moves are
             retried (a 409 then means the first landed), messages are not
"""

from __future__ import annotations

import http.client
import json
import queue
import random
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.bench.bodies import body as concern_body
from tests.support.fake_twilio import inbound_params, new_sid, sign

RETRIES = 6  # attempts for a request a client would send again
TIMEOUT = 10.0  # seconds a client waits for an answer
# A request not picked up within this many seconds of falling due is not sent (the generator is behind:
# counted as abandoned, slower than any answer), and no retry is begun this long after it fell due,
# so a stalled cluster cannot keep the run going long after its time.
GIVE_UP = 20.0


@dataclass
class Answer:
    status: int  # 0: no answer (connection refused, reset or cut)
    body: bytes
    attempts: int
    error: str = ""


@dataclass
class Outcome:
    stream: str
    due: float
    done: float
    status: int
    attempts: int
    what: str  # ok, conflict (409 expected after a retry), or the error's class


@dataclass
class Raised:
    reference: str
    receipt: str
    unit: str
    what_happened: str
    state: str = "raised"  # as the staff stream last moved it
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Ledger:
    """What the load generator was handed, to be checked against the database at the end."""

    raised: list[Raised] = field(default_factory=list)
    # 409 on a retry: the first attempt was stored, but its receipt never reached the raiser.
    raise_answer_lost: list[str] = field(default_factory=list)  # their submission keys
    raiser_messages_ok: Counter[str] = field(default_factory=Counter)  # by reference
    raiser_messages_tried: Counter[str] = field(default_factory=Counter)
    staff_messages_ok: Counter[str] = field(default_factory=Counter)
    staff_messages_tried: Counter[str] = field(default_factory=Counter)
    sms_sids_answered: set[str] = field(default_factory=set)
    sms_sids_sent: set[str] = field(default_factory=set)
    # When each new text's first request was sent (epoch seconds), by sender: its reply is timed from it.
    sms_first_sent: dict[str, float] = field(default_factory=dict)
    sms_sender_of: dict[str, str] = field(default_factory=dict)  # sender by MessageSid
    seeded_acknowledged: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


def request(base: tuple[str, int], path: str, body: bytes, headers: dict[str, str], *, retry: bool) -> Answer:
    """POST once, or (``retry``) until answered below 500, backing off, for up to GIVE_UP seconds."""
    began = time.perf_counter()
    attempts = 0
    while True:
        attempts += 1
        conn = http.client.HTTPConnection(*base, timeout=TIMEOUT)
        try:
            conn.request("POST", path, body=body, headers={**headers, "Connection": "close"})
            resp = conn.getresponse()
            answer = Answer(resp.status, resp.read(), attempts)
        except (OSError, http.client.HTTPException) as exc:
            answer = Answer(0, b"", attempts, type(exc).__name__)
        finally:
            conn.close()
        if not retry or (0 < answer.status < 500) or attempts >= RETRIES or time.perf_counter() - began > GIVE_UP:
            return answer
        time.sleep(0.3 * attempts)


class Drill:
    def __init__(
        self,
        *,
        base_url: str,
        tokens: dict[str, str],
        seeded: list[tuple[str, str]],
        sms_numbers: dict[str, str],
        seed: int = 2026,
    ) -> None:
        parts = urllib.parse.urlsplit(base_url)
        self.base_url = base_url.rstrip("/")
        self.base = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.tokens = tokens  # guardian's token by trust code (RNX, RCX)
        self.seeded = seeded  # (reference, trust code) of concerns whose clocks fall due during the drill
        self.sms_numbers = list(sms_numbers.values())
        self.ledger = Ledger()
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._sent_texts: list[tuple[bytes, dict[str, str], str]] = []

    # The streams: each builds one request's work when it falls due, and returns what came of it.

    def raise_one(self) -> tuple[int, int, str]:
        data = concern_body(self._rng)
        data["submission_key"] = uuid.uuid4().hex
        answer = request(
            self.base,
            "/api/v1/concerns/raise/",
            json.dumps(data).encode(),
            {"Content-Type": "application/json", "Accept": "application/json"},
            retry=True,
        )
        if answer.status == 201:
            got = json.loads(answer.body)
            with self.ledger.lock:
                self.ledger.raised.append(
                    Raised(got["reference"], got["receipt"], str(data["unit"]), str(data["what_happened"]))
                )
            return answer.status, answer.attempts, "ok"
        if answer.status == 409 and answer.attempts > 1:
            with self.ledger.lock:
                self.ledger.raise_answer_lost.append(str(data["submission_key"]))
            return answer.status, answer.attempts, "stored, answer lost"
        return answer.status, answer.attempts, _what(answer)

    def follow_up_one(self) -> tuple[int, int, str]:
        with self.ledger.lock:
            if not self.ledger.raised:
                return 0, 0, "skipped"
            concern = self._rng.choice(self.ledger.raised)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._rng.random() < 0.5:
            body = json.dumps({"receipt": concern.receipt}).encode()
            answer = request(self.base, "/api/v1/follow-up/", body, headers, retry=True)
            return answer.status, answer.attempts, "ok" if answer.status == 200 else _what(answer)
        body = json.dumps({"receipt": concern.receipt, "body": "Any news? It happened again last night."}).encode()
        with self.ledger.lock:
            self.ledger.raiser_messages_tried[concern.reference] += 1
        answer = request(self.base, "/api/v1/follow-up/messages/", body, headers, retry=False)
        if answer.status == 201:
            with self.ledger.lock:
                self.ledger.raiser_messages_ok[concern.reference] += 1
            return answer.status, 1, "ok"
        return answer.status, 1, _what(answer)

    def sms_one(self) -> tuple[int, int, str]:
        url = f"{self.base_url}/twilio/sms/"
        with self.ledger.lock:
            repeat = bool(self._sent_texts) and self._rng.random() < 0.2
            if repeat:
                body, headers, sid = self._rng.choice(self._sent_texts)
            else:
                sid = new_sid()
                # A new number each time (drawn at random, a few of 3,600 texts shared a number and
                # their second text added to the first's concern): each text raises a concern of its own.
                sender = f"+44770{len(self._sent_texts):07d}"
                params = inbound_params(
                    from_=sender,
                    to=self._rng.choice(self.sms_numbers),
                    body="Staffing on the ward is unsafe at night and nobody listens",
                    message_sid=sid,
                )
                headers = {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Accept": "application/xml",
                    "X-Twilio-Signature": sign("test-token", url, params),
                }
                body = urllib.parse.urlencode(params).encode()
                self._sent_texts.append((body, headers, sid))
                self.ledger.sms_sids_sent.add(sid)
                self.ledger.sms_first_sent[sender] = time.time()
                self.ledger.sms_sender_of[sid] = sender
        answer = request(self.base, "/twilio/sms/", body, headers, retry=True)
        if 200 <= answer.status < 300:
            with self.ledger.lock:
                self.ledger.sms_sids_answered.add(sid)
            return answer.status, answer.attempts, "ok"
        return answer.status, answer.attempts, _what(answer)

    def staff_one(self) -> tuple[int, int, str]:
        with self.ledger.lock:
            race = bool(self.seeded) and self._rng.random() < 0.25
            if race:
                reference, trust = self._rng.choice(self.seeded)
                target = None
            elif self.ledger.raised:
                # The latest few, so that many get all three moves during the run.
                target = self._rng.choice(self.ledger.raised[-60:])
                reference, trust = target.reference, target.unit[:3]
            else:
                return 0, 0, "skipped"
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Authorization": f"Token {self.tokens[trust]}",
        }
        if target is None:
            answer = request(self.base, f"/api/v1/concerns/{reference}/acknowledge/", b"{}", headers, retry=True)
            if answer.status == 200:
                with self.ledger.lock:
                    self.ledger.seeded_acknowledged.add(reference)
            return answer.status, answer.attempts, _move(answer)
        with target.lock:
            state = target.state
            if state == "raised":
                answer = request(self.base, f"/api/v1/concerns/{reference}/acknowledge/", b"{}", headers, retry=True)
                if answer.status in (200, 409):
                    target.state = "acknowledged"
                return answer.status, answer.attempts, _move(answer)
            if state == "acknowledged":
                path = f"/api/v1/concerns/{reference}/start-review/"
                answer = request(self.base, path, b"{}", headers, retry=True)
                if answer.status in (200, 409):
                    target.state = "under_review"
                return answer.status, answer.attempts, _move(answer)
        body = json.dumps({"body": "Thank you for raising this. We are looking into it."}).encode()
        with self.ledger.lock:
            self.ledger.staff_messages_tried[reference] += 1
        answer = request(self.base, f"/api/v1/concerns/{reference}/messages/", body, headers, retry=False)
        if answer.status == 201:
            with self.ledger.lock:
                self.ledger.staff_messages_ok[reference] += 1
            return answer.status, 1, "ok"
        return answer.status, 1, _what(answer)

    def run(self, *, rates: dict[str, float], seconds: float, threads: int = 64) -> float:
        """Drive every stream at its rate for ``seconds``; returns when the last answer is in."""
        work: dict[str, Callable[[], tuple[int, int, str]]] = {
            "raise": self.raise_one,
            "follow-up": self.follow_up_one,
            "sms": self.sms_one,
            "staff": self.staff_one,
        }
        due: queue.SimpleQueue[tuple[float, str] | None] = queue.SimpleQueue()

        def worker() -> None:
            while (item := due.get()) is not None:
                at, stream = item
                if time.perf_counter() - at > GIVE_UP:
                    with self._lock:
                        self.outcomes.append(Outcome(stream, at, float("inf"), -1, 0, "abandoned (generator behind)"))
                    continue
                status, attempts, what = work[stream]()
                if what == "skipped":
                    continue
                outcome = Outcome(stream, at, time.perf_counter(), status, attempts, what)
                with self._lock:
                    self.outcomes.append(outcome)

        pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
        for t in pool:
            t.start()
        start = time.perf_counter() + 0.1
        schedule = sorted(
            (start + i / rate, stream) for stream, rate in rates.items() if rate > 0 for i in range(int(rate * seconds))
        )
        for at, stream in schedule:
            pause = at - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            due.put((at, stream))
        for _ in pool:
            due.put(None)
        for t in pool:
            t.join()
        return time.perf_counter() - start


def _what(answer: Answer) -> str:
    if answer.status == 0:
        return f"no answer ({answer.error})"
    return f"HTTP {answer.status}"


def _move(answer: Answer) -> str:
    """A staff move: 200, or 409 when a retry found the first attempt had landed or the sweep had
    moved the concern first (a refusal in words, not a failure)."""
    if answer.status == 200:
        return "ok"
    if answer.status == 409:
        return "conflict"
    return _what(answer)
