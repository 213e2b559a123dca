"""The multi-worker launcher refuses a setup whose workers could not meet."""

from __future__ import annotations

import pytest

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
