"""The drill's load balancer: a small asyncio TCP proxy, round-robin over the web nodes.

Each client connection goes to the next node in turn; a node that refuses the connection (killed,
or still starting) is skipped for the next one, so a dead node costs only the requests it held when
it died. It knows nothing of HTTP: it neither retries a request nor checks a node's health, so what
a killed node loses reaches the load generator and is counted, instead of being hidden.

    python -m tests.drill.balancer --listen 127.0.0.1:PORT --backend 127.0.0.1:A --backend 127.0.0.1:B
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools


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


async def _connect(
    backends: list[tuple[str, int]], turn: itertools.count[int]
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    """The next node that accepts, starting from this connection's turn; None if none does."""
    start = next(turn)
    for i in range(len(backends)):
        host, port = backends[(start + i) % len(backends)]
        with contextlib.suppress(OSError):
            return await asyncio.open_connection(host, port)
    return None


async def serve(listen: tuple[str, int], backends: list[tuple[str, int]]) -> None:
    turn = itertools.count()

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        upstream = await _connect(backends, turn)
        if upstream is None:
            client_writer.close()
            return
        node_reader, node_writer = upstream
        await asyncio.gather(_pipe(client_reader, node_writer), _pipe(node_reader, client_writer))

    server = await asyncio.start_server(handle, *listen, backlog=512)
    async with server:
        await server.serve_forever()


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
