"""The Responses API: chains of responses kept as conversations, shared with the page
(through the official `openai` client against a live Parley)."""

from __future__ import annotations

import openai
import pytest
from api_clients import client_for
from django.test import Client

from api import services as api_services
from conversations import services
from conversations.backends import RequestOptions
from conversations.models import Channel, Conversation, Message, UsageRecord

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]


def test_a_chain_of_responses_remembers_across_three_calls(parley, alice, alice_key, upstream):
    client = client_for(parley, alice_key)
    first = client.responses.create(
        model="fake", input="My name is Ada.", instructions="Remember names."
    )
    second = client.responses.create(
        model="fake", input="I live in Seoul.", previous_response_id=first.id
    )
    third = client.responses.create(
        model="fake", input="What is my name, and where do I live?", previous_response_id=second.id
    )
    assert third.status == "completed" and third.output_text == "Hello, world!"
    assert third.usage.output_tokens == 4
    # The third request carried the first two turns: the facts reached the model.
    sent = upstream.chat_requests()[-1]["json"]["messages"]
    assert [m["content"] for m in sent] == [
        "Remember names.",
        "My name is Ada.",
        "Hello, world!",
        "I live in Seoul.",
        "Hello, world!",
        "What is my name, and where do I live?",
    ]
    # One conversation of alice's, in the sidebar (not archived), started through the API.
    conversation = Conversation.objects.get(owner=alice)
    assert conversation.channel == Channel.API and conversation.archived_at is None
    assert conversation.messages.count() == 6
    # GET /v1/responses/{id} gives the response as saved, with its predecessor.
    again = client.responses.retrieve(third.id)
    assert again.output_text == "Hello, world!" and again.previous_response_id == second.id


def test_a_streamed_response_uses_the_event_types_the_client_parses(parley, alice_key, upstream):
    upstream.tokens = ["Stream", "ed"]
    client = client_for(parley, alice_key)
    events = list(client.responses.create(model="fake", input="Hi", stream=True))
    kinds = [event.type for event in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
    assert "".join(deltas) == "Streamed"
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert events[-1].response.output_text == "Streamed"
    # The client's own accumulating helper reads the same stream.
    with client.responses.stream(
        model="fake", input="Go on", previous_response_id=events[-1].response.id
    ) as stream:
        final = stream.get_final_response()
    assert final.output_text == "Streamed"


def test_a_conversation_of_the_page_continues_through_the_api_and_back(
    parley, alice, alice_key, upstream
):
    conversation = services.conversation_create(owner=alice, model_id="fake")
    turn = services.turn_start(conversation=conversation, content="Page question")
    services.message_finish(
        message_id=turn.assistant_message.id,
        model=turn.model,
        content="Page answer",
        status=Message.Status.COMPLETE,
        usage=None,
        estimated_input_tokens=3,
        time_to_first_token_ms=1,
        duration_ms=1,
    )
    response = client_for(parley, alice_key).responses.create(
        model="fake", input="API question", previous_response_id=f"resp_{turn.assistant_message.id}"
    )
    assert response.output_text == "Hello, world!"
    sent = upstream.chat_requests()[-1]["json"]["messages"]
    assert [m["content"] for m in sent] == ["Page question", "Page answer", "API question"]
    # Still the page's conversation, and the page can go on from the API's answer.
    conversation.refresh_from_db()
    assert conversation.channel == Channel.PAGE
    next_turn = services.turn_start(conversation=conversation, content="Page again")
    assert next_turn.user_message.parent_id == int(response.id.removeprefix("resp_"))
    # Only the newest response of a conversation can be continued (its branch).
    with pytest.raises(openai.BadRequestError, match="not the newest"):
        client_for(parley, alice_key).responses.create(
            model="fake", input="x", previous_response_id=f"resp_{turn.assistant_message.id}"
        )


def test_the_api_conversation_is_in_its_owners_sidebar_only(parley, alice, bob, alice_key):
    client_for(parley, alice_key).responses.create(model="fake", input="Plan my garden")
    page = Client()
    page.force_login(alice)
    html = page.get("/").content.decode()
    assert "Plan my garden" in html
    assert 'class="conversation-badge"' in html
    page.force_login(bob)
    assert "Plan my garden" not in page.get("/").content.decode()
    # Bob's key cannot reach alice's responses either.
    bob_key = api_services.api_key_create(user=bob, name="bob's")[1]
    reply = Message.objects.get(role="assistant", conversation__owner=alice)
    with pytest.raises(openai.NotFoundError):
        client_for(parley, bob_key).responses.retrieve(f"resp_{reply.pk}")
    with pytest.raises(openai.BadRequestError):
        client_for(parley, bob_key).responses.create(
            model="fake", input="x", previous_response_id=f"resp_{reply.pk}"
        )


@pytest.mark.embedded
def test_the_embedded_model_answers_through_the_api(parley, alice_key):
    client = client_for(parley, alice_key)
    first = client.responses.create(model="smollm2", input="My name is Ada.", max_output_tokens=16)
    second = client.responses.create(
        model="smollm2",
        input="What is my name?",
        previous_response_id=first.id,
        max_output_tokens=16,
    )
    assert first.status in ("completed", "incomplete") and first.output_text
    assert second.output_text
    # The second request carried the first turn: more input tokens than the first.
    assert second.usage.input_tokens > first.usage.input_tokens


def _finish(turn) -> None:
    services.message_finish(
        message_id=turn.assistant_message.id,
        model=turn.model,
        content="An answer",
        status=Message.Status.COMPLETE,
        usage=None,
        estimated_input_tokens=3,
        time_to_first_token_ms=1,
        duration_ms=1,
    )


def test_only_conversations_of_the_sidebar_get_a_model_title(alice):
    api_key = api_services.api_key_create(user=alice, name="k")[0]
    question = [api_services.ChatMessage(role="user", content="Summarise the news")]
    options = RequestOptions()
    # A chat completion: archived, never named by a model (no extra request per call).
    chat = api_services.api_chat_start(
        api_key=api_key, model_id="fake", messages=question, options=options
    )
    _finish(chat)
    assert services.title_request(message_id=chat.assistant_message.id) is None
    # A chain of responses is in the sidebar: named like the page's, counted as API.
    response = api_services.api_response_start(
        api_key=api_key,
        model_id="fake",
        messages=question,
        instructions="",
        previous_response_id=None,
        options=options,
    )
    _finish(response)
    request = services.title_request(message_id=response.assistant_message.id)
    assert request is not None
    assert UsageRecord.objects.get(pk=request.usage_record_id).channel == Channel.API
