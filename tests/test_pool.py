"""Bounded database connections: a worker borrows from one pool, and a busy pool
is a clear "try again" (503 page, an alert on the socket), never a 500 or a lost draft.

PostgreSQL only: the pool is psycopg-pool's, through Django's OPTIONS["pool"].
Here the pool is shrunk to one connection, which a second thread holds, so
that the request under test really waits for it and times out.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection
from django.test import Client
from sockets import (
    ALERT,
    connect,
    create_conversation,
    read_reply,
    send_message,
    socket_for,
)

from chatsite.errors import database_busy_text
from conversations.models import Message

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
        reason="the connection pool is PostgreSQL's (psycopg-pool); SQLite has none",
    ),
]

ROOT = Path(__file__).resolve().parent.parent
# Two: a socket's session and user are read on Channels' one thread-sensitive
# thread, whose connection stays borrowed until that thread's next call, and its
# conversation on another thread.
POOL_SIZE = 2


def test_a_worker_on_postgresql_borrows_from_a_bounded_pool():
    """The settings a worker starts with (this test process runs without a pool)."""
    script = (
        "from django.conf import settings; d = settings.DATABASES['default']; "
        "print(d['OPTIONS']['pool']['max_size'], d['OPTIONS']['pool']['timeout'], "
        "d['CONN_MAX_AGE'])"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/parley",
        "DATABASE_POOL_SIZE": "7",
    }
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {script}"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )
    assert result.stdout.split() == ["7", "10.0", "0"]


def test_a_connection_goes_back_to_the_pool_when_django_closes_it(small_pool):
    connection.ensure_connection()
    stats = connection.pool.get_stats()
    assert stats["pool_size"] - stats.get("pool_available", 0) == 1
    connection.close()
    stats = connection.pool.get_stats()
    assert stats["pool_size"] == stats.get("pool_available", 0)


class Holder:
    """Threads that each hold one of the pool's connections until released."""

    def __init__(self, count: int = POOL_SIZE) -> None:
        self.held = threading.Barrier(count + 1)
        self.release = threading.Event()
        self.threads = [threading.Thread(target=self._run) for _ in range(count)]

    def _run(self) -> None:
        connection.ensure_connection()  # this thread's own connection object
        self.held.wait(30)
        self.release.wait(30)
        connection.close()

    def __enter__(self) -> Holder:
        for thread in self.threads:
            thread.start()
        self.held.wait(30)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        for thread in self.threads:
            thread.join(30)


def close_connection() -> None:
    """Give back this thread's connection (looked up here, not in the caller's thread)."""
    connection.close()


@pytest.fixture
def small_pool() -> Iterator[None]:
    """Shrink the pool to POOL_SIZE connections, waited for at most half a second.

    Requested after the fixtures that write (users): the main thread's
    connection is given back here.
    """
    options = connection.settings_dict["OPTIONS"]
    saved = options.get("pool")
    connection.close()
    connection.close_pool()
    # close_pool() forgets a pool only while OPTIONS name one.
    connection._connection_pools.pop(connection.alias, None)
    options["pool"] = {"min_size": 0, "max_size": POOL_SIZE, "timeout": 0.5}
    try:
        yield
    finally:
        connection.close()
        connection.close_pool()
        # Connections that threads of the test's own event loop (gone now) still
        # held stay open after the pool closed; the test database is dropped at
        # the end, so end them here.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        connection.close()
        if saved is None:
            options.pop("pool")
        else:
            options["pool"] = saved


def test_a_page_while_every_connection_is_busy_is_a_503_that_says_try_again(
    alice, small_pool
):
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    connection.close()  # back to the pool, for the holders to take

    with Holder():
        response = client.get("/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert database_busy_text() in response.content.decode()

    # Once a connection is free again, the same page works.
    assert client.get("/").status_code == 200


async def test_a_send_while_every_connection_is_busy_is_refused_and_kept(
    alice, upstream, small_pool
):
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)
    # The socket handles frames in order, after its connect (which reads the
    # database after accepting): once this one is answered, that is done.
    await socket.send_to(text_data="not json")
    assert ALERT.search(await socket.receive_from(timeout=30))
    await database_sync_to_async(close_connection)()

    holder = Holder()
    await database_sync_to_async(holder.__enter__, thread_sensitive=False)()
    try:
        await send_message(socket, "Still there?")
        frame = await socket.receive_from(timeout=30)
    finally:
        await database_sync_to_async(holder.__exit__, thread_sensitive=False)(None, None, None)
    match = ALERT.search(frame)
    assert match is not None, frame
    assert match.group(1) == database_busy_text()
    # Nothing was saved, and the composer was not cleared (no composer frame came).
    assert 'id="composer-input"' not in frame
    assert await database_sync_to_async(Message.objects.count)() == 0

    # The socket stays usable: the same message, sent again, is answered.
    await send_message(socket, "Still there?")
    reply = await read_reply(socket)
    assert reply.status == "complete"
    await socket.disconnect()
    # Give back what Channels' thread still holds, before the pool is closed.
    await database_sync_to_async(close_connection)()


async def test_a_socket_opened_while_every_connection_is_busy_is_told_to_try_again(
    alice, upstream, small_pool
):
    conversation = await create_conversation(alice)
    socket = await socket_for(alice, conversation)  # its session is saved before the wait
    await database_sync_to_async(close_connection)()

    holder = Holder()
    await database_sync_to_async(holder.__enter__, thread_sensitive=False)()
    try:
        accepted, code = await socket.connect(timeout=30)
    finally:
        await database_sync_to_async(holder.__exit__, thread_sensitive=False)(None, None, None)
    # 1013 "try again later": the page's socket reconnects after it.
    assert (accepted, code) == (False, 1013)
    await database_sync_to_async(close_connection)()
