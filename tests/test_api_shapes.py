"""What the API says of how a saved reply ended: the finish reason and the response status
come from what Parley recorded, including a cut the caller did not ask for."""

from __future__ import annotations

import pytest

from api import shapes
from conversations import services
from conversations.models import Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def reply_saved(alice):
    conversation = services.conversation_create(owner=alice)
    question = Message.objects.create(
        conversation=conversation, role=Message.Role.USER, content="Tell me everything."
    )

    def save(**fields) -> Message:
        defaults = dict(
            conversation=conversation,
            parent=question,
            role=Message.Role.ASSISTANT,
            content="Once upon",
            status=Message.Status.COMPLETE,
            input_tokens=5,
            output_tokens=2,
        )
        return Message.objects.create(**{**defaults, **fields})

    return save


def _response(reply: Message, *, limit: int | None = None) -> dict:
    return shapes.response(
        reply,
        model_id="fake",
        instructions=None,
        previous_response_id=None,
        max_output_tokens=limit,
        limit=limit,
    )


def test_a_complete_reply_is_a_stop_and_a_completed_response(reply_saved):
    reply = reply_saved(finish_reason="stop")
    assert shapes.finish_reason(reply, None) == "stop"
    body = _response(reply)
    assert body["status"] == "completed" and body["incomplete_details"] is None
    assert body["output"][0]["status"] == "completed"


def test_a_reply_cut_at_the_models_own_limit_is_length_without_a_max_tokens(reply_saved):
    reply = reply_saved(status=Message.Status.CUT, finish_reason="length")
    assert shapes.finish_reason(reply, None) == "length"
    body = _response(reply)
    assert body["status"] == "incomplete"
    assert body["incomplete_details"] == {"reason": "max_output_tokens"}
    assert body["output"][0]["status"] == "incomplete"
    assert body["output"][0]["content"][0]["text"] == "Once upon"


def test_a_reply_that_used_the_callers_max_tokens_is_length(reply_saved):
    reply = reply_saved(finish_reason="stop", output_tokens=16)
    assert shapes.finish_reason(reply, 16) == "length"
    assert shapes.finish_reason(reply, 17) == "stop"
    assert _response(reply, limit=16)["incomplete_details"] == {"reason": "max_output_tokens"}


def test_a_filtered_reply_says_content_filter_and_is_not_a_failure(reply_saved):
    # Saved as the page shows it: an error saying the filter stopped the answer.
    reply = reply_saved(
        status=Message.Status.ERROR,
        finish_reason="content_filter",
        error="The model's content filter stopped this answer.",
    )
    assert not shapes.reply_failed(reply)
    assert shapes.finish_reason(reply, None) == "content_filter"
    body = _response(reply)
    assert body["status"] == "incomplete"
    assert body["incomplete_details"] == {"reason": "content_filter"}


@pytest.mark.parametrize("status", [Message.Status.STOPPED, Message.Status.INTERRUPTED])
def test_a_stopped_or_interrupted_reply_is_incomplete_with_no_reason(reply_saved, status):
    reply = reply_saved(status=status, finish_reason="")
    assert shapes.finish_reason(reply, None) == "stop"
    body = _response(reply)
    assert body["status"] == "incomplete" and body["incomplete_details"] == {"reason": None}


def test_a_failed_reply_is_a_failed_response_with_its_error(reply_saved):
    reply = reply_saved(status=Message.Status.ERROR, error="The model server is down.")
    assert shapes.reply_failed(reply)
    body = _response(reply)
    assert body["status"] == "failed"
    assert body["error"] == {"code": "server_error", "message": "The model server is down."}
