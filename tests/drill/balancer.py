"""The drill's load balancer: a small asyncio TCP proxy, round-robin over the web nodes.

Each client connection goes to the next node in rotation. A node leaves the rotation when it refuses
a connection (killed) and comes back once it answers its readiness probe (GET /readyz 200, as the
Kubernetes readiness probe in infra/k8s asks): a gunicorn node listens a moment after it starts, but
its first request loads the URL configuration and everything it imports, seconds of CPU, and a
balancer that sent traffic there at once would queue requests behind that. It knows nothing else of
HTTP: it neither retries a request nor ends one, so what a killed node held is cut, reaches the load
generator and is counted, instead of being hidden.

    python -m tests.drill.balancer --listen 127.0.0.1:PORT --backend 127.0.0.1:A --backend 127.0.0.1:B
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools

PROBE_EVERY = 0.5  # seconds between readiness probes of a node out of the rotation
PROBE_TIMEOUT = 60.0  # a cold node's first answer may take this long on two busy cores


class Pool:
    def __init__(self, backends: list[tuple[str, int]]) -> None:
        self.backends = backends
        self.ready = dict.fromkeys(backends, False)
        self.turn = itertools.count()

    async def probe(self, backend: tuple[str, int]) -> None:
        """Forever: while the node is out of the rotation, ask /readyz until it answers 200."""
        while True:
            if not self.ready[backend]:
                with contextlib.suppress(OSError, asyncio.TimeoutError):
                    self.ready[backend] = await asyncio.wait_for(_ready(*backend), PROBE_TIMEOUT)
            await asyncio.sleep(PROBE_EVERY)

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """The next node in the rotation that accepts; a node that refuses leaves it. None if none does."""
        start = next(self.turn)
        for i in range(len(self.backends)):
            backend = self.backends[(start + i) % len(self.backends)]
            if not self.ready[backend]:
                continue
            try:
                return await asyncio.open_connection(*backend)
            except OSError:
                self.ready[backend] = False
        return None


async def _ready(host: str, port: int) -> bool:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(f"GET /readyz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        status = await reader.readline()
        return status.split(b" ")[1:2] == [b"200"]
    finally:
        writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()


async def serve(listen: tuple[str, int], backends: list[tuple[str, int]]) -> None:
    pool = Pool(backends)
    probes = [asyncio.create_task(pool.probe(backend)) for backend in backends]

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        upstream = await pool.connect()
        if upstream is None:
            client_writer.close()
            return
        node_reader, node_writer = upstream
        await asyncio.gather(_pipe(client_reader, node_writer), _pipe(node_reader, client_writer))

    server = await asyncio.start_server(handle, *listen, backlog=512)
    async with server:
        await server.serve_forever()
    for probe in probes:
        probe.cancel()


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, type=_address)
    parser.add_argument("--backend", required=True, action="append", type=_address)
    args = parser.parse_args()
    asyncio.run(serve(args.listen, args.backend))


if __name__ == "__main__":
    main()
