"""`make run` serves the way production does, over plain http, on localhost and the LAN.

Runs the Makefile's own `run` recipe (its install and translation steps taken as
done), with the database, static files and secret key in a temporary directory.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from servers import free_port

from chatsite.serve import lan_hosts

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(240)


def lan_address() -> str | None:
    candidates = [host for host in lan_hosts() if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", host)]
    return next((host for host in candidates if not host.startswith("127.")), None)


def fetch(url: str) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


@pytest.fixture
def make_run(tmp_path, catalog_file):
    port = free_port()
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "PARLEY_", "DATABASE_URL", "REDIS_URL"))
    }
    environment.update(
        SQLITE_PATH=str(tmp_path / "db.sqlite3"),
        STATIC_ROOT=str(tmp_path / "static"),
        PARLEY_SECRET_KEY_FILE=str(tmp_path / "secret_key"),
        PARLEY_MODELS_FILE=str(catalog_file),
        PARLEY_STARTUP_TASKS="false",
    )
    process = subprocess.Popen(
        ["make", "-o", "install", "-o", "messages", "run", "HOST=0.0.0.0", f"PORT={port}"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, stopped whole below
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        yield port, tmp_path
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def test_make_run_serves_without_debug_over_plain_http(make_run):
    port, tmp_path = make_run
    base = f"http://127.0.0.1:{port}"

    status, headers, login_page = fetch(f"{base}/accounts/login/")
    css_status, _, css = fetch(f"{base}/static/parley/parley.css")
    missing_status, _, missing = fetch(f"{base}/s/revoked-or-never-was/")

    assert status == 200
    assert "csrfmiddlewaretoken" in login_page
    # Plain http: the cookie is not Secure (a browser would drop it), no redirect.
    assert "Secure" not in headers.get("Set-Cookie", "")
    assert css_status == 200 and len(css) > 1000  # collected and served by WhiteNoise
    assert missing_status == 404
    # DEBUG is off: no URL patterns or settings on the error page.
    assert "URLconf" not in missing and "DEBUG" not in missing
    key_file = tmp_path / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_make_run_answers_on_a_lan_address(make_run):
    port, _ = make_run
    address = lan_address()
    if address is None:
        pytest.skip("this machine has no LAN address")

    status, _, _ = fetch(f"http://{address}:{port}/accounts/login/")

    assert status == 200
