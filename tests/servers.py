"""Real Daphne worker processes for tests that cross process boundaries.

Each worker serves chatsite.asgi on its own port, against the test database of
the running test and a Redis channel layer, with the fake upstream's catalog.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from channels.db import database_sync_to_async
from django.db import connection
from django.test import Client

from chatsite.serve import daphne_connect_timeout
from conversations.models import Message

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("PARLEY_TEST_WORKERS_REDIS_URL", "redis://127.0.0.1:6379/14")


def redis_reachable() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_env() -> dict[str, str]:
    """Point a child process at the test database this test uses."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return {"SQLITE_PATH": settings["NAME"], "DATABASE_URL": ""}
    user = settings.get("USER") or "postgres"
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    return {"DATABASE_URL": f"postgres://{user}@{host}:{port}/{settings['NAME']}"}


class Worker:
    """One `daphne chatsite.asgi:application` process."""

    def __init__(
        self,
        *,
        models_file: str,
        extra_env: dict[str, str] | None = None,
        port: int | None = None,
        launcher: bool = False,
    ) -> None:
        """Start a worker on `port` (default: a free one); `launcher`: through
        `python -m chatsite.serve --workers 1`, as deploy/systemd runs it."""
        self.port = port or free_port()
        env = {
            **os.environ,
            **_database_env(),
            "DJANGO_SETTINGS_MODULE": "chatsite.settings",
            "REDIS_URL": REDIS_URL,
            "PARLEY_MODELS_FILE": models_file,
            "PARLEY_STARTUP_TASKS": "false",
            "PARLEY_CHECKPOINT_SECONDS": "0.2",
            # No connection may outlive the worker: the test database is dropped at the end.
            "DATABASE_CONN_MAX_AGE": "0",
            **(extra_env or {}),
        }
        self.log = open(  # noqa: SIM115 - closed in stop()
            Path(os.environ.get("TMPDIR", "/tmp")) / f"parley-worker-{self.port}.log", "w+"
        )
        command = (
            ["chatsite.serve", "--workers", "1", "--proxy-headers"]
            if launcher
            else ["daphne", *daphne_connect_timeout([])]
        )
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                *command,
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "chatsite.asgi:application",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            # Its own process group: stop() ends the launcher's Daphne too.
            start_new_session=True,
        )

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def wait_until_listening(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.output()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"worker not listening after {timeout} s:\n{self.output()}")

    def terminate(self, timeout: float = 15.0) -> int:
        """Send SIGTERM, as a process manager does, and wait for the exit."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        # What it started (chatsite.serve's Daphne), whether it was killed or ended.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()


@database_sync_to_async
def cookie_for(user) -> str:
    """The session cookie of `user`, logged in, for a socket to a live server."""
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


@database_sync_to_async
def message_load(message_id: int) -> Message:
    return Message.objects.get(pk=message_id)
