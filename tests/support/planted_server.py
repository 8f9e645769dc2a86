"""A target with one bottleneck planted on purpose, for the diagnosis tests.

`python tests/support/planted_server.py MODE PORT`, one process, one thread (asyncio):

=========  =================================================================
healthy    a small JSON answer at once
cpu        each request burns 3 ms of CPU: one core saturates under load
wait       each request waits 40 ms behind one global lock (a pool of one):
           latency climbs while the CPU idles
leak       each request keeps 256 KiB forever: memory grows through the run
close      answers with `Connection: close`: a new TCP connection per request
pool       two slots of 20 ms each; a request that waits over 60 ms for one gets a
           503 (a pool that runs out under load, with the CPU idle)
db         each request waits 30 ms on its "query" (concurrently) and says so in a
           Server-Timing header: the database takes most of the time
=========  =================================================================

Every mode sends `Server-Timing: app;dur=...` (the db mode adds `db;dur=...`), as an
instrumented app would.
"""

from __future__ import annotations

import asyncio
import sys
import time

MODES = ("healthy", "cpu", "wait", "leak", "close", "pool", "db")
BODY = b'{"ok":true}'
_kept: list[bytes] = []


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, mode: str,
                  lock: asyncio.Lock, pool: asyncio.Semaphore) -> None:  # fmt: skip
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if not head:
                return
            started = time.perf_counter()
            timing = b""
            if mode == "db":
                await asyncio.sleep(0.03)
                db_done = time.perf_counter()
                timing = b'db;dur=%.3f;desc="orders query", ' % ((db_done - started) * 1e3)
                started = db_done  # app time is the rest
            if mode == "cpu":
                until = time.perf_counter() + 0.003
                while time.perf_counter() < until:
                    pass
            elif mode == "wait":
                async with lock:
                    await asyncio.sleep(0.04)
            elif mode == "leak":
                _kept.append(bytes(256 * 1024))
            status = b"200 OK"
            if mode == "pool":
                try:
                    await asyncio.wait_for(pool.acquire(), timeout=0.06)
                except TimeoutError:
                    status = b"503 Service Unavailable"
                else:
                    try:
                        await asyncio.sleep(0.02)
                    finally:
                        pool.release()
            close = mode == "close"
            timing += b"app;dur=%.3f" % ((time.perf_counter() - started) * 1e3)
            writer.write(
                b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                b"Server-Timing: %s\r\n%s\r\n%s"
                % (status, len(BODY), timing, b"Connection: close\r\n" if close else b"", BODY)
            )
            await writer.drain()
            if close:
                return
    except (asyncio.IncompleteReadError, ConnectionError):
        return
    finally:
        writer.close()


async def main(mode: str, port: int) -> None:
    """Serve until killed."""
    lock, pool = asyncio.Lock(), asyncio.Semaphore(2)
    server = await asyncio.start_server(
        lambda r, w: _handle(r, w, mode, lock, pool), "127.0.0.1", port, backlog=1024
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in MODES:
        raise SystemExit(f"usage: planted_server.py {{{','.join(MODES)}}} PORT")
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
