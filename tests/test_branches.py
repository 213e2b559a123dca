"""Regenerate, edit and branch: alternatives are kept, navigable, and the model
always receives the history of the branch shown."""

from __future__ import annotations

import re

import pytest
from channels.db import database_sync_to_async
from django.core.exceptions import ValidationError
from django.test import Client
from sockets import connect, read_reply, receive_alert, send_message

from conversations import exports, selectors, services
from conversations.models import Message

pytestmark = pytest.mark.django_db(transaction=True)

BRANCH_FRAME = re.compile(
    r'<div id="messages" class="messages" aria-live="polite" hx-swap-oob="true">'
)


async def send(socket, **frame) -> None:
    await socket.send_json_to({**frame, "HEADERS": {"HX-Request": "true"}})


async def turn(socket, text: str):
    await send_message(socket, text)
    return await read_reply(socket)


@database_sync_to_async
def shown(conversation) -> list[str]:
    return list(selectors.message_list(conversation=conversation).values_list("content", flat=True))


@database_sync_to_async
def message_of(conversation, content: str) -> Message:
    return conversation.messages.get(content=content)


@database_sync_to_async
def create(owner):
    return services.conversation_create(owner=owner)


def sent_history(upstream) -> list[str]:
    return [m["content"] for m in upstream.chat_requests()[-1]["json"]["messages"]]


@pytest.fixture
async def chat(alice, upstream):
    """Alice's conversation of two turns, open in a socket: Q1 A1 Q2 A2."""
    conversation = await create(alice)
    socket = await connect(alice, conversation)
    upstream.tokens = ["A1"]
    await turn(socket, "Q1")
    upstream.tokens = ["A2"]
    await turn(socket, "Q2")
    yield conversation, socket
    await socket.disconnect()


async def test_regenerate_keeps_the_old_answer_and_sends_the_same_history(chat, upstream):
    conversation, socket = chat
    old = await message_of(conversation, "A2")
    upstream.tokens = ["A2 again"]

    await send(socket, action="regenerate", message_id=str(old.pk))
    reply = await read_reply(socket)

    assert BRANCH_FRAME.search(reply.frames[0]), "the branch is drawn again"
    assert reply.status == "complete"
    assert sent_history(upstream) == ["Q1", "A1", "Q2"]
    assert await shown(conversation) == ["Q1", "A1", "Q2", "A2 again"]
    old = await message_of(conversation, "A2")
    assert old.off_branch and old.content == "A2"
    assert "2 / 2" in reply.final_frame


async def test_edit_branches_and_the_model_receives_the_branch_shown(chat, upstream):
    conversation, socket = chat
    q1 = await message_of(conversation, "Q1")
    upstream.tokens = ["A1'"]

    await send(socket, action="edit", message_id=str(q1.pk), message="Q1'")
    await read_reply(socket)

    assert sent_history(upstream) == ["Q1'"]
    assert await shown(conversation) == ["Q1'", "A1'"]
    upstream.tokens = ["A3"]
    await turn(socket, "Q3")
    assert sent_history(upstream) == ["Q1'", "A1'", "Q3"]

    # Back to the first version of Q1: its whole line comes back.
    edited = await message_of(conversation, "Q1'")
    await send(socket, action="branch", message_id=str(edited.pk), step="-1")
    frame = await socket.receive_from(timeout=10)
    assert BRANCH_FRAME.search(frame)
    assert "Q2" in frame and "Q3" not in frame and "1 / 2" in frame
    assert await shown(conversation) == ["Q1", "A1", "Q2", "A2"]
    upstream.tokens = ["A4"]
    await turn(socket, "Q4")
    assert sent_history(upstream) == ["Q1", "A1", "Q2", "A2", "Q4"]

    # And forward again: the edited line, where it left off.
    await send(socket, action="branch", message_id=str(q1.pk), step="1")
    await socket.receive_from(timeout=10)
    assert await shown(conversation) == ["Q1'", "A1'", "Q3", "A3"]


async def test_every_view_redraws_and_a_reload_shows_the_branch_the_user_was_on(
    chat, alice, upstream
):
    conversation, socket = chat
    other_view = await connect(alice, conversation)
    a2 = await message_of(conversation, "A2")
    upstream.tokens = ["A2 again"]
    await send(socket, action="regenerate", message_id=str(a2.pk))
    await read_reply(socket)
    await read_reply(other_view)

    newer = await message_of(conversation, "A2 again")
    await send(socket, action="branch", message_id=str(newer.pk), step="-1")
    assert "1 / 2" in await other_view.receive_from(timeout=10)
    await other_view.disconnect()

    client = Client()
    await database_sync_to_async(client.force_login)(alice)
    page = (await database_sync_to_async(client.get)(conversation.get_absolute_url())).content
    html = page.decode()
    assert ">A2</p>" in html and "A2 again" not in html
    assert '<span class="alternatives-position">1 / 2</span>' in html


async def test_nothing_changes_while_an_answer_is_being_written(chat, upstream):
    conversation, socket = chat
    q1 = await message_of(conversation, "Q1")
    upstream.tokens = ["slow"] * 50
    upstream.delay = 0.05
    await send_message(socket, "Q3")
    await socket.receive_from(timeout=10)  # the turn started

    await send(socket, action="edit", message_id=str(q1.pk), message="Q1'")

    for _ in range(200):
        frame = await socket.receive_from(timeout=10)
        if 'id="chat-alert"' in frame and "Wait for the answer" in frame:
            break
    else:
        raise AssertionError("no refusal")


async def test_bad_branch_frames_get_clear_errors(chat):
    conversation, socket = chat
    q1 = await message_of(conversation, "Q1")

    await send(socket, action="branch", message_id=str(q1.pk), step="1")
    assert await receive_alert(socket) == "There is no other version that way."
    await send(socket, action="branch", message_id=str(q1.pk), step="7")
    assert await receive_alert(socket) == "Choose the previous or the next version."
    await send(socket, action="branch", message_id="x", step="1")
    assert await receive_alert(socket) == "No such version."
    await send(socket, action="edit", message_id=str(q1.pk), message="  ")
    assert await receive_alert(socket) == "Type a message first."
    a1 = await message_of(conversation, "A1")
    await send(socket, action="edit", message_id=str(a1.pk), message="Not a question")
    assert await receive_alert(socket) == (
        "That message is not on the branch shown; reload to see it."
    )
    assert await shown(conversation) == ["Q1", "A1", "Q2", "A2"]


# --- Services and selectors, without sockets ---------------------------------------------


def line(conversation, *contents: str) -> list[Message]:
    """Save a line of alternating questions and complete answers after the branch's end."""
    from history import add_message

    return [
        add_message(
            conversation=conversation,
            role="user" if n % 2 == 0 else "assistant",
            content=content,
            model_id="" if n % 2 == 0 else "fake",
        )
        for n, content in enumerate(contents)
    ]


def test_switching_goes_down_the_newest_line_of_the_other_version(alice):
    conversation = services.conversation_create(owner=alice)
    q1, a1, q2, a2 = line(conversation, "Q1", "A1", "Q2", "A2")
    turn = services.turn_regenerate(conversation=conversation, message_id=a1.pk)
    Message.objects.filter(pk=turn.assistant_message.pk).update(status="complete", content="B1")
    line(conversation, "P2", "B2")

    services.branch_switch(conversation=conversation, message_id=turn.assistant_message.pk, step=-1)
    assert list(selectors.message_list(conversation=conversation)) == [q1, a1, q2, a2]

    services.branch_switch(conversation=conversation, message_id=a1.pk, step=1)
    contents = selectors.message_list(conversation=conversation).values_list("content", flat=True)
    assert list(contents) == ["Q1", "B1", "P2", "B2"]


def test_alternatives_say_where_each_message_stands(alice, django_assert_max_num_queries):
    conversation = services.conversation_create(owner=alice)
    q1, a1 = line(conversation, "Q1", "A1")
    services.turn_edit(conversation=conversation, message_id=q1.pk, content="Q1 edited")
    Message.objects.filter(status="streaming").update(status="complete")

    messages = list(selectors.message_list(conversation=conversation))
    with django_assert_max_num_queries(1):
        selectors.alternatives_annotate(messages=messages)

    question, answer = messages
    assert (question.alternatives.index, question.alternatives.count) == (2, 2)
    assert question.alternatives.has_previous and not question.alternatives.has_next
    assert answer.alternatives is None


def test_a_stale_view_cannot_branch_twice_from_the_same_message(alice):
    conversation = services.conversation_create(owner=alice)
    q1, a1 = line(conversation, "Q1", "A1")
    services.turn_regenerate(conversation=conversation, message_id=a1.pk)
    Message.objects.filter(status="streaming").update(status="complete")

    with pytest.raises(ValidationError, match="not on the branch shown"):
        services.turn_regenerate(conversation=conversation, message_id=a1.pk)


def test_a_shared_link_shows_the_branch_shown_when_it_was_shared(alice, client):
    conversation = services.conversation_create(owner=alice)
    q1, a1 = line(conversation, "Q1", "A1")
    services.turn_edit(conversation=conversation, message_id=q1.pk, content="Q1 edited")
    Message.objects.filter(status="streaming").update(status="complete", content="A1 edited")
    link = services.shared_link_share(conversation=conversation)
    services.branch_switch(conversation=conversation, message_id=q1.pk + 2, step=-1)

    contents = [m.content for m in selectors.shared_messages(link=link)]
    assert contents == ["Q1 edited", "A1 edited"]
    copy = services.shared_link_fork(link=link, reader=alice)
    copied = list(selectors.message_list(conversation=copy))
    assert [m.content for m in copied] == ["Q1 edited", "A1 edited"]
    assert copied[1].parent_id == copied[0].pk


def test_export_and_import_keep_every_version_and_the_branch_shown(alice, bob):
    conversation = services.conversation_create(owner=alice)
    q1, a1, q2, a2 = line(conversation, "Q1", "A1", "Q2", "A2")
    services.turn_edit(conversation=conversation, message_id=q2.pk, content="Q2 edited")
    Message.objects.filter(status="streaming").update(status="complete", content="A2 edited")

    document = exports.conversation_export_json(conversation=conversation)
    [copy] = exports.conversations_import(owner=bob, data=document)

    def tree(c):
        messages = list(c.messages.order_by("id"))
        position = {m.pk: n for n, m in enumerate(messages)}
        return [(m.content, position.get(m.parent_id), m.off_branch) for m in messages]

    assert tree(copy) == tree(conversation)
    assert [m.content for m in selectors.message_list(conversation=copy)] == [
        "Q1", "A1", "Q2 edited", "A2 edited"
    ]


def test_a_file_from_before_branches_imports_as_a_line(bob):
    old_style = {
        "format": exports.FORMAT,
        "conversations": [
            {
                "title": "Old",
                "model_id": "fake",
                "messages": [
                    {"role": "user", "content": "Q", "status": "complete"},
                    {"role": "assistant", "content": "failed", "status": "error",
                     "superseded": True, "replaces": None},
                    {"role": "assistant", "content": "A", "status": "complete",
                     "superseded": False, "replaces": 1},
                    {"role": "user", "content": "Q2", "status": "complete"},
                ],
            }
        ],
    }

    [conversation] = exports.conversations_import(owner=bob, data=old_style)

    q, failed, answer, q2 = conversation.messages.order_by("id")
    assert (failed.parent_id, failed.off_branch) == (q.pk, True)
    assert (answer.parent_id, q2.parent_id) == (q.pk, answer.pk)
    assert [m.content for m in selectors.message_list(conversation=conversation)] == [
        "Q", "A", "Q2"
    ]


def test_the_migration_turns_retried_lists_into_trees(alice):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("conversations", "0003_shared_link")]
    after = [("conversations", "0004_message_branches")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    conversation = old.get_model("conversations", "Conversation").objects.create(
        owner_id=alice.pk, model_id="fake"
    )
    rows = old.get_model("conversations", "Message").objects
    q = rows.create(conversation=conversation, role="user", content="Q")
    failed = rows.create(conversation=conversation, role="assistant", content="x", superseded=True)
    answer = rows.create(
        conversation=conversation, role="assistant", content="A", replaces_id=failed.pk
    )
    q2 = rows.create(conversation=conversation, role="user", content="Q2")

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    tree = dict(Message.objects.values_list("id", "parent_id"))
    assert tree == {q.pk: None, failed.pk: q.pk, answer.pk: q.pk, q2.pk: answer.pk}
    assert list(Message.objects.filter(off_branch=True).values_list("id", flat=True)) == [
        failed.pk
    ]


def test_two_sends_at_once_keep_the_branch_one_line(alice):
    import threading

    from django.db import connection

    from conversations.models import Conversation

    conversation = services.conversation_create(owner=alice)
    line(conversation, "Q1", "A1")
    start = threading.Barrier(2)
    results: list[str] = []

    def send(text: str) -> None:
        try:
            mine = Conversation.objects.get(pk=conversation.pk)
            start.wait()
            services.turn_start(conversation=mine, content=text)
            results.append("sent")
        except ValidationError as exc:
            results.append(exc.messages[0])
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(text,)) for text in ("Q2", "Q2'")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(results) == [
        "Wait for the answer to finish, or stop it, before sending.",
        "sent",
    ]
    shown = list(selectors.message_list(conversation=conversation))
    assert [m.parent_id for m in shown[1:]] == [m.pk for m in shown[:-1]]
