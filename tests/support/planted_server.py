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
slow       each request waits 150-250 ms (a slow downstream, all at once): slow with
           the CPU idle, and no fixed number served at a time
shed       7 requests in 10 get a quick 503 from the first second (load shed at once)
threads    each request takes 100 ms of blocking work in a pool of 4 threads (as a
           sync framework's thread pool): about 40 req/s, the CPU idle, the rest queue
=========  =================================================================

Every mode sends `Server-Timing: app;dur=...` (the db mode adds `db;dur=...`), as an
instrumented app would.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor

MODES = ("healthy", "cpu", "wait", "leak", "close", "pool", "db", "slow", "shed", "threads")
THREADS = 4  # the `threads` mode's pool
_served = [0]
BODY = b'{"ok":true}'
_kept: list[bytes] = []


def _blocking_work() -> float:
    """100 ms of a sync handler's time (I/O it waits for): returns how long it took, ms."""
    started = time.perf_counter()
    time.sleep(0.1)
    return (time.perf_counter() - started) * 1e3


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, mode: str,
                  lock: asyncio.Lock, pool: asyncio.Semaphore,
                  threads: ThreadPoolExecutor) -> None:  # fmt: skip
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
            elif mode == "slow":
                await asyncio.sleep(random.uniform(0.15, 0.25))
            elif mode == "leak":
                _kept.append(bytes(256 * 1024))
            status = b"200 OK"
            app_ms = None
            if mode == "threads":
                # The handler's own time, measured in its thread (as an app does): the wait
                # for a free thread is not in it.
                app_ms = await asyncio.get_running_loop().run_in_executor(threads, _blocking_work)
            if mode == "shed":
                _served[0] += 1
                if _served[0] % 10 < 7:
                    status = b"503 Service Unavailable"
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
            if app_ms is None:
                app_ms = (time.perf_counter() - started) * 1e3
            timing += b"app;dur=%.3f" % app_ms
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
    threads = ThreadPoolExecutor(THREADS)
    server = await asyncio.start_server(
        lambda r, w: _handle(r, w, mode, lock, pool, threads), "127.0.0.1", port, backlog=1024
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in MODES:
        raise SystemExit(f"usage: planted_server.py {{{','.join(MODES)}}} PORT")
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
