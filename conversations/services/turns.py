"""Turns: a question and its reply saved together, edits, regenerations, Continue.

Each function checks everything first and then writes in one transaction:
when it raises, nothing was saved and nothing is sent.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone
from django.utils.text import Truncator
from django.utils.translation import gettext as _

from conversations.backends import ModelConfig, RequestOptions, get_model
from conversations.context import Window, window_build
from conversations.inputs import text_check
from conversations.models import Conversation, Message, UsageRecord
from conversations.quotas import quota_check
from conversations.services.branches import (
    _branch_leaf_when_idle,
    _branch_leave,
    _branch_message,
    _lock,
    _require_idle,
)
from conversations.services.conversations import TITLE_LENGTH, require_usable
from conversations.services.ledger import usage_record_open


@dataclass
class Turn:
    """A user message saved with its empty assistant reply, and what to send the model."""

    user_message: Message
    assistant_message: Message
    model: ModelConfig
    window: Window
    # The question existed before (a regenerated answer): the reply has other versions.
    regenerated: bool = False
    # Continuing an answer cut at the length limit: the answer as it was (its
    # text, usage and cost so far).
    continued: Message | None = None
    # The turn brought the conversation back from the archive.
    unarchived: bool = False
    # The conversation keeps a summary of what falls out of the window.
    memory: bool = False
    # What the request asked beyond the catalog's settings (the API's max_tokens...).
    options: RequestOptions = field(default_factory=RequestOptions)


def message_validate(content: str) -> str:
    """Return the message to send, or raise ValidationError saying what is wrong."""
    if not isinstance(content, str):
        raise ValidationError(_("The message must be text."))
    text_check(content, field=_("The message"))
    if not content.strip():
        raise ValidationError(_("Type a message first."))
    limit = settings.PARLEY_MAX_MESSAGE_CHARS
    if len(content) > limit:
        raise ValidationError(
            _("This message is %(length)s characters long; the limit is %(limit)s.")
            % {"length": f"{len(content):,}", "limit": f"{limit:,}"}
        )
    return content


def _turn_create(
    *,
    conversation: Conversation,
    model: ModelConfig,
    window: Window,
    content: str,
    parent_id: int | None,
    kind: str,
    channel: str = UsageRecord.Channel.PAGE,
    api_key_id: int | None = None,
    options: RequestOptions | None = None,
) -> Turn:
    user_message = Message.objects.create(
        conversation=conversation,
        parent_id=parent_id,
        role=Message.Role.USER,
        content=content,
        token_count=window.newest_tokens,
        token_encoding=window.encoding,
    )
    assistant_message = reply_create(
        conversation=conversation,
        parent=user_message,
        model=model,
        kind=kind,
        channel=channel,
        api_key_id=api_key_id,
    )
    # One statement, decided by the row as it is now (the object may be older:
    # a websocket holds it): writing brings an archived conversation back to
    # the sidebar, and an untitled one takes the start of the message as title.
    unarchived = conversation.archived_at is not None
    now = timezone.now()
    first_words = Truncator(" ".join(content.split())).chars(TITLE_LENGTH)
    untitled = Q(title="")
    Conversation.objects.filter(pk=conversation.pk).update(
        updated_at=now,
        archived_at=None,
        title=Case(When(untitled, then=Value(first_words)), default=F("title")),
        title_source=Case(
            When(untitled, then=Value(Conversation.TitleSource.MESSAGE)),
            default=F("title_source"),
        ),
    )
    conversation.updated_at, conversation.archived_at = now, None
    if not conversation.title:
        conversation.title = first_words
        conversation.title_source = Conversation.TitleSource.MESSAGE
    return Turn(
        memory=conversation.memory_enabled,
        user_message=user_message,
        assistant_message=assistant_message,
        model=model,
        window=window,
        unarchived=unarchived,
        options=options or RequestOptions(),
    )


def turn_start(
    *,
    conversation: Conversation,
    content: str,
    channel: str = UsageRecord.Channel.PAGE,
    api_key_id: int | None = None,
    options: RequestOptions | None = None,
) -> Turn:
    """Save the user's message and an empty streaming reply; return what to send.

    Raises ValidationError for bad input or an unusable model and
    PromptTooLongError when the message does not fit the model's window; in
    both cases nothing is saved and nothing is sent. `channel`, `api_key_id`
    and `options` describe a request that came through the API.
    """
    content = message_validate(content)
    quota_check(user=conversation.owner)
    _settings_current(conversation)
    model = require_usable(get_model(conversation.model_id))
    window = window_build(conversation=conversation, model=model, newest=content)
    with transaction.atomic():
        # Checked under the lock: of two sends at once, the second sees the
        # first's reply streaming and is refused (the branch stays one line).
        _lock(conversation)
        return _turn_create(
            conversation=conversation,
            model=model,
            window=window,
            content=content,
            parent_id=_branch_leaf_when_idle(conversation),
            kind=UsageRecord.Kind.QUESTION,
            channel=channel,
            api_key_id=api_key_id,
            options=options,
        )


def reply_create(
    *,
    conversation: Conversation,
    parent: Message,
    model: ModelConfig,
    kind: str,
    channel: str = UsageRecord.Channel.PAGE,
    api_key_id: int | None = None,
    **fields: object,
) -> Message:
    """Save an empty streaming reply to `parent` and open its row in the usage ledger."""
    reply = Message.objects.create(
        conversation=conversation,
        parent=parent,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        model_id=model.id,
        **fields,
    )
    usage_record_open(
        user_id=conversation.owner_id,
        conversation=conversation,
        message=reply,
        model_id=model.id,
        kind=kind,
        channel=channel,
        api_key_id=api_key_id,
    )
    return reply


def _settings_current(conversation: Conversation) -> None:
    """Read the model, system prompt, archive state and summary as saved now.

    A socket holds its conversation from when it opened; the header (in this
    tab or another) may have changed either since, and the very next message
    must follow the change.
    """
    try:
        conversation.refresh_from_db(
            fields=[
                "model_id",
                "system_prompt",
                "archived_at",
                "pinned_at",
                "memory_enabled",
                "summary",
                "summary_through",
            ]
        )
    except Conversation.DoesNotExist:
        # Deleted in another window while this one was open.
        raise ValidationError(_("This conversation was deleted.")) from None


def turn_edit(*, conversation: Conversation, message_id: int, content: str) -> Turn:
    """Send an edited version of one of the user's questions: the conversation branches.

    The new question is a sibling of the old one (same history before it); the
    old question and everything after it are kept as an alternative branch.
    Raises like `turn_start`; then nothing changed.
    """
    content = message_validate(content)
    original = _branch_message(conversation, message_id, Message.Role.USER)
    quota_check(user=conversation.owner)
    _settings_current(conversation)
    model = require_usable(get_model(conversation.model_id))
    window = window_build(
        conversation=conversation, model=model, newest=content, before_id=original.pk
    )
    with transaction.atomic():
        _lock(conversation)
        _require_idle(conversation)
        _branch_leave(conversation, first=original)
        return _turn_create(
            conversation=conversation,
            model=model,
            window=window,
            content=content,
            parent_id=original.parent_id,
            kind=UsageRecord.Kind.EDIT,
        )


def turn_regenerate(*, conversation: Conversation, message_id: int) -> Turn:
    """Write an answer again, to the same question and history.

    The old answer (and anything after it) is kept as an alternative; the
    "< 1 / 2 >" control switches back. Raises ValidationError when the answer
    cannot be written again.
    """
    answer = _branch_message(conversation, message_id, Message.Role.ASSISTANT)
    if not answer.can_regenerate:
        raise ValidationError(_("This answer is still being written."))
    question = answer.parent
    if question is None or question.role != Message.Role.USER:
        raise ValidationError(_("There is no question to answer again."))
    quota_check(user=conversation.owner)
    _settings_current(conversation)
    model = require_usable(get_model(conversation.model_id))
    window = window_build(
        conversation=conversation, model=model, newest=question.content, before_id=question.pk
    )
    with transaction.atomic():
        _lock(conversation)
        _require_idle(conversation)
        _branch_leave(conversation, first=answer)
        assistant_message = reply_create(
            conversation=conversation,
            parent=question,
            model=model,
            kind=UsageRecord.Kind.REGENERATE,
        )
        conversation.save(update_fields=["updated_at"])
    return Turn(
        memory=conversation.memory_enabled,
        user_message=question,
        assistant_message=assistant_message,
        model=model,
        window=window,
        regenerated=True,
    )


def turn_continue(*, conversation: Conversation, message_id: int) -> Turn:
    """Write on an answer cut at the length limit, appending to the same message.

    The model is sent the history, the question and the answer so far. Raises
    ValidationError when the answer was not cut or is not the newest message.
    """
    answer = _branch_message(conversation, message_id, Message.Role.ASSISTANT)
    if not answer.can_continue:
        raise ValidationError(_("Only an answer cut at the length limit can be continued."))
    question = answer.parent
    if question is None or question.role != Message.Role.USER:
        raise ValidationError(_("There is no question to answer again."))
    quota_check(user=conversation.owner)
    _settings_current(conversation)
    model = require_usable(get_model(conversation.model_id))
    window = window_build(
        conversation=conversation,
        model=model,
        newest=question.content,
        before_id=question.pk,
        continuation=answer.content,
    )
    with transaction.atomic():
        _lock(conversation)
        if _branch_leaf_when_idle(conversation) != answer.pk:
            raise ValidationError(_("Only the newest answer can be continued."))
        # Conditional: of two Continue clicks, the second finds it streaming.
        if not Message.objects.filter(pk=answer.pk, status=Message.Status.CUT).update(
            status=Message.Status.STREAMING, model_id=model.id, updated_at=timezone.now()
        ):
            raise ValidationError(_("This answer is still being written."))
        usage_record_open(
            user_id=conversation.owner_id,
            conversation=conversation,
            message=answer,
            model_id=model.id,
            kind=UsageRecord.Kind.CONTINUE,
        )
        conversation.save(update_fields=["updated_at"])
    earlier = copy.copy(answer)
    answer.status, answer.model_id = Message.Status.STREAMING, model.id
    return Turn(
        memory=conversation.memory_enabled,
        user_message=question,
        assistant_message=answer,
        model=model,
        window=window,
        regenerated=True,  # it may have other versions: drawn with them
        continued=earlier,
    )
