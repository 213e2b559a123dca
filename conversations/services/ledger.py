"""The usage ledger: one row per request to a model, opened when sent, closed when it ends."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from conversations.backends import ModelConfig, Usage
from conversations.counters import counter_for
from conversations.models import COST_QUANTUM, Conversation, Message, UsageRecord


def cost_compute(*, model: ModelConfig, input_tokens: int, output_tokens: int) -> Decimal:
    """Price a request from the catalog's per-1K prices."""
    cost = (
        Decimal(input_tokens) * model.price_input_per_1k
        + Decimal(output_tokens) * model.price_output_per_1k
    ) / 1000
    return cost.quantize(COST_QUANTUM)


def usage_record_open(
    *,
    user_id: int,
    model_id: str,
    kind: str,
    conversation: Conversation | None = None,
    message: Message | None = None,
    channel: str = UsageRecord.Channel.PAGE,
    api_key_id: int | None = None,
) -> UsageRecord:
    """Write down a request as it is sent: limits count it from now on."""
    return UsageRecord.objects.create(
        user_id=user_id,
        conversation=conversation,
        message=message,
        model_id=model_id,
        kind=kind,
        channel=channel,
        api_key_id=api_key_id,
    )


def usage_record_close(
    *,
    model: ModelConfig,
    input_tokens: int,
    output_tokens: int,
    estimated: bool,
    record_id: int | None = None,
    message_id: int | None = None,
    cost: Decimal | None = None,
) -> None:
    """Record what a request used and cost once it ended (by its row, or by its reply).

    `cost`, when the caller priced the request already, is not computed again.
    """
    if cost is None:
        cost = cost_compute(model=model, input_tokens=input_tokens, output_tokens=output_tokens)
    rows = UsageRecord.objects.filter(
        **({"pk": record_id} if record_id is not None else {"message_id": message_id})
    )
    rows.update(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        usage_estimated=estimated,
        cost=cost,
        finished_at=timezone.now(),
    )


def usage_record_close_with(
    *, record_id: int, model: ModelConfig, usage: Usage | None, estimate: tuple[int, int]
) -> None:
    """Close a request with the upstream's usage, or with our own `estimate` (in, out)."""
    if usage is not None:
        input_tokens, output_tokens, estimated = usage.input_tokens, usage.output_tokens, False
    else:
        (input_tokens, output_tokens), estimated = estimate, True
    usage_record_close(
        record_id=record_id,
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        estimated=estimated,
    )


@dataclass(frozen=True)
class BackgroundRequest:
    """A request Parley sends a model on its own, for a conversation (a title, a summary)."""

    conversation_id: int
    model: ModelConfig
    messages: list[dict[str, str]]
    # Its row in the usage ledger, opened as the request is made.
    usage_record_id: int


def background_request_close(
    *, request: BackgroundRequest, usage: Usage | None, reply: str
) -> None:
    """Record what a background request used: the upstream's usage, else the model's own count.

    A request that produced nothing and reported nothing costs nothing.
    """
    estimate = (0, 0)
    if reply:
        counter = counter_for(request.model)
        prompt = sum(
            counter.message(role=message["role"], content=message["content"])
            for message in request.messages
        )
        estimate = (prompt, counter.text(reply))
    usage_record_close_with(
        record_id=request.usage_record_id, model=request.model, usage=usage, estimate=estimate
    )
