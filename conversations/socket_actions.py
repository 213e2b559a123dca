"""What a page's socket asks for: each frame read into one typed action.

A frame is a JSON object (`inputs.frame_parse` reads it strictly) whose
`action` ("send" when absent) names what to do, with the fields that action
needs. `action_parse` checks and converts those fields, so the consumer only
calls the engine; a frame that asks for nothing it can do raises ActionError
with the sentence the page shows ("Nothing to stop."). What a field holds
beyond its type (a message's text, a model's id) is the services' to judge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext

from conversations.inputs import id_parse

# A page shows at most a few replies streaming (one per conversation, normally).
SYNC_MAX_IDS = 20


class ActionError(ValueError):
    """A frame whose action cannot be done as asked; its message is shown to the user."""


@dataclass(frozen=True)
class Send:
    """Ask the conversation's model a question."""

    content: Any


@dataclass(frozen=True)
class Compare:
    """Ask several models one question, side by side (blind: names hidden until a vote)."""

    content: Any
    model_ids: list[str]
    blind: bool


@dataclass(frozen=True)
class Stop:
    """Stop a reply being written."""

    message_id: int


@dataclass(frozen=True)
class StopComparison:
    """Stop every answer of a comparison."""

    comparison_id: int


@dataclass(frozen=True)
class Keep:
    """Continue on one answer of a comparison."""

    comparison_id: int
    # As sent: read as a number once the comparison is found ("No such answer." else).
    message_id: Any


@dataclass(frozen=True)
class Vote:
    """Vote on a blind comparison."""

    comparison_id: int
    outcome: str


@dataclass(frozen=True)
class Regenerate:
    """Write a reply again."""

    message_id: int


@dataclass(frozen=True)
class Continue:
    """Continue a reply that was cut short."""

    message_id: int


@dataclass(frozen=True)
class Edit:
    """Ask an edited question in place of one asked before."""

    message_id: int
    content: Any


@dataclass(frozen=True)
class Branch:
    """Show the previous (-1) or next (1) version of a message; 0 for anything else."""

    message_id: int
    step: int


@dataclass(frozen=True)
class Sync:
    """Replies the page shows as streaming, to draw whole if they have ended."""

    message_ids: list[int]


Action = (
    Send
    | Compare
    | Stop
    | StopComparison
    | Keep
    | Vote
    | Regenerate
    | Continue
    | Edit
    | Branch
    | Sync
)


def action_parse(data: dict[str, Any]) -> Action:
    """Read the action a frame asks for, or raise ActionError saying why it cannot be done."""
    action = data.get("action", "send")
    if action == "stop":
        return Stop(message_id=_id(data.get("message_id"), gettext("Nothing to stop.")))
    if action == "compare" or (action == "send" and data.get("compare_models")):
        return Compare(
            content=data.get("message"),
            model_ids=_model_ids(data.get("compare_models")),
            blind=data.get("blind") in (True, "on", "true"),
        )
    if action == "stop_comparison":
        return StopComparison(
            comparison_id=_id(data.get("comparison_id"), gettext("Nothing to stop."))
        )
    if action in ("keep", "vote"):
        comparison_id = _id(data.get("comparison_id"), gettext("No such comparison."))
        if action == "keep":
            return Keep(comparison_id=comparison_id, message_id=data.get("message_id"))
        return Vote(comparison_id=comparison_id, outcome=str(data.get("outcome", ""))[:20])
    if action == "send":
        return Send(content=data.get("message"))
    if action == "regenerate":
        return Regenerate(
            message_id=_id(data.get("message_id"), gettext("Nothing to write again."))
        )
    if action == "edit":
        return Edit(
            message_id=_id(data.get("message_id"), gettext("Nothing to edit.")),
            content=data.get("message"),
        )
    if action == "continue":
        return Continue(message_id=_id(data.get("message_id"), gettext("Nothing to continue.")))
    if action == "branch":
        return Branch(
            message_id=_id(data.get("message_id"), gettext("No such version.")),
            step=_step(data.get("step")),
        )
    if action == "sync":
        return Sync(message_ids=_ids(data.get("message_ids")))
    raise ActionError(gettext("Unknown action: %(action)s") % {"action": str(action)[:40]})


def _id(value: Any, error: str) -> int:
    """The id a frame names, or ActionError with `error`."""
    message_id = id_parse(value)
    if message_id is None:
        raise ActionError(error)
    return message_id


def _model_ids(value: Any) -> list[str]:
    # A form sends one checked box as a string, several as a list.
    model_ids = [value] if isinstance(value, str) else value
    if not isinstance(model_ids, list):
        model_ids = []
    return [str(model_id)[:100] for model_id in model_ids[:10]]


def _step(value: Any) -> int:
    # 1 or -1, as a number or as the text a form sends; anything else is 0 (refused later).
    return {"1": 1, "-1": -1}.get(value.strip() if isinstance(value, str) else repr(value), 0)


def _ids(value: Any) -> list[int]:
    """The valid ids of a list a frame sends (the first SYNC_MAX_IDS); none if not a list."""
    if not isinstance(value, list):
        return []
    return [
        message_id for item in value[:SYNC_MAX_IDS] if (message_id := id_parse(item)) is not None
    ]
