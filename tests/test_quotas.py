"""Per-user limits: each refusal names its limit and reset, and nothing goes upstream."""

from datetime import timedelta
from decimal import Decimal

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone
from sockets import connect, message_count, read_reply, receive_alert, send_message

from accounts.models import UserLimits
from conversations import quotas, services
from conversations.models import UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def chat_of(user):
    return services.conversation_create(owner=user)


def requests_made(conversation, count, *, kind="question", **fields):
    """Requests to a model written in the usage ledger, which every limit reads."""
    UsageRecord.objects.bulk_create(
        UsageRecord(
            user_id=conversation.owner_id,
            conversation=conversation,
            model_id=conversation.model_id,
            kind=kind,
            **fields,
        )
        for _ in range(count)
    )


add_requests = database_sync_to_async(requests_made)


async def refused(user, conversation, upstream) -> str:
    """Send a message that must be refused; return the alert, checking nothing happened."""
    before_messages, before_requests = await message_count(), upstream.request_count
    socket = await connect(user, conversation)
    await send_message(socket, "One more, please")
    alert = await receive_alert(socket)
    await socket.disconnect()
    assert await message_count() == before_messages
    assert upstream.request_count == before_requests
    return alert


async def test_messages_per_minute(alice, upstream, settings):
    settings.PARLEY_LIMIT_MESSAGES_PER_MINUTE = 3
    conversation = await chat_of(alice)
    await add_requests(conversation, 3)

    alert = await refused(alice, conversation, upstream)

    assert alert.startswith("You reached your limit of 3 messages per minute. Try again in ")
    assert alert.endswith(" s.")


async def test_tokens_per_day(alice, upstream, settings):
    settings.PARLEY_LIMIT_TOKENS_PER_DAY = 1000
    conversation = await chat_of(alice)
    await add_requests(conversation, 1, input_tokens=600, output_tokens=400)

    alert = await refused(alice, conversation, upstream)

    assert "limit of 1,000 tokens per day (1,000 used today)" in alert
    assert "resets at midnight" in alert


async def test_cost_per_month(alice, upstream, settings):
    settings.PARLEY_LIMIT_COST_PER_MONTH = Decimal("0.50")
    conversation = await chat_of(alice)
    await add_requests(conversation, 2, kind="regenerate", cost=Decimal("0.25"))

    alert = await refused(alice, conversation, upstream)

    assert "limit of $0.50 per month ($0.5000 spent). It resets on " in alert


async def test_an_admin_set_limit_wins_over_the_site_default(alice, bob, upstream, settings):
    settings.PARLEY_LIMIT_MESSAGES_PER_MINUTE = 100
    await database_sync_to_async(UserLimits.objects.create)(user=alice, messages_per_minute=1)
    alices, bobs = await chat_of(alice), await chat_of(bob)
    await add_requests(alices, 1)
    await add_requests(bobs, 1)

    assert "limit of 1 messages per minute" in await refused(alice, alices, upstream)
    # Bob keeps the site default and is answered.
    socket = await connect(bob, bobs)
    await send_message(socket, "Hello")
    assert (await read_reply(socket)).status == "complete"
    await socket.disconnect()


def test_old_usage_does_not_count(alice, settings):
    settings.PARLEY_LIMIT_MESSAGES_PER_MINUTE = 1
    settings.PARLEY_LIMIT_TOKENS_PER_DAY = 10
    conversation = services.conversation_create(owner=alice)
    requests_made(conversation, 1, input_tokens=50, output_tokens=50)
    UsageRecord.objects.update(created_at=timezone.now() - timedelta(days=2))

    quotas.quota_check(user=alice)  # nothing raised


def test_zero_means_no_limit(alice, settings):
    settings.PARLEY_LIMIT_MESSAGES_PER_MINUTE = 0
    conversation = services.conversation_create(owner=alice)
    requests_made(conversation, 50)

    quotas.quota_check(user=alice)
    assert quotas.limits_for(user=alice).messages_per_minute is None


async def test_regenerating_counts_against_the_limit_and_nothing_more_is_sent(
    alice, upstream, settings
):
    """Regenerate, edit and send are all requests: a loop of regenerations is refused."""
    settings.PARLEY_LIMIT_MESSAGES_PER_MINUTE = 2
    conversation = await chat_of(alice)
    socket = await connect(alice, conversation)
    await send_message(socket, "Hello")
    answer = await read_reply(socket)
    await socket.send_json_to({"action": "regenerate", "message_id": answer.message_id})
    again = await read_reply(socket)
    assert again.status == "complete"
    requests_before = upstream.request_count

    await socket.send_json_to({"action": "regenerate", "message_id": again.message_id})
    alert = await receive_alert(socket)
    await socket.disconnect()

    assert alert.startswith("You reached your limit of 2 messages per minute.")
    assert upstream.request_count == requests_before
    kinds = await database_sync_to_async(
        lambda: sorted(UsageRecord.objects.values_list("kind", flat=True))
    )()
    assert kinds == ["question", "regenerate"]


def test_every_request_is_written_in_the_ledger_with_its_usage(alice, upstream, settings):
    """A title request is in the ledger beside the answers, priced like them."""
    from conversations.backends import get_model

    conversation = services.conversation_create(owner=alice)
    turn = services.turn_start(conversation=conversation, content="Hi")
    record = UsageRecord.objects.get()
    assert (record.kind, record.message_id, record.finished_at) == (
        "question",
        turn.assistant_message.id,
        None,
    )
    services.message_finish(
        message_id=turn.assistant_message.id,
        model=get_model("fake"),
        content="Hello",
        status="complete",
        usage=None,
        estimated_input_tokens=9,
        time_to_first_token_ms=1,
        duration_ms=2,
    )
    record.refresh_from_db()
    assert (record.input_tokens, record.output_tokens, record.usage_estimated) == (9, 1, True)
    assert record.cost > 0 and record.finished_at is not None
