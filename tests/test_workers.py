"""Several real Daphne workers on one Redis: streams and Stop cross processes;
SIGTERM keeps what was written."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from channels.db import database_sync_to_async
from servers import Worker, cookie_for, message_load, redis_reachable
from streaming import FINISHED, StreamedBodies, StreamedBody, visible_text
from websockets.asyncio.client import connect as ws_connect

from conversations import services
from conversations.models import Message

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not redis_reachable(), reason="needs Redis on 127.0.0.1:6379"),
    pytest.mark.timeout(180),
]
TIMEOUT = 40
@pytest.fixture
def workers(catalog_file):
    pair = [Worker(models_file=str(catalog_file)) for _ in range(2)]
    try:
        for worker in pair:
            worker.wait_until_listening()
        yield pair
    finally:
        for worker in pair:
            worker.stop()


async def open_socket(worker: Worker, conversation, cookie: str):
    return await ws_connect(
        worker.ws_url(f"/ws/c/{conversation.public_id}/"),
        origin=worker.origin,
        additional_headers={"Cookie": cookie},
        open_timeout=TIMEOUT,
    )


async def read_until_finished(socket) -> tuple[int, str, str]:
    """Collect a reply as a browser shows it: snapshot, then chunks; return (id, status, text)."""
    body = StreamedBody()
    async with asyncio.timeout(TIMEOUT):
        async for frame in socket:
            body.apply(frame)
            if match := FINISHED.search(frame):
                return int(match.group(1)), match.group(2), body.text
    raise AssertionError("socket closed before the reply finished")


async def first_chunk(socket) -> int:
    async with asyncio.timeout(TIMEOUT):
        async for frame in socket:
            body = StreamedBody()
            if body.apply(frame) and body.updates:
                return body.message_id
    raise AssertionError("no chunk arrived")


async def test_a_view_on_one_worker_sees_a_reply_written_by_another(workers, alice, upstream):
    # Far more chunks than the layer's default capacity of 100, sent without pause.
    upstream.tokens = [f"t{i} " for i in range(400)]
    first, second = workers
    conversation = await database_sync_to_async(services.conversation_create)(owner=alice)
    cookie = await cookie_for(alice)

    on_second = await open_socket(second, conversation, cookie)
    on_first = await open_socket(first, conversation, cookie)
    await on_first.send(json.dumps({"action": "send", "message": "Count", "HEADERS": {}}))
    message_id, status, text = await read_until_finished(on_second)
    await on_first.close()
    await on_second.close()

    assert status == "complete"
    expected = "".join(upstream.tokens)
    assert (await message_load(message_id)).content == expected
    # Streamed whole; or, for a view that fell behind a loaded machine, not at all
    # (the turn's first frame then draws the finished answer, as checked above).
    assert text in (visible_text(expected), "")


async def test_a_view_open_on_another_worker_streams_the_reply_as_it_is_written(
    workers, alice, upstream
):
    """The writer joins its control group before announcing the turn: the other
    worker's snapshot request, sent as soon as it sees the turn, is answered."""
    upstream.tokens = [f"s{i} " for i in range(200)]
    upstream.delay = 0.02  # four seconds: the other view sees the turn long before its end
    first, second = workers
    conversation = await database_sync_to_async(services.conversation_create)(owner=alice)
    cookie = await cookie_for(alice)

    on_second = await open_socket(second, conversation, cookie)
    on_first = await open_socket(first, conversation, cookie)
    await on_first.send(json.dumps({"action": "send", "message": "Stream", "HEADERS": {}}))
    body = StreamedBody()
    async with asyncio.timeout(TIMEOUT):
        async for frame in on_second:
            body.apply(frame)
            if match := FINISHED.search(frame):
                message_id, status = int(match.group(1)), match.group(2)
                break
    await on_first.close()
    await on_second.close()

    assert status == "complete"
    assert (await message_load(message_id)).content == "".join(upstream.tokens)
    # Streamed as it was written (not only drawn whole at the end), with no gap.
    assert body.updates > 1
    assert body.text == visible_text("".join(upstream.tokens))


async def test_stop_from_another_worker_and_attach_mid_reply(workers, alice, upstream):
    upstream.tokens = [f"w{i} " for i in range(300)]
    upstream.delay = 0.03
    first, second = workers
    conversation = await database_sync_to_async(services.conversation_create)(owner=alice)
    cookie = await cookie_for(alice)

    on_first = await open_socket(first, conversation, cookie)
    await on_first.send(json.dumps({"action": "send", "message": "Go", "HEADERS": {}}))
    message_id = await first_chunk(on_first)
    await asyncio.sleep(0.5)
    # A view opened on the other worker mid-reply gets the text so far, then the rest.
    on_second = await open_socket(second, conversation, cookie)
    await asyncio.sleep(0.5)
    await on_second.send(
        json.dumps({"action": "stop", "message_id": str(message_id), "HEADERS": {}})
    )
    _, status, seen_on_second = await read_until_finished(on_second)
    await on_first.close()
    await on_second.close()

    message = await message_load(message_id)
    assert status == message.status == "stopped"
    assert message.content.startswith("w0 w1 w2 ")
    assert seen_on_second == visible_text(message.content)
    assert len(message.content.split()) < 300


async def test_sigterm_saves_the_running_reply_as_interrupted(workers, alice, upstream):
    upstream.tokens = [f"s{i} " for i in range(300)]
    upstream.delay = 0.05
    first, _ = workers
    conversation = await database_sync_to_async(services.conversation_create)(owner=alice)
    cookie = await cookie_for(alice)

    socket = await open_socket(first, conversation, cookie)
    await socket.send(json.dumps({"action": "send", "message": "Go", "HEADERS": {}}))
    message_id = await first_chunk(socket)
    await asyncio.sleep(0.5)
    exit_code = await asyncio.to_thread(first.terminate)

    message = await message_load(message_id)
    assert exit_code == 0, first.output()
    assert message.status == "interrupted"
    assert message.content.startswith("s0 s1 ")
    assert len(message.content.split()) < 300


async def test_a_frame_over_the_servers_limit_is_refused_and_others_go_on(
    workers, alice, upstream
):
    from websockets.exceptions import ConnectionClosed

    first, _ = workers
    conversation = await database_sync_to_async(services.conversation_create)(owner=alice)
    cookie = await cookie_for(alice)

    socket = await open_socket(first, conversation, cookie)
    # Daphne refuses frames over 1 MiB before the app sees them: it drops the
    # connection (or closes it with 1009, "message too big").
    await socket.send(json.dumps({"action": "send", "message": "x" * (2 * 2**20)}))
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(TIMEOUT):
            async for _ in socket:
                pass
    assert closed.value.rcvd is None or closed.value.rcvd.code == 1009
    assert await database_sync_to_async(Message.objects.count)() == 0

    # The server is fine: a new socket chats as usual.
    socket = await open_socket(first, conversation, cookie)
    await socket.send(json.dumps({"action": "send", "message": "Hi", "HEADERS": {}}))
    _, status, _ = await read_until_finished(socket)
    await socket.close()
    assert status == "complete"


def _http(worker: Worker, path: str, *, cookie: str, data: dict | None = None):
    """A GET (or a form POST) to a worker as a browser sends it; returns (status, headers, body)."""
    import urllib.error
    import urllib.parse
    import urllib.request

    body = urllib.parse.urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(
        f"{worker.origin}{path}",
        data=body,
        headers={"Cookie": cookie, "Origin": worker.origin},
    )
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None  # the redirect is the answer: an HTTPError below

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=TIMEOUT) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


async def close_code(socket) -> int | None:
    from websockets.exceptions import ConnectionClosed

    try:
        async with asyncio.timeout(TIMEOUT):
            async for _ in socket:
                pass
    except ConnectionClosed:
        pass
    return socket.close_code


async def test_logging_out_on_one_worker_closes_the_sessions_sockets_on_both(
    workers, alice, upstream
):
    first, second = workers
    conversation = await database_sync_to_async(services.conversation_create)(owner=alice)
    cookie = await cookie_for(alice)
    on_first = await open_socket(first, conversation, cookie)
    on_second = await open_socket(second, conversation, cookie)

    # Log out through the second worker's page, as the "Log out" button does.
    _, headers, page = await asyncio.to_thread(
        _http, second, "/accounts/password/", cookie=cookie
    )
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    csrf_cookie = re.search(r"csrftoken=([^;]+)", headers["Set-Cookie"]).group(1)
    status, _, _ = await asyncio.to_thread(
        _http,
        second,
        "/accounts/logout/",
        cookie=f"{cookie}; csrftoken={csrf_cookie}",
        data={"csrfmiddlewaretoken": token},
    )

    assert status == 302
    assert await close_code(on_first) == 4401
    assert await close_code(on_second) == 4401
    assert await database_sync_to_async(Message.objects.count)() == 0


async def test_a_comparison_sent_on_one_worker_streams_on_another(workers, alice, upstream):
    upstream.model_tokens = {
        "fake-model": [f"a{i} " for i in range(60)],
        "fake-model-b": [f"b{i} " for i in range(40)],
    }
    upstream.model_delays = {"fake-model": 0.02, "fake-model-b": 0.01}
    first, second = workers
    conversation = await database_sync_to_async(services.conversation_create)(owner=alice)
    cookie = await cookie_for(alice)

    on_second = await open_socket(second, conversation, cookie)
    on_first = await open_socket(first, conversation, cookie)
    await on_first.send(json.dumps({
        "action": "send", "message": "Both", "compare_models": ["fake", "fake-b"], "HEADERS": {},
    }))
    bodies = StreamedBodies()
    finished: set[int] = set()
    grids = 0
    async with asyncio.timeout(TIMEOUT):
        async for frame in on_second:
            grids += 'class="comparison comparison--2"' in frame
            bodies.apply(frame)
            finished |= {int(match.group(1)) for match in FINISHED.finditer(frame)}
            if len(finished) == 2:
                break
    await on_first.close()
    await on_second.close()

    saved = [await message_load(message_id) for message_id in sorted(finished)]
    assert [message.model_id for message in saved] == ["fake", "fake-b"]
    assert [message.status for message in saved] == ["complete", "complete"]
    # The other worker drew the comparison as it started, then each answer as
    # it ended; what it streamed in between is each answer's text, or nothing
    # when it attached too late (as for a single reply, see the first test).
    assert grids == 1
    for message in saved:
        shown = bodies[message.pk].text if message.pk in bodies else ""
        assert shown in (visible_text(message.content), "")
