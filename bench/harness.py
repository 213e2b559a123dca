"""What a bench runs and reads, for bench/load.py and bench/api.py: its servers and database.

The fake upstream of the tests in its own process; the database the Parley
server uses (SQLite, or PostgreSQL + Redis); the Parley server itself (one
Daphne process, or chatsite.serve's N) with its RSS, CPU and SQL statements;
the database connections it holds while a wave runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import psutil  # noqa: E402
from fake_openai.catalog import catalog_text  # noqa: E402

from chatsite.serve import daphne_connect_timeout  # noqa: E402

# Override to keep out of other benchmarks' way on a shared machine.
PG_DATABASE = os.environ.get("BENCH_PG_DATABASE", "parley_bench")
PG_URL = f"postgres://postgres@127.0.0.1:5432/{PG_DATABASE}"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Upstream:
    """The fake OpenAI-compatible upstream of the tests, and a catalog naming it.

    It runs in its own process, as a real one would, so that it does not
    compete with the bench's clients for the interpreter.
    """

    def __init__(self, *, tokens: int, delay: float, workdir: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fake_openai", str(tokens), str(delay)],
            cwd=ROOT / "tests",
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = self.process.stdout.readline().strip()
        self.models_file = workdir / "models.toml"
        self.models_file.write_text(catalog_text(self.url), encoding="utf-8")

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


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


def database_script(env: dict[str, str], script: str):
    """Run a Django script against the server's database; return the JSON it printed last."""
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


class Server:
    """The Parley server under load: one Daphne process, or chatsite.serve's N.

    It serves `application`: by default chatsite.asgi with its SQL statements
    counted (bench/counted_asgi.py), which `sql_statements()` reads.
    """

    def __init__(
        self,
        env: dict[str, str],
        workdir: Path,
        *,
        workers: int = 1,
        application: str = "counted_asgi:application",
    ) -> None:
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
                application,
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
            self.stop()
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
