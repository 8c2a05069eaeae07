"""A local mail server for tests: the outer edge of the world, on 127.0.0.1.

``with FakeSmtp() as mail`` listens on a free port and speaks just enough SMTP for Django's SMTP
backend (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), keeping each accepted message as
``(recipients, raw message)`` in ``received``. ``down()`` makes it answer every new connection with
"421 service not available" and close, as a mail relay in trouble does; ``up()`` restores it.
"""

from __future__ import annotations

import socketserver
import threading
from types import TracebackType


class FakeSmtp:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.received: list[tuple[list[str], bytes]] = []
        self.refused = 0  # connections turned away while down
        self._down = False
        self._lock = threading.Lock()
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                if fake.is_down:
                    with fake._lock:
                        fake.refused += 1
                    self.wfile.write(b"421 fake.invalid service not available\r\n")
                    return
                self.wfile.write(b"220 fake.invalid ESMTP\r\n")
                recipients: list[str] = []
                while line := self.rfile.readline():
                    verb = line[:4].upper()
                    if verb in (b"EHLO", b"HELO", b"MAIL", b"NOOP"):
                        self.wfile.write(b"250 ok\r\n")
                    elif verb == b"RSET":
                        recipients = []
                        self.wfile.write(b"250 ok\r\n")
                    elif verb == b"RCPT":
                        recipients.append(line.split(b":", 1)[1].strip().strip(b"<>").decode())
                        self.wfile.write(b"250 ok\r\n")
                    elif verb == b"DATA":
                        self.wfile.write(b"354 go on\r\n")
                        data = b"".join(iter(lambda: self.rfile.readline(), b".\r\n"))
                        with fake._lock:
                            fake.received.append((recipients, data))
                        recipients = []
                        self.wfile.write(b"250 queued\r\n")
                    elif verb == b"QUIT":
                        self.wfile.write(b"221 bye\r\n")
                        return
                    else:
                        self.wfile.write(b"502 not implemented\r\n")

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.host, self.port = host, int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="fake-smtp")

    @property
    def is_down(self) -> bool:
        with self._lock:
            return self._down

    def down(self) -> None:
        with self._lock:
            self._down = True

    def up(self) -> None:
        with self._lock:
            self._down = False

    def recipients(self) -> list[str]:
        """Every recipient of every message received, once per message."""
        with self._lock:
            return [r for rcpts, _ in self.received for r in rcpts]

    def __enter__(self) -> FakeSmtp:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
