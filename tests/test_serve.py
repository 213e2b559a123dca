"""The multi-worker launcher refuses a setup whose workers could not meet."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection

from chatsite import serve


def test_several_workers_need_a_shared_channel_layer(monkeypatch, capsys):
    monkeypatch.delenv("REDIS_URL", raising=False)
    with pytest.raises(SystemExit) as exit_:
        serve.main(["--workers", "2", "--port", "0"])
    assert exit_.value.code == 2
    assert "REDIS_URL" in capsys.readouterr().err


def test_one_worker_per_core_only_with_redis(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert serve.workers_default() == 1
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/14")
    assert serve.workers_default() >= 1


def test_daphne_waits_longer_than_its_default_for_a_socket_to_be_accepted():
    """Daphne's command line drops sockets not accepted within 5 s: workers allow 30."""
    assert serve.daphne_connect_timeout([]) == ["--websocket_connect_timeout", "30"]
    # A value given on the command line wins.
    assert serve.daphne_connect_timeout(["--websocket_connect_timeout", "60"]) == []
    assert serve.daphne_connect_timeout(["--websocket_connect_timeout=60"]) == []


@pytest.mark.django_db
@pytest.mark.skipif(
    not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
    reason="compares the workers' pools with PostgreSQL's max_connections",
)
def test_more_pooled_connections_than_postgresqls_share_is_a_warning():
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_connections")
        max_connections = int(cursor.fetchone()[0])
    connection.close()
    # Only the settings the launcher reads: no connection is made with them here.
    options = settings.DATABASES["default"]["OPTIONS"]
    saved = options.get("pool")
    options["pool"] = {"max_size": 10}
    try:
        fitting = int(max_connections * settings.DATABASE_POOL_SHARE) // 10
        assert serve.database_connections_check(fitting) == ""
        warning = serve.database_connections_check(fitting + 1)
        assert f"DATABASE_POOL_SIZE=10 = {(fitting + 1) * 10} connections" in warning
        assert f"max_connections ({max_connections})" in warning
    finally:
        if saved is None:
            options.pop("pool")
        else:
            options["pool"] = saved


def test_daphne_caps_websocket_messages_with_its_real_option():
    """The cap is an option Daphne's own command line knows (not the README's old typo)."""
    from daphne.cli import CommandLineInterface

    option = serve.daphne_message_size([])
    parsed = CommandLineInterface().parser.parse_args([*option, "chatsite.asgi:application"])

    assert option == ["--websocket-max-message-size", str(256 * 1024)]
    assert parsed.websocket_max_message_size == 256 * 1024
    assert serve.daphne_message_size(["--websocket-max-message-size", "9"]) == []
