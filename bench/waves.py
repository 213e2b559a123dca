"""Waves of clients sent at once, timed: time to first token and tokens/s.

Shared by bench/load.py and bench/api.py, with the floor both measure: the
same load sent to the upstream directly.
"""

from __future__ import annotations

import asyncio
import time

import openai


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def run_wave(factories, tokens: int):
    """Run the clients at once; tokens/s is over the time from the first send to the last end.

    Each factory takes the wave's `results` (append `(sent, first token, end)`)
    and `errors` lists and returns the client's coroutine.
    """
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
    """The floor: the same clients streaming from the upstream itself."""
    # One pooled client, as the server has one per model.
    async with openai.AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0) as client:
        await direct_client(client, [], [])  # warm the pool, as the server's is
        return await run_wave([lambda r, e: direct_client(client, r, e)] * clients, tokens)
