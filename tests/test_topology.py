"""The production topology of deploy/, on loopback: nginx (Debian's package) in
front of two workers started as deploy/systemd starts them (chatsite.serve),
with Redis and the test database. Answers stream through nginx, and a rolling
restart of one worker while they stream loses no text.

nginx runs unprivileged in its own prefix (a temporary directory: its config,
pid, logs and temp paths), on a free port, with the shipped
deploy/nginx/parley-http.conf (worker ports filled in) and
deploy/nginx/parley-locations.conf (static root filled in) inside a plain-http
server block in place of parley-site.conf's TLS one.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from servers import ROOT, Worker, cookie_for, free_port, message_load, redis_reachable
from streaming import FINISHED, StreamedBody, visible_text
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from conversations import services

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not redis_reachable(), reason="needs Redis on 127.0.0.1:6379"),
    pytest.mark.skipif(
        NGINX is None, reason="nginx is not installed (scripts/install test installs Debian's)"
    ),
    pytest.mark.timeout(240),
]
TIMEOUT = 60
DEPLOY = ROOT / "deploy" / "nginx"


def http_get(url: str, headers: dict[str, str] | None = None):
    request = urllib.request.Request(url, headers=headers or {})
    return urllib.request.urlopen(request, timeout=30)


def wait_until_serving(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            http_get(url)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class Nginx:
    """nginx in a prefix of its own, in front of the given worker ports."""

    def __init__(self, prefix: Path, worker_ports: list[int], static_root: Path) -> None:
        self.prefix = prefix
        self.port = free_port()
        http_conf = (DEPLOY / "parley-http.conf").read_text()
        http_conf = http_conf.replace("127.0.0.1:8001", f"127.0.0.1:{worker_ports[0]}")
        http_conf = http_conf.replace("127.0.0.1:8002", f"127.0.0.1:{worker_ports[1]}")
        locations = (DEPLOY / "parley-locations.conf").read_text()
        locations = locations.replace("/srv/parley/staticfiles/", f"{static_root}/")
        (prefix / "parley-http.conf").write_text(http_conf)
        (prefix / "parley-locations.conf").write_text(locations)
        temp_paths = "\n".join(
            f"    {kind}_temp_path {prefix}/{kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (prefix / "nginx.conf").write_text(
            f"""
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    access_log {prefix}/access.log;
{temp_paths}
    include {prefix}/parley-http.conf;
    server {{
        listen 127.0.0.1:{self.port};
        server_name localhost;
        include {prefix}/parley-locations.conf;
    }}
}}
"""
        )
        self.process = subprocess.Popen(
            [NGINX, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", "nginx.conf"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)


@pytest.fixture
def deploy_dir() -> Iterator[Path]:
    """Where nginx's prefix and the static files go: readable by nginx's workers,
    which drop to `nobody` when the tests run as root (pytest's tmp_path is not)."""
    path = Path(tempfile.mkdtemp(prefix="parley-nginx-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def static_root(deploy_dir: Path) -> Path:
    root = deploy_dir / "static"
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, "STATIC_ROOT": str(root), "DJANGO_SETTINGS_MODULE": "chatsite.settings"},
        check=True,
    )
    return root


@pytest.fixture
def topology(catalog_file, static_root, deploy_dir):
    env = {"STATIC_ROOT": str(static_root), "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost"}
    workers = [
        Worker(models_file=str(catalog_file), extra_env=env, launcher=True) for _ in range(2)
    ]
    prefix = deploy_dir / "nginx"
    prefix.mkdir(mode=0o755)
    nginx = Nginx(prefix, [worker.port for worker in workers], static_root)
    state = {"workers": workers, "nginx": nginx, "env": env, "catalog": str(catalog_file)}
    try:
        for worker in workers:
            wait_until_serving(f"{worker.origin}/accounts/login/")
        wait_until_serving(f"{nginx.origin}/accounts/login/")
        yield state
    finally:
        nginx.stop()
        for worker in state["workers"]:
            worker.stop()


def test_pages_and_static_files_through_nginx(topology):
    nginx = topology["nginx"]
    page = http_get(f"{nginx.origin}/accounts/login/").read().decode()
    assert 'name="csrfmiddlewaretoken"' in page
    # Static files come from nginx itself (its caching headers), not a worker.
    script = http_get(f"{nginx.origin}/static/parley/chat.js")
    assert script.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert script.read() == (ROOT / "static" / "parley" / "chat.js").read_bytes()


async def open_socket(nginx: Nginx, conversation, cookie: str):
    return await ws_connect(
        nginx.ws_url(f"/ws/c/{conversation.public_id}/"),
        origin=nginx.origin,
        additional_headers={"Cookie": cookie},
        open_timeout=TIMEOUT,
    )


async def follow(socket, body: StreamedBody | None = None) -> dict:
    """Read a reply as the page shows it (`body` so far), until it ends or the socket drops."""
    body = body or StreamedBody()
    seen = {"id": body.message_id, "text": body.text, "status": None, "dropped": False}
    try:
        async with asyncio.timeout(TIMEOUT):
            async for frame in socket:
                if body.apply(frame):
                    seen["id"], seen["text"] = body.message_id, body.text
                if match := FINISHED.search(frame):
                    seen["id"], seen["status"] = int(match.group(1)), match.group(2)
                    return seen
    except ConnectionClosed:
        pass
    seen["dropped"] = True
    return seen


async def first_chunk(socket) -> tuple[int, StreamedBody]:
    """The id of the reply and its body as shown once its first chunk arrived."""
    body = StreamedBody()
    async with asyncio.timeout(TIMEOUT):
        async for frame in socket:
            if body.apply(frame) and body.updates:
                return body.message_id, body
    raise AssertionError("no chunk arrived")


async def test_answers_stream_through_nginx_across_a_rolling_restart(topology, alice, upstream):
    upstream.tokens = [f"r{i} " for i in range(200)]
    upstream.delay = 0.03  # six seconds per answer: the restart falls in the middle
    nginx = topology["nginx"]
    cookie = await cookie_for(alice)
    conversations = [
        await database_sync_to_async(services.conversation_create)(owner=alice) for _ in range(4)
    ]
    # nginx hands new connections to the two workers in turn.
    sockets = [await open_socket(nginx, conversation, cookie) for conversation in conversations]
    for socket in sockets:
        await socket.send(json.dumps({"action": "send", "message": "Count", "HEADERS": {}}))
    firsts = [await first_chunk(socket) for socket in sockets]
    message_ids = [message_id for message_id, _ in firsts]
    readers = [
        asyncio.create_task(follow(socket, body))
        for socket, (_, body) in zip(sockets, firsts, strict=True)
    ]

    await asyncio.sleep(1)  # mid-answer (not a condition: any moment before the end will do)
    # Rolling restart of the first worker, as `systemctl restart parley@PORT` does.
    restarted = topology["workers"][0]
    assert await asyncio.to_thread(restarted.terminate) == 0, restarted.output()
    restarted.stop()
    topology["workers"][0] = Worker(
        models_file=topology["catalog"], extra_env=topology["env"], port=restarted.port,
        launcher=True,
    )
    seen = await asyncio.gather(*readers)

    statuses = sorted(
        "dropped" if reply["dropped"] else reply["status"] for reply in seen
    )
    # The other worker's answers went on to the end; the restarted one's sockets dropped.
    assert statuses.count("complete") >= 1, statuses
    assert statuses.count("dropped") >= 1, statuses
    expected = "".join(upstream.tokens)
    for message_id, conversation, reply in zip(message_ids, conversations, seen, strict=True):
        message = await message_load(message_id)
        if reply["dropped"]:
            # Saved as interrupted with everything written, including what the
            # page was shown; never lost.
            assert message.status == "interrupted"
            assert reply["text"].startswith("r0 ")
            assert visible_text(message.content).startswith(reply["text"])
            # The page reconnects (through nginx, to a worker that is up) and
            # names the reply it shows streaming: it is drawn whole, interrupted.
            await asyncio.to_thread(
                wait_until_serving, f"{topology['workers'][0].origin}/accounts/login/"
            )
            socket = await open_socket(nginx, conversation, cookie)
            await socket.send(json.dumps({"action": "sync", "message_ids": [message_id]}))
            redrawn = await follow(socket)
            await socket.close()
            assert (redrawn["id"], redrawn["status"]) == (message_id, "interrupted")
        else:
            assert reply["status"] == message.status == "complete"
            assert message.content == expected
            assert reply["text"] == visible_text(expected)

    # After the restart both workers answer through nginx.
    for conversation in conversations[:2]:
        socket = await open_socket(nginx, conversation, cookie)
        await socket.send(json.dumps({"action": "send", "message": "Again", "HEADERS": {}}))
        reply = await follow(socket)
        await socket.close()
        assert reply["status"] == "complete"
