"""A local Sentry envelope receiver: the outer edge of the world, standing in for sentry.io."""

from __future__ import annotations

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import brotli


class SentryReceiver:
    def __init__(self) -> None:
        self.raw: list[bytes] = []
        self.items: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                # The SDK compresses with brotli when the package is installed (WeasyPrint brings it),
                # else with gzip: the receiver reads both, as Sentry does.
                encoding = self.headers.get("Content-Encoding")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "br":
                    body = brotli.decompress(body)
                receiver._store(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def dsn(self) -> str:
        return f"http://public@127.0.0.1:{self.port}/1"

    def _store(self, body: bytes) -> None:
        self.raw.append(body)
        lines = body.split(b"\n")
        # An envelope: a header line, then pairs of item header and payload.
        for i in range(1, len(lines) - 1, 2):
            try:
                header = json.loads(lines[i])
                payload = json.loads(lines[i + 1])
            except ValueError:
                continue
            if header.get("type") == "event":
                self.items.append(payload)

    def __enter__(self) -> SentryReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
