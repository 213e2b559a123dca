"""Load benchmark: N websocket clients chatting through a real Daphne server.

Each client is a logged-in user with its own conversation; it loads the
conversation's page, opens its socket (all clients at once), then sends a
message through the page's websocket protocol and reads frames until the answer
is done. The model is the fake OpenAI-compatible upstream of the tests (200 tokens,
10 ms apart). The same load is also sent to the upstream directly, in the same
run, as the floor. Prints time to first token (p50/p90/p99), tokens/s delivered,
errors, and per answer (from its send to its end): the server's CPU (and the
database backends', on PostgreSQL), SQL statements and bytes sent on the socket
(the floor: what the upstream sent for one answer); the CPU and statements of
loading the page and opening the socket before it ("open"); and the database
connections the server held (before the wave / most during it). With
`--workers 1 2` each worker count is served in turn in the same run, each wave
with its own floor.

    .venv/bin/python bench/load.py                      # SQLite, in-memory layer
    .venv/bin/python bench/load.py --postgres-redis     # PostgreSQL + Redis
    .venv/bin/python bench/load.py --postgres-redis --workers 1 2   # 1, then 2 workers
    .venv/bin/python bench/load.py --clients 1 20 100 --tokens 200 --delay 0.01
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import signal
import tempfile
import time
import urllib.request
from pathlib import Path

from harness import (
    DatabaseWatch,
    Server,
    Upstream,
    database_script,
    prepare_database,
    pyspy_start,
    server_env,
)
from waves import direct_wave, run_wave
from websockets.asyncio.client import connect as ws_connect

# A chunk's frame (frames.body_update): blocks it completed, the open tail
# redrawn, or its text added at the tail's end. Not the turn's first frame,
# whose empty tail is drawn inside the new message, without hx-swap-oob.
DELTA = re.compile(
    r'hx-swap-oob="beforeend:#msg-\d+-(?:done|end)"'
    r'|id="msg-\d+-tail" class="stream-tail" hx-swap-oob="true"'
)
DONE = re.compile(r'class="message message--assistant is-(complete|stopped|error|interrupted)')


def make_users(env: dict[str, str], count: int) -> list[tuple[str, str]]:
    """Create `count` users with a conversation each; return (session cookie, conversation id)."""
    script = f"""
import json, django
django.setup()
from django.contrib.auth import get_user_model
from django.test import Client
from conversations import services
out = []
for i in range({count}):
    user = get_user_model().objects.create_user(username=f"load{{i}}-{time.time_ns()}")
    conversation = services.conversation_create(owner=user)
    client = Client()
    client.force_login(user)
    out.append((client.cookies["sessionid"].value, str(conversation.public_id)))
print(json.dumps(out))
"""
    return [tuple(row) for row in database_script(env, script)]


async def page_get(port: int, path: str, cookie: str) -> int:
    """GET a page as the browser does before it opens the socket; return the status."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: sessionid={cookie}\r\n"
        "Connection: close\r\n\r\n".encode()
    )
    await writer.drain()
    response = await reader.read()  # to the end: the server closes
    writer.close()
    return int(response.split(b" ", 2)[1])


async def app_client(
    port: int,
    cookie: str,
    conversation: str,
    ready: asyncio.Barrier,
    go: asyncio.Event,
    results: list,
    errors: list,
    received: list,
):
    origin = f"http://127.0.0.1:{port}"
    try:
        # The conversation's page first, every client at once, as browsers
        # opening it would: each page is a request with its own thread and
        # database connection in the server.
        status = await page_get(port, f"/c/{conversation}/", cookie)
        if status != 200:
            raise RuntimeError(f"the conversation page answered {status}")
        async with ws_connect(
            f"ws://127.0.0.1:{port}/ws/c/{conversation}/",
            origin=origin,
            additional_headers={"Cookie": f"sessionid={cookie}"},
            open_timeout=60,
            max_size=None,
        ) as socket_:
            # Every client is connected before any sends: opening a socket is
            # not part of the time to the first token.
            await ready.wait()
            await go.wait()  # the bench reads the server's counters in between
            sent = time.perf_counter()
            await socket_.send(json.dumps({"action": "send", "message": "Hello", "HEADERS": {}}))
            first = None
            async with asyncio.timeout(120):
                async for frame in socket_:
                    received.append(len(frame.encode()) if isinstance(frame, str) else len(frame))
                    # The first text shown: a chunk, or (for a view that fell
                    # behind) the whole answer drawn at once.
                    if first is None and (DELTA.search(frame) or DONE.search(frame)):
                        first = time.perf_counter()
                    if match := DONE.search(frame):
                        if match.group(1) != "complete":
                            errors.append(f"answer ended {match.group(1)}")
                            return
                        results.append((sent, first, time.perf_counter()))
                        return
    except Exception as exc:  # noqa: BLE001 - every failure counts as an error
        errors.append(repr(exc))
        with contextlib.suppress(Exception):  # let the others go on
            await ready.abort()


async def app_wave(port: int, users: list[tuple[str, str]], tokens: int, on_connected=None):
    """Every client loads its page and opens its socket; then `on_connected()` runs
    (in a thread); then all send at once."""
    ready = asyncio.Barrier(len(users) + 1)
    go = asyncio.Event()
    received: list[int] = []

    async def release() -> None:
        with contextlib.suppress(asyncio.BrokenBarrierError):
            await ready.wait()
        if on_connected is not None:
            await asyncio.to_thread(on_connected)
        go.set()

    releaser = asyncio.create_task(release())
    wave = await run_wave(
        [
            lambda r, e, c=c, v=v: app_client(port, c, v, ready, go, r, e, received)
            for c, v in users
        ],
        tokens,
    )
    await releaser
    wave["bytes"] = sum(received) / len(users)
    return wave


def upstream_bytes(base_url: str) -> int:
    """Bytes the upstream sends for one streamed answer: the floor of bytes per answer."""
    body = json.dumps(
        {"model": "fake-model", "messages": [{"role": "user", "content": "Hello"}], "stream": True}
    ).encode()
    request = urllib.request.Request(
        f"{base_url.rstrip('/')}/chat/completions",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": "Bearer bench"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return len(response.read())


def serve_and_measure(args, env, workers: int, workdir: Path, upstream_url: str) -> None:
    server = Server(env, workdir, workers=workers)
    watch = DatabaseWatch(env, server)
    try:
        idle_rss = server.rss()
        idle_connections = watch.connections()
        # Replies first, not counted: the first request of a process pays for
        # lazy set-up (the HTTP client's pool, template compilation).
        warm_users = make_users(env, 1 if workers == 1 else 20 * workers)
        asyncio.run(app_wave(server.port, warm_users, args.tokens))
        store = "PostgreSQL + Redis" if args.postgres_redis else "SQLite + in-memory layer"
        print(
            f"\nParley load benchmark: {store}, {workers} worker(s) (RSS and CPU: their sum); "
            f"upstream {args.tokens} tokens, {args.delay * 1000:g} ms apart; "
            f"idle RSS {idle_rss:.0f} MB, {idle_connections} DB connection(s) held idle"
        )
        print(
            "(per answer, from the send to the end; 'open': the page and the socket before it)"
        )
        print(
            f"{'clients':>7} {'path':<8} {'TTFT p50':>9} {'p90':>8} {'p99':>8} "
            f"{'tokens/s':>9} {'errors':>6} {'RSS MB':>7} {'CPU ms':>7} {'open':>5} "
            f"{'DB CPU':>6} {'SQL':>4} {'open':>5} {'bytes':>6} {'DB conns':>8}"
        )
        floor_bytes = upstream_bytes(upstream_url)
        for clients in args.clients:
            users = make_users(env, clients)
            direct = asyncio.run(direct_wave(upstream_url, clients, args.tokens))
            cpu_before, sql_before = server.cpu(), server.sql_statements()
            connections_before = watch.connections()
            marks: dict = {}

            def connected(marks=marks) -> None:
                # Pages loaded and sockets open: what follows is the answers alone.
                marks["cpu"], marks["sql"], marks["db"] = (
                    server.cpu(),
                    server.sql_statements(),
                    watch.db_cpu(),
                )

            spy = pyspy_start(server.processes[0].pid, clients, workers)
            app, peak = watch.during(
                lambda users=users, connected=connected: asyncio.run(
                    app_wave(server.port, users, args.tokens, on_connected=connected)
                )
            )
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=30)
            cpu_ms = (server.cpu() - marks["cpu"]) * 1000 / clients
            open_cpu_ms = (marks["cpu"] - cpu_before) * 1000 / clients
            sql = (server.sql_statements() - marks["sql"]) / clients
            open_sql = (marks["sql"] - sql_before) / clients
            db_after = watch.db_cpu()
            db_ms = (
                sum(t - marks["db"].get(pid, 0.0) for pid, t in db_after.items()) * 1000 / clients
                if watch.pg is not None
                else float("nan")
            )
            rss = server.rss()
            print(
                f"{clients:>7} {'direct':<8} {direct['p50']:>7.1f}ms {direct['p90']:>6.1f}ms "
                f"{direct['p99']:>6.1f}ms {direct['tps']:>9.0f} {len(direct['errors']):>6}"
                f" {'':>7} {'':>7} {'':>5} {'':>6} {'':>4} {'':>5} {floor_bytes:>6}"
            )
            print(
                f"{clients:>7} {'parley':<8} {app['p50']:>7.1f}ms {app['p90']:>6.1f}ms "
                f"{app['p99']:>6.1f}ms {app['tps']:>9.0f} {len(app['errors']):>6}"
                f" {rss:>7.0f} {cpu_ms:>7.1f} {open_cpu_ms:>5.1f} {db_ms:>6.1f} {sql:>4.1f}"
                f" {open_sql:>5.1f} {app['bytes']:>6.0f} {connections_before:>3} / {peak:<3}"
            )
            for name, row in (("direct", direct), ("parley", app)):
                for error in sorted(set(row["errors"]))[:3]:
                    print(f"        {name} error: {error} (server log: {server.log_path})")
    finally:
        watch.close()
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 20, 100])
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.01)
    parser.add_argument("--postgres-redis", action="store_true")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1],
        help="Daphne processes (chatsite.serve; >1 needs Redis); several: each in turn",
    )
    args = parser.parse_args()
    if max(args.workers) > 1 and not args.postgres_redis:
        parser.error("--workers above 1 needs --postgres-redis (a layer shared by processes)")

    workdir = Path(tempfile.mkdtemp(prefix="parley-bench-"))
    upstream = Upstream(tokens=args.tokens, delay=args.delay, workdir=workdir)
    try:
        env = server_env(args, upstream.models_file, workdir)
        prepare_database(env)
        for workers in args.workers:
            serve_and_measure(args, env, workers, workdir, upstream.url)
    finally:
        upstream.stop()

if __name__ == "__main__":
    main()
