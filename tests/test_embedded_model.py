"""The embedded default model (SmolLM2 through llama.cpp) really answers, one request at a time."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from pathlib import Path

import pytest
from django.conf import settings

from conversations.backends import Queued, Usage
from conversations.backends.registry import catalog_parse

pytestmark = [
    pytest.mark.embedded,
    pytest.mark.no_fake_catalog,
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None,
        reason="llama-cpp-python is not installed (pip install '.[local]')",
    ),
]

QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]


def smollm2():
    text = (Path(settings.BASE_DIR) / "models.toml").read_text(encoding="utf-8")
    model = catalog_parse(text).get("smollm2")
    assert model.usable, model.unusable_reason()
    return model


def local_backend():
    from conversations.backends.local import LocalLlamaBackend

    return LocalLlamaBackend(smollm2())


async def drain(stream, timeout: float = 60) -> list:
    events = []
    async with asyncio.timeout(timeout):
        async for event in stream:
            events.append(event)
    return events


def assert_an_answer(events: list) -> None:
    """Some text chunks, then exactly one Usage, last."""
    texts = [event for event in events if isinstance(event, str)]
    assert len(texts) >= 3, events
    assert "".join(texts).strip()
    assert isinstance(events[-1], Usage), events
    assert [event for event in events if isinstance(event, Usage)] == [events[-1]]
    assert events[-1].output_tokens > 0
    assert events[-1].input_tokens > 0


async def test_the_shipped_small_model_loads_once_and_answers(caplog):
    backend = local_backend()

    with caplog.at_level(logging.INFO, logger="parley.backends"):
        await asyncio.to_thread(backend.load)
        await asyncio.to_thread(backend.load)
        events = await drain(backend.stream(messages=QUESTION, max_tokens=16))

    loads = [r for r in caplog.records if r.getMessage().startswith("loading local model smollm2")]
    assert len(loads) == 1
    assert_an_answer(events)
    assert events[-1].output_tokens <= 16


async def test_a_second_request_is_told_it_waits_behind_the_first():
    backend = local_backend()
    first = backend.stream(messages=QUESTION, max_tokens=16)
    second = backend.stream(messages=QUESTION, max_tokens=16)

    async with asyncio.timeout(60):
        first_event = await anext(first)  # the first request is running now
        second_event = await anext(second)

    assert isinstance(first_event, str)
    assert second_event == Queued(ahead=1)
    first_events = [first_event, *await drain(first)]
    second_events = await drain(second)
    assert_an_answer(first_events)
    assert_an_answer(second_events)
    assert not [event for event in second_events if isinstance(event, Queued)]

