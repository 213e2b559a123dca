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
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import openai  # noqa: E402
import psutil  # noqa: E402
from conftest import catalog_text  # noqa: E402
from websockets.asyncio.client import connect as ws_connect  # noqa: E402

from chatsite.serve import daphne_connect_timeout  # noqa: E402

DELTA = re.compile(r'hx-swap-oob="beforeend:#msg-\d+-body"')
DONE = re.compile(r'class="message message--assistant is-(complete|stopped|error|interrupted)')
# Override to keep out of other benchmarks' way on a shared machine.
PG_DATABASE = os.environ.get("BENCH_PG_DATABASE", "parley_bench")
PG_URL = f"postgres://postgres@127.0.0.1:5432/{PG_DATABASE}"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def server_env(args, models_file: Path, workdir: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        "PARLEY_MODELS_FILE": str(models_file),
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "bench-" + "x" * 50,
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "STATIC_ROOT": str(workdir / "static"),
        "REDIS_URL": "",
        "DATABASE_URL": "",
        "SQLITE_PATH": str(workdir / "bench.sqlite3"),
    }
    if args.postgres_redis:
        env.update(DATABASE_URL=PG_URL, REDIS_URL=REDIS_URL)
    return env


def prepare_database(env: dict[str, str]) -> None:
    if env["DATABASE_URL"]:
        subprocess.run(
            ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", PG_DATABASE],
            check=True,
        )
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", PG_DATABASE], check=True)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    # DEBUG is off: pages need the hashed static files' manifest.
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )


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
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return [tuple(row) for row in json.loads(result.stdout.strip().splitlines()[-1])]


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


async def direct_client(client: openai.AsyncOpenAI, results: list, errors: list):
    try:
        sent = time.perf_counter()
        first = None
        stream = await client.chat.completions.create(
            model="fake-model", messages=[{"role": "user", "content": "Hello"}], stream=True
        )
        async for chunk in stream:
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.perf_counter()
        results.append((sent, first, time.perf_counter()))
    except Exception as exc:  # noqa: BLE001
        errors.append(repr(exc))


async def direct_wave(base_url: str, clients: int, tokens: int):
    # One pooled client, as the server has one per model.
    async with openai.AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0) as client:
        await direct_client(client, [], [])  # warm the pool, as the server's is
        return await run_wave([lambda r, e: direct_client(client, r, e)] * clients, tokens)


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


async def run_wave(factories, tokens: int):
    """Run the clients at once; tokens/s is over the time from the first send to the last end."""
    results: list[tuple[float, float, float]] = []
    errors: list[str] = []
    await asyncio.gather(*(factory(results, errors) for factory in factories))
    elapsed = (
        (max(end for _, _, end in results) - min(sent for sent, _, _ in results))
        if results
        else float("nan")
    )
    ttfts = [(first - sent) * 1000 for sent, first, _ in results]
    return {
        "p50": percentile(ttfts, 50) if ttfts else float("nan"),
        "p90": percentile(ttfts, 90) if ttfts else float("nan"),
        "p99": percentile(ttfts, 99) if ttfts else float("nan"),
        "tps": len(results) * tokens / elapsed if results else 0.0,
        "errors": errors,
    }


class Server:
    """The Parley server under load: one Daphne process, or chatsite.serve's N."""

    def __init__(self, args, env: dict[str, str], workers: int, workdir: Path) -> None:
        self.workers = workers
        self.port = free_port()
        self.sql_dir = workdir / f"sql-{workers}"
        self.sql_dir.mkdir()
        self.env = {
            **env,
            "BENCH_SQL_DIR": str(self.sql_dir),
            "PYTHONPATH": os.pathsep.join([str(ROOT / "bench"), str(ROOT)]),
        }
        self.log_path = workdir / f"server-{workers}.log"
        self.log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        profile = (
            ["-m", "cProfile", "-o", os.environ["BENCH_PROFILE"]]
            if os.environ.get("BENCH_PROFILE")
            else []
        )
        self.process = subprocess.Popen(
            [
                sys.executable,
                *profile,
                "-m",
                *(
                    ["chatsite.serve", "--workers", str(workers)]
                    if workers > 1
                    else ["daphne", *daphne_connect_timeout([])]
                ),
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                # chatsite.asgi with its SQL statements counted.
                "counted_asgi:application",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        # Until a page is served (with several workers the port is bound at once).
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/accounts/login/", timeout=5)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit(f"the server never served a page; see {self.log_path}")
        launcher = psutil.Process(self.process.pid)
        time.sleep(1)
        # The Daphne processes: the launcher's children, or the one process.
        self.processes = launcher.children() if workers > 1 else [launcher]

    def rss(self) -> float:
        return sum(process.memory_info().rss for process in self.processes) / 2**20

    def cpu(self) -> float:
        return sum(sum(process.cpu_times()[:2]) for process in self.processes)

    def sql_statements(self) -> int:
        """Statements run so far by all workers (each writes its count on SIGUSR1)."""
        total = 0
        for process in self.processes:
            path = self.sql_dir / str(process.pid)
            path.unlink(missing_ok=True)
            process.send_signal(signal.SIGUSR1)
            for _ in range(200):
                if path.exists() and path.read_text():
                    break
                time.sleep(0.01)
            total += int(path.read_text())
        return total

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


class DatabaseWatch:
    """Connections the server holds to its database, and the database's CPU.

    PostgreSQL: the bench database's sessions in pg_stat_activity (this watch's
    own excluded) and their backends' CPU. SQLite: the server's open handles
    on the database file. Sampled every 50 ms in a thread while a wave runs.
    """

    def __init__(self, env: dict[str, str], server: Server) -> None:
        self.server = server
        self.sqlite_path = None if env["DATABASE_URL"] else env["SQLITE_PATH"]
        self.pg = None
        if env["DATABASE_URL"]:
            import psycopg

            self.pg = psycopg.connect(PG_URL, autocommit=True)

    def _backends(self) -> list[int]:
        rows = self.pg.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [PG_DATABASE],
        ).fetchall()
        return [pid for (pid,) in rows]

    def connections(self) -> int:
        if self.pg is not None:
            return len(self._backends())
        count = 0
        for process in self.server.processes:
            with contextlib.suppress(psutil.Error):
                count += sum(1 for f in process.open_files() if f.path == self.sqlite_path)
        return count

    def db_cpu(self) -> dict[int, float]:
        """CPU seconds of each backend serving the bench database (PostgreSQL only)."""
        if self.pg is None:
            return {}
        times = {}
        for pid in self._backends():
            with contextlib.suppress(psutil.Error):
                times[pid] = sum(psutil.Process(pid).cpu_times()[:2])
        return times

    def during(self, work):
        """Run `work()`; return its result and the most connections seen meanwhile."""
        peak = [self.connections()]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.05):
                peak[0] = max(peak[0], self.connections())

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            return work(), peak[0]
        finally:
            done.set()
            sampler.join()

    def close(self) -> None:
        if self.pg is not None:
            self.pg.close()


def pyspy_start(pid: int, clients: int, workers: int):
    """BENCH_PYSPY=prefix: record where one worker's CPU goes during a wave."""
    if not os.environ.get("BENCH_PYSPY"):
        return None
    return subprocess.Popen(
        [
            os.environ.get("PY_SPY", "py-spy"),
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--gil",
            "--nonblocking",
            "--rate",
            "200",
            "--output",
            f"{os.environ['BENCH_PYSPY']}-w{workers}-{clients}.txt",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def serve_and_measure(args, env, workers: int, workdir: Path, upstream_url: str) -> None:
    server = Server(args, env, workers, workdir)
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
    # The upstream runs in its own process, as a real one would, so that it does
    # not compete with this process's clients for the interpreter.
    upstream = subprocess.Popen(
        [sys.executable, "-m", "fake_openai", str(args.tokens), str(args.delay)],
        cwd=ROOT / "tests",
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        upstream_url = upstream.stdout.readline().strip()
        models_file = workdir / "models.toml"
        models_file.write_text(catalog_text(upstream_url), encoding="utf-8")
        env = server_env(args, models_file, workdir)
        prepare_database(env)
        for workers in args.workers:
            serve_and_measure(args, env, workers, workdir, upstream_url)
    finally:
        upstream.kill()
        upstream.wait(timeout=10)


if __name__ == "__main__":
    main()
