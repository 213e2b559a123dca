"""What one answer costs the server, counted: its SQL statements and its frames' bytes.

A socket sends a question and reads the reply to its end, against the real
database, with every statement of every thread counted (Django's
connection_created signal wraps each new connection's execute).
"""

from __future__ import annotations

import html
import threading

import pytest
from django.db.backends.signals import connection_created
from django.test import Client
from sockets import connect, create_conversation, read_reply, send_message

from conversations import services
from conversations.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


class Statements:
    """Every SQL statement any thread runs while counting."""

    def __init__(self) -> None:
        self.sql: list[str] = []
        self.counting = False
        self.lock = threading.Lock()

    def wrapper(self, execute, sql, params, many, context):
        if self.counting:
            with self.lock:
                self.sql.append(sql)
        return execute(sql, params, many, context)

    def wrap(self, sender, connection, **kwargs) -> None:
        if self.wrapper not in connection.execute_wrappers:
            connection.execute_wrappers.append(self.wrapper)


@pytest.fixture
def statements():
    counter = Statements()
    connection_created.connect(counter.wrap)
    yield counter
    connection_created.disconnect(counter.wrap)


async def test_an_answer_reads_no_user_and_its_final_frame_carries_the_text_once(
    alice, upstream, statements
):
    upstream.tokens = ["Hello", " *there*", " & welcome"]
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)

    statements.counting = True
    await send_message(socket, "Hi")
    reply = await read_reply(socket)
    statements.counting = False
    await socket.disconnect()

    assert reply.status == "complete"
    # The socket knows its user: sending reads no user row (the limits do not need it).
    assert not [sql for sql in statements.sql if 'FROM "auth_user"' in sql]
    # The finished frame: the answer rendered, and no second copy for the Copy button.
    final = reply.final_frame
    assert final.count("welcome") == 1
    assert "data-copy=" not in final
    assert "data-copy-url=" in final
    # Drawn without the template's indentation.
    assert "\n  " not in final
    # The final frame reads the conversation's model and prompt with its cost,
    # in one query (not a refresh, then a sum).
    costs = [sql for sql in statements.sql if 'SUM("conversations_message"."cost")' in sql]
    assert len(costs) == 1 and '"system_prompt"' in costs[0], costs
    refreshes = [
        sql
        for sql in statements.sql
        if '"conversations_conversation"."system_prompt"' in sql and "SUM(" not in sql
    ]
    # The turn reads the settings as saved once (a change made in another tab
    # applies to the very next message); the final frame adds no refresh.
    assert len(refreshes) <= 1, refreshes
    assert len(statements.sql) <= 20, statements.sql


def test_the_copy_button_fetches_the_markdown_source_of_its_owners_message(alice, bob):
    chat = services.conversation_create(owner=alice)
    message = Message.objects.create(
        conversation=chat, role="assistant", content="**bold** & <b>", status="complete"
    )
    url = f"/c/{chat.public_id}/m/{message.pk}.md"
    owner = Client()
    owner.force_login(alice)
    response = owner.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response.content.decode() == "**bold** & <b>"
    # The page's button points there.
    page = owner.get(chat.get_absolute_url()).content.decode()
    assert f'data-copy-url="{html.escape(url)}"' in page

    other = Client()
    other.force_login(bob)
    assert other.get(url).status_code == 404
