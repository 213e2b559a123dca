"""Import a Parley JSON export as new conversations of its uploader.

An import is checked whole before anything is written and saved in one
transaction: a file with one bad field imports nothing.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from conversations.backends import get_catalog
from conversations.exports.json_export import FORMAT
from conversations.inputs import text_check
from conversations.models import COST_QUANTUM, Conversation, Message
from conversations.rendering.markdown import rendered_fields
from conversations.selectors import message_list

# Per import: conversations, messages in all, characters of one message (a
# message is rendered once when imported; see rendering.markdown.RENDER_MAX_CHARS).
IMPORT_MAX_CONVERSATIONS = 500
IMPORT_MAX_MESSAGES = 20_000
IMPORT_MAX_MESSAGE_CHARS = 100_000
# Roles a file may hold: the system prompt is a conversation field, not a message.
IMPORT_ROLES = (Message.Role.USER, Message.Role.ASSISTANT)

# Tighter than the columns allow only where the database would refuse the value.
_TITLE_MAX = Conversation._meta.get_field("title").max_length
_MODEL_ID_MAX = Conversation._meta.get_field("model_id").max_length
_COST_MAX_DIGITS = Message._meta.get_field("cost").max_digits
# PositiveIntegerField fits a signed 32-bit integer on every database.
_INT_MAX = 2_147_483_647


class _Fields:
    """Reads one JSON object's fields, naming the path of any field that is wrong."""

    def __init__(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise ValidationError(
                _("%(field)s must be an object, not %(kind)s.")
                % {"field": path, "kind": _kind(value)}
            )
        self.value = value
        self.path = path

    def fail(self, key: str, problem: str) -> ValidationError:
        return ValidationError(
            _("%(field)s %(problem)s") % {"field": f"{self.path}.{key}", "problem": problem}
        )

    def text(self, key: str, *, default: str | None = "", max_length: int | None = None) -> str:
        value = self.value.get(key, default)
        if value is None and default is not None:
            value = default
        if not isinstance(value, str):
            raise self.fail(key, _("must be text, not %(kind)s.") % {"kind": _kind(value)})
        try:
            text_check(value, field=f"{self.path}.{key}")
        except ValidationError as exc:
            raise ValidationError(exc.messages[0]) from None
        if max_length is not None and len(value) > max_length:
            raise self.fail(
                key,
                _("is %(length)s characters long; the limit is %(limit)s.")
                % {"length": f"{len(value):,}", "limit": max_length},
            )
        return value

    def choice(self, key: str, choices: list[str], what: str):
        value = self.value.get(key)
        if not isinstance(value, str) or value not in choices:
            allowed = ", ".join(choices)
            raise self.fail(
                key,
                _("is an unknown %(what)s %(value)r; expected one of: %(allowed)s.")
                % {"what": what, "value": value, "allowed": allowed},
            )
        return value

    def count(self, key: str) -> int | None:
        value = self.value.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _INT_MAX:
            problem = _("must be a whole number of 0 or more, or null, not %(value)r.")
            raise self.fail(key, problem % {"value": value})
        return value

    def flag(self, key: str) -> bool:
        value = self.value.get(key, False)
        if not isinstance(value, bool):
            raise self.fail(key, _("must be true or false, not %(value)r.") % {"value": value})
        return value

    def cost(self, key: str) -> Decimal:
        value = self.value.get(key, "0")
        if value is None:
            return Decimal("0")
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(
                key,
                _("must be a decimal number as a string, not %(kind)s.") % {"kind": _kind(value)},
            )
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            problem = _("is not a decimal number: %(value)r.") % {"value": value}
            raise self.fail(key, problem) from None
        if not amount.is_finite() or amount < 0:
            problem = _("must be a cost of 0 or more, not %(value)r.") % {"value": value}
            raise self.fail(key, problem)
        if amount and amount.adjusted() >= _COST_MAX_DIGITS + COST_QUANTUM.as_tuple().exponent:
            # Checked before quantize, which cannot hold 1e999 to eight places.
            raise self.fail(key, _("is too large: %(value)r.") % {"value": value})
        amount = amount.quantize(COST_QUANTUM)
        if len(amount.as_tuple().digits) > _COST_MAX_DIGITS:
            raise self.fail(key, _("is too large: %(value)r.") % {"value": value})
        return amount

    def moment(self, key: str) -> datetime | None:
        value = self.value.get(key)
        if value is None:
            return None
        try:
            # parse_datetime raises ValueError on well-formed impossible dates (Feb 30).
            parsed = parse_datetime(value) if isinstance(value, str) else None
            if parsed is not None:
                if timezone.is_naive(parsed):
                    parsed = timezone.make_aware(parsed, timezone.UTC)
                # The database stores UTC: a date that overflows there is refused here.
                parsed.astimezone(timezone.UTC)
        except (ValueError, OverflowError):
            parsed = None
        if parsed is None:
            raise self.fail(
                key, _("must be an ISO 8601 date and time, not %(value)r.") % {"value": value}
            )
        return parsed

    def items(self, key: str) -> list:
        value = self.value.get(key)
        if not isinstance(value, list):
            raise self.fail(key, _("must be a list, not %(kind)s.") % {"kind": _kind(value)})
        return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "true/false",
        int: _("a number"),
        float: _("a number"),
        str: _("text"),
        list: _("a list"),
        dict: _("an object"),
    }.get(type(value), type(value).__name__)


# A file from before branches has no "parent": each message then follows the
# previous one that is on the branch shown.
_PARENT_UNSET = object()


def _model_id_check(fields: _Fields, key: str, model_id: str) -> str:
    if model_id not in get_catalog().models:
        known = ", ".join(get_catalog().models)
        raise fields.fail(
            key,
            _("is a model this site does not have: %(value)r; known: %(known)s.")
            % {"value": model_id[:100], "known": known},
        )
    return model_id


def _message_read(value: Any, path: str, index: int) -> tuple[Message, Any, datetime | None]:
    fields = _Fields(value, path)
    status = fields.choice("status", Message.Status.values, "status")
    if status == Message.Status.STREAMING:
        # Nothing is generating it in this account: it ends where the file left it.
        status = Message.Status.INTERRUPTED
    parent = fields.value.get("parent", _PARENT_UNSET)
    if parent is not _PARENT_UNSET and parent is not None and (
        isinstance(parent, bool) or not isinstance(parent, int) or not 0 <= parent < index
    ):
        raise fields.fail(
            "parent",
            _("must be the position of an earlier message, not %(value)r.") % {"value": parent},
        )
    role = fields.choice("role", list(IMPORT_ROLES), "role")
    content = fields.text("content", default=None, max_length=IMPORT_MAX_MESSAGE_CHARS)
    model_id = fields.text("model_id", max_length=_MODEL_ID_MAX)
    if model_id:
        _model_id_check(fields, "model_id", model_id)
    message = Message(
        role=role,
        content=content,
        # Rendered once, here, like an answer when it ends.
        **(rendered_fields(content) if role == Message.Role.ASSISTANT else {}),
        status=status,
        error=fields.text("error"),
        model_id=model_id,
        # Token counts are not trusted from a file: recounted when the message is next sent.
        token_count=None,
        input_tokens=fields.count("input_tokens"),
        output_tokens=fields.count("output_tokens"),
        usage_estimated=fields.flag("usage_estimated"),
        cost=fields.cost("cost"),
        time_to_first_token_ms=fields.count("time_to_first_token_ms"),
        duration_ms=fields.count("duration_ms"),
        # Files from before branches said "superseded" for a retried answer.
        off_branch=fields.flag("off_branch" if "off_branch" in fields.value else "superseded"),
    )
    return message, parent, fields.moment("created_at")


def _conversation_read(value: Any, path: str) -> dict[str, Any]:
    fields = _Fields(value, path)
    model_id = fields.text("model_id", default=None, max_length=_MODEL_ID_MAX).strip()
    if not model_id:
        raise fields.fail("model_id", _("cannot be empty."))
    _model_id_check(fields, "model_id", model_id)
    return {
        "title": fields.text("title", max_length=_TITLE_MAX),
        "model_id": model_id,
        "system_prompt": fields.text("system_prompt"),
        "created_at": fields.moment("created_at"),
        "updated_at": fields.moment("updated_at"),
        "messages": [
            _message_read(item, f"{path}.messages[{index}]", index)
            for index, item in enumerate(fields.items("messages"))
        ],
    }


def conversations_import_check(*, data: Any) -> list[dict[str, Any]]:
    """Check a whole export document; raise ValidationError naming the first wrong field."""
    if not isinstance(data, dict):
        raise ValidationError(
            _("The file must hold a JSON object, not %(kind)s.") % {"kind": _kind(data)}
        )
    found = data.get("format")
    if found != FORMAT:
        raise ValidationError(
            _("This is not a Parley export: format is %(found)r, expected %(expected)r.")
            % {"found": found, "expected": FORMAT}
        )
    fields = _Fields(data, "file")
    items = fields.items("conversations")
    if len(items) > IMPORT_MAX_CONVERSATIONS:
        raise ValidationError(
            _("The file holds %(count)s conversations; one import takes at most %(limit)s.")
            % {"count": f"{len(items):,}", "limit": f"{IMPORT_MAX_CONVERSATIONS:,}"}
        )
    messages = sum(
        len(item["messages"])
        for item in items
        if isinstance(item, dict) and isinstance(item.get("messages"), list)
    )
    if messages > IMPORT_MAX_MESSAGES:
        raise ValidationError(
            _("The file holds %(count)s messages; one import takes at most %(limit)s.")
            % {"count": f"{messages:,}", "limit": f"{IMPORT_MAX_MESSAGES:,}"}
        )
    return [
        _conversation_read(item, f"conversations[{index}]")
        for index, item in enumerate(items)
    ]


def _branch_check(conversation: Conversation, path: str) -> None:
    """Raise ValidationError unless the messages shown form one line from the start."""
    expected = None
    for message_id, parent_id in message_list(conversation=conversation).values_list(
        "id", "parent_id"
    ):
        if parent_id != expected:
            raise ValidationError(
                _(
                    "%(field)s: the messages with off_branch false must form one "
                    "line, each one's parent the one before it."
                )
                % {"field": f"{path}.messages"}
            )
        expected = message_id


def conversations_import(*, owner: AbstractBaseUser, data: Any) -> list[Conversation]:
    """Import an export document as new conversations of `owner`, all or nothing."""
    checked = conversations_import_check(data=data)
    imported = []
    with transaction.atomic():
        for index, item in enumerate(checked):
            conversation = Conversation.objects.create(
                owner=owner,
                title=item["title"],
                model_id=item["model_id"],
                system_prompt=item["system_prompt"],
            )
            messages = [message for message, _parent, _moment in item["messages"]]
            for message in messages:
                message.conversation = conversation
            # Ids, and with them the order, follow the file.
            Message.objects.bulk_create(messages, batch_size=500)
            now = timezone.now()
            shown = None
            for message, parent, created_at in item["messages"]:
                if parent is _PARENT_UNSET:
                    message.parent = shown
                else:
                    message.parent = messages[parent] if parent is not None else None
                if not message.off_branch:
                    shown = message
                message.created_at = created_at or now
            Message.objects.bulk_update(messages, ["parent", "created_at"])
            _branch_check(conversation, f"conversations[{index}]")
            # Keep the original dates (update() leaves auto_now alone).
            created = item["created_at"] or conversation.created_at
            Conversation.objects.filter(pk=conversation.pk).update(
                created_at=created, updated_at=item["updated_at"] or created
            )
            conversation.refresh_from_db()
            imported.append(conversation)
    return imported
