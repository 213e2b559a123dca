"""API benchmark: N clients streaming chat completions through Parley's /v1.

Each client is the official `openai` AsyncOpenAI client with its own user's
API key; it streams one chat completion (`stream=True`, usage included) from a
real Daphne server, which runs it on the turn engine against the fake upstream
of the tests (200 tokens, 10 ms apart). The same load is sent to the upstream
directly, in the same run, as the floor. Prints time to first token
(p50/p90/p99), tokens/s delivered, errors, and the server's RSS and CPU.

    .venv/bin/python bench/api.py                       # SQLite, in-memory layer
    .venv/bin/python bench/api.py --postgres-redis      # PostgreSQL + Redis
    .venv/bin/python bench/api.py --clients 1 20 100 --tokens 200 --delay 0.01
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import openai
from harness import Server, Upstream, database_script, prepare_database, server_env
from waves import direct_wave, run_wave


def make_keys(env: dict[str, str], count: int) -> list[str]:
    """Create `count` users with an API key each; return the keys."""
    script = f"""
import json, time, django
django.setup()
from django.contrib.auth import get_user_model
from api.services import api_key_create
out = []
for i in range({count}):
    user = get_user_model().objects.create_user(username=f"api{{i}}-{{time.time_ns()}}")
    out.append(api_key_create(user=user, name="bench")[1])
print(json.dumps(out))
"""
    return database_script(env, script)


async def api_client(base_url: str, key: str, ready: asyncio.Barrier, results: list, errors: list):
    async with openai.AsyncOpenAI(base_url=base_url, api_key=key, max_retries=0) as client:
        try:
            await ready.wait()  # every client set up before any sends
            sent = time.perf_counter()
            first = None
            stream = await client.chat.completions.create(
                model="fake",
                messages=[{"role": "user", "content": "Hello"}],
                stream=True,
                stream_options={"include_usage": True},
            )
            async for chunk in stream:
                if first is None and chunk.choices and chunk.choices[0].delta.content:
                    first = time.perf_counter()
            if first is None:
                raise RuntimeError("no text streamed")
            results.append((sent, first, time.perf_counter()))
        except Exception as exc:  # noqa: BLE001
            errors.append(repr(exc))


async def api_wave(base_url: str, keys: list[str], tokens: int):
    ready = asyncio.Barrier(len(keys))
    return await run_wave(
        [lambda r, e, k=k: api_client(base_url, k, ready, r, e) for k in keys], tokens
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 20, 100])
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.01)
    parser.add_argument("--postgres-redis", action="store_true")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="parley-api-bench-"))
    upstream = Upstream(tokens=args.tokens, delay=args.delay, workdir=workdir)
    server = None
    try:
        # No per-minute limit: the bench's users send many requests at once.
        env = {
            **server_env(args, upstream.models_file, workdir),
            "PARLEY_LIMIT_MESSAGES_PER_MINUTE": "0",
        }
        prepare_database(env)
        server = Server(env, workdir, application="chatsite.asgi:application")
        base_url = f"http://127.0.0.1:{server.port}/v1"
        idle_rss = server.rss()
        asyncio.run(api_wave(base_url, make_keys(env, 1), args.tokens))  # warm-up, not counted
        store = "PostgreSQL + Redis" if args.postgres_redis else "SQLite + in-memory layer"
        print(
            f"Parley API benchmark (/v1/chat/completions, streamed): {store}; upstream "
            f"{args.tokens} tokens, {args.delay * 1000:g} ms apart; idle RSS {idle_rss:.0f} MB"
        )
        print(
            f"{'clients':>7} {'path':<8} {'TTFT p50':>9} {'p90':>8} {'p99':>8} "
            f"{'tokens/s':>9} {'ratio':>6} {'errors':>6} {'RSS MB':>7} {'CPU ms/req':>10}"
        )
        for clients in args.clients:
            keys = make_keys(env, clients)
            direct = asyncio.run(direct_wave(upstream.url, clients, args.tokens))
            cpu_before = server.cpu()
            app = asyncio.run(api_wave(base_url, keys, args.tokens))
            cpu_ms = (server.cpu() - cpu_before) * 1000 / clients
            rss = server.rss()
            ratio = app["tps"] / direct["tps"] if direct["tps"] else float("nan")
            for name, row, extra in (
                ("direct", direct, f" {'1.00':>6} {len(direct['errors']):>6}"),
                ("api", app, f" {ratio:>6.2f} {len(app['errors']):>6} {rss:>7.0f} {cpu_ms:>10.1f}"),
            ):
                print(
                    f"{clients:>7} {name:<8} {row['p50']:>7.1f}ms {row['p90']:>6.1f}ms "
                    f"{row['p99']:>6.1f}ms {row['tps']:>9.0f}{extra}"
                )
            for name, row in (("direct", direct), ("api", app)):
                for error in sorted(set(row["errors"]))[:3]:
                    print(f"        {name} error: {error} (server log: {server.log_path})")
    finally:
        if server is not None:
            server.stop()
        upstream.stop()

if __name__ == "__main__":
    main()
