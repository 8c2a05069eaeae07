"""Fixed-rate (open-loop) load: POST bodies at a steady rate and report latency percentiles.

Stdlib only. Request i is due at start + i/rate whatever happened to the ones before it; a pool of
threads sends them, and each latency is measured from when the request was due, not from when a free
thread got round to sending it, so a stalled server shows up in the figures instead of slowing the
load down (coordinated omission). Prints one JSON object.

    python -m tests.bench.steady --url http://127.0.0.1:8000/api/v1/concerns/raise/ --bodies B --rate 50
"""

from __future__ import annotations

import argparse
import http.client
import json
import queue
import random
import threading
import time
from urllib.parse import urlsplit


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest rank: the smallest value with at least pct% of the values at or below it."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * pct // 100))
    return sorted_values[int(rank) - 1]


def run(
    *,
    url: str,
    bodies: list[bytes] | list[tuple[bytes, dict[str, str]]],
    rate: float,
    seconds: float,
    threads: int,
    timeout: float,
    give_up: float,
    ordered: bool = False,
    headers: dict[str, str] | None = None,
    log: bool = False,
) -> dict:
    """``bodies`` are sent at random, or in order (cycling) when ``ordered``; a body may carry its own
    extra headers, as (body, headers), for a signed webhook. With ``log`` the result also holds
    "log": for each request in the order due, [index of its body, when it was due (epoch seconds),
    its status], so a caller can time what the server did with it afterwards."""
    parts = urlsplit(url)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/"
    headers = headers or {"Content-Type": "application/json", "Accept": "application/json"}
    due: queue.SimpleQueue[tuple[float, int, bytes | tuple[bytes, dict[str, str]]] | None] = queue.SimpleQueue()
    results: list[tuple[float, float, float, int, int]] = []  # due, sent, done, status (0: no answer), body index
    lock = threading.Lock()

    def worker() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        mine: list[tuple[float, float, float, int, int]] = []
        while (item := due.get()) is not None:
            at, index, item_body = item
            body, extra = item_body if isinstance(item_body, tuple) else (item_body, {})
            sent = time.perf_counter()
            if sent - at > give_up:
                # The server is far behind: count it as slower than any answer and keep the run bounded.
                mine.append((at, sent, float("inf"), -1, index))
                continue
            try:
                conn.request("POST", path, body=body, headers={**headers, **extra})
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException):
                conn.close()
                status = 0
            mine.append((at, sent, time.perf_counter(), status, index))
        conn.close()
        with lock:
            results.extend(mine)

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    rng = random.Random(50)
    total = int(rate * seconds)
    start = time.perf_counter() + 0.1
    # perf_counter is steady but has no epoch; one reading of both turns a due time into wall time.
    wall_offset = time.time() - time.perf_counter()
    for i in range(total):
        at = start + i / rate
        pause = at - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        index = i % len(bodies) if ordered else rng.randrange(len(bodies))
        due.put((at, index, bodies[index]))
    for _ in pool:
        due.put(None)
    for t in pool:
        t.join()
    elapsed = max(r[2] if r[3] != -1 else r[1] for r in results) - start
    ok = [r for r in results if 200 <= r[3] < 300]
    abandoned = [r for r in results if r[3] == -1]
    latency = sorted([(r[2] - r[0]) * 1000 for r in ok] + [float("inf")] * len(abandoned))
    service = sorted((r[2] - r[1]) * 1000 for r in ok)
    late = sorted((r[1] - r[0]) * 1000 for r in results)
    extra = {"log": [[r[4], r[0] + wall_offset, r[3]] for r in sorted(results)]} if log else {}
    return extra | {
        "target_rate": rate,
        "requests": len(results),
        "ok": len(ok),
        "abandoned": len(abandoned),
        "errors": len(results) - len(ok) - len(abandoned),
        "seconds": elapsed,
        "achieved_rate": len(ok) / elapsed if elapsed > 0 else 0.0,
        "latency_ms": {str(p): percentile(latency, p) for p in (50, 90, 99, 99.9)}
        | {"max": latency[-1] if latency else None},
        "service_ms": {str(p): percentile(service, p) for p in (50, 99)},
        "send_late_ms": {"99": percentile(late, 99), "max": late[-1] if late else None},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--bodies", required=True, help="a file of JSON bodies, one a line")
    parser.add_argument("--rate", type=float, default=50.0, help="requests a second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=32, help="enough that a stall queues few requests")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--give-up", type=float, default=10.0, help="seconds late after which a request is not sent")
    args = parser.parse_args()
    with open(args.bodies, "rb") as fh:
        bodies = [line.strip() for line in fh if line.strip()]
    result = run(
        url=args.url,
        bodies=bodies,
        rate=args.rate,
        seconds=args.seconds,
        threads=args.threads,
        timeout=args.timeout,
        give_up=args.give_up,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
