"""A payment gateway that answers every ``POST /charges`` at once, for the throughput bench.

Run: ``python bench/_instant_gateway.py PORT``; it prints ``ready`` once it listens on
127.0.0.1:PORT and serves until terminated. HTTP/1.1 with keep-alive, so a worker's
pooled client pays no connection set-up per charge. The answer echoes the JSON body with
a charge id (``ch_<Idempotency-Key>``) and ``"status": "succeeded"``; it counts nothing
and keeps nothing, so it costs the bench as little as a gateway can.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

_MAX_HEADER = 64 * 1024


async def _serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if len(head) > _MAX_HEADER:
                break
            headers = _headers(head)
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            writer.write(_answer(headers, body))
            await writer.drain()
            if headers.get("connection", "").lower() == "close":
                break
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    pairs = (line.split(":", 1) for line in lines if ":" in line)
    return {name.strip().lower(): value.strip() for name, value in pairs}


def _answer(headers: dict[str, str], body: bytes) -> bytes:
    try:
        request: Any = json.loads(body or b"{}")
    except ValueError:
        request = {}
    charge = request if isinstance(request, dict) else {}
    key = headers.get("idempotency-key", "none")
    payload = json.dumps({**charge, "id": f"ch_{key}", "status": "succeeded"}).encode()
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload
    )


async def _main(port: int) -> None:
    server = await asyncio.start_server(_serve_connection, "127.0.0.1", port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_main(int(sys.argv[1])))
