"""Benchmark: building the prompt for conversations of 10, 1,000 and 10,000 messages.

Prints, per conversation size and model window, the median time of
`context.window_build` and its number of SQL queries. Goal: <= 10 ms and a
constant number of queries at 10,000 messages.

    .venv/bin/python bench/prompt_build.py            # a fresh SQLite file
    DATABASE_URL=postgres://... .venv/bin/python bench/prompt_build.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
if not os.environ.get("DATABASE_URL"):
    os.environ["SQLITE_PATH"] = str(Path(tempfile.mkdtemp()) / "bench.sqlite3")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from conversations.backends.registry import model_build  # noqa: E402
from conversations.context import window_build  # noqa: E402
from conversations.models import Conversation, Message  # noqa: E402
from conversations.tokens import message_token_count  # noqa: E402

SIZES = (10, 1_000, 10_000)
RUNS = 20
MODELS = (
    model_build(
        {
            "id": "window-4k",
            "label": "4K window (gpt-3.5-turbo of the seed)",
            "backend": "openai",
            "upstream": "x",
            "context_window": 4096,
            "max_output_tokens": 1024,
            "base_url": "http://x",
            # Stands for an OpenAI model: counted exactly, no estimate margin.
            "tokenizer": "tiktoken",
        }
    ),
    model_build(
        {
            "id": "window-128k",
            "label": "128K window (gpt-4o class)",
            "backend": "openai",
            "upstream": "x",
            "context_window": 128_000,
            "max_output_tokens": 4096,
            "base_url": "http://x",
            # Stands for an OpenAI model: counted exactly, no estimate margin.
            "tokenizer": "tiktoken",
        }
    ),
)
TEXTS = (
    "Can you explain how the context window of a language model works?",
    "A model reads a fixed number of tokens at once: the prompt and the answer share "
    "that budget, so older turns are dropped when a conversation grows too long.",
)


def make_conversation(owner, size: int) -> Conversation:
    conversation = Conversation.objects.create(owner=owner, model_id="window-4k", title=f"{size}")
    counts = [
        message_token_count(role=role, content=text, encoding="cl100k_base")
        for role, text in zip(("user", "assistant"), TEXTS, strict=True)
    ]
    Message.objects.bulk_create(
        [
            Message(
                conversation=conversation,
                role=("user", "assistant")[i % 2],
                content=TEXTS[i % 2],
                token_count=counts[i % 2],
                token_encoding="cl100k_base",
            )
            for i in range(size)
        ],
        batch_size=2_000,
    )
    return conversation


def main() -> None:
    call_command("migrate", verbosity=0)
    owner, _ = get_user_model().objects.get_or_create(username="bench")
    print(f"database: {connection.vendor}; median of {RUNS} runs; newest message of 17 tokens")
    print(f"{'messages':>9}  {'model window':<40} {'sent':>6} {'ms':>8} {'queries':>8}")
    for size in SIZES:
        conversation = make_conversation(owner, size)
        for model in MODELS:
            newest = "And how does Parley decide which turns to keep?"
            window_build(conversation=conversation, model=model, newest=newest)  # warm up
            times = []
            for _ in range(RUNS):
                started = time.perf_counter()
                window = window_build(conversation=conversation, model=model, newest=newest)
                times.append((time.perf_counter() - started) * 1000)
            with CaptureQueriesContext(connection) as queries:
                window_build(conversation=conversation, model=model, newest=newest)
            print(
                f"{size:>9,}  {model.label:<40} {len(window.message_ids):>6,} "
                f"{statistics.median(times):>8.2f} {len(queries):>8}"
            )


if __name__ == "__main__":
    main()
