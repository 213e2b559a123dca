"""Writes: every change to conversations and messages goes through here."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Case, F, Q, TextField, Value, When
from django.utils import timezone
from django.utils.text import Truncator
from django.utils.translation import gettext as _

from conversations.backends import ModelConfig, Usage, get_catalog, get_model
from conversations.context import Window, window_build
from conversations.inputs import text_check
from conversations.models import Conversation, Message, SharedLink
from conversations.quotas import quota_check
from conversations.rendering import rendered_fields
from conversations.selectors import shared_messages
from conversations.tokens import encoding_resolved_name, message_token_count, text_token_count

logger = logging.getLogger("parley.services")

TITLE_LENGTH = 60
TITLE_EXCERPT_CHARS = 1_500
TITLE_INSTRUCTIONS = (
    "Write a title for the conversation below: at most six words, in the language "
    "of the conversation. Reply with the title only, without quotes or a final period."
)
COST_PLACES = Decimal("0.00000001")


@dataclass
class Turn:
    """A user message saved with its empty assistant reply, and what to send the model."""

    user_message: Message
    assistant_message: Message
    model: ModelConfig
    window: Window


def _require_usable(model: ModelConfig) -> ModelConfig:
    """Return the model, or raise ValidationError saying why it cannot be used now."""
    if not model.usable:
        raise ValidationError(
            _("%(model)s cannot be used now: %(reason)s.")
            % {"model": model.label, "reason": model.unusable_reason()}
        )
    return model


def model_for_new_conversation(model_id: str | None) -> ModelConfig:
    """Return the model a new conversation starts with: the chosen one if usable."""
    catalog = get_catalog()
    return _require_usable(catalog.get(model_id) if model_id else catalog.default())


def conversation_create(
    *, owner: AbstractBaseUser, model_id: str | None = None, system_prompt: str = ""
) -> Conversation:
    """Create an empty conversation for `owner` with a usable model."""
    system_prompt = system_prompt_validate(system_prompt)
    model = model_for_new_conversation(model_id)
    return Conversation.objects.create(owner=owner, model_id=model.id, system_prompt=system_prompt)


def conversation_rename(*, conversation: Conversation, title: str) -> Conversation:
    """Give the conversation a title chosen by its owner."""
    title = " ".join(text_check(title, field=_("The title")).split())
    if not title:
        raise ValidationError(_("A title cannot be empty."))
    if len(title) > 200:
        raise ValidationError(_("A title can be at most 200 characters."))
    conversation.title = title
    conversation.title_source = Conversation.TitleSource.USER
    conversation.save(update_fields=["title", "title_source", "updated_at"])
    return conversation


def conversation_set_model(*, conversation: Conversation, model_id: str) -> Conversation:
    """Switch the model that writes the next answers; earlier answers keep theirs."""
    model = _require_usable(get_model(model_id))
    conversation.model_id = model.id
    conversation.save(update_fields=["model_id", "updated_at"])
    return conversation


def system_prompt_validate(system_prompt: str) -> str:
    """Return the system prompt to save (stripped), or raise ValidationError saying why not."""
    system_prompt = text_check(system_prompt, field=_("The system prompt")).strip()
    limit = settings.PARLEY_MAX_MESSAGE_CHARS
    if len(system_prompt) > limit:
        raise ValidationError(
            _("The system prompt is %(length)s characters long; the limit is %(limit)s.")
            % {"length": f"{len(system_prompt):,}", "limit": f"{limit:,}"}
        )
    return system_prompt


def conversation_set_system_prompt(
    *, conversation: Conversation, system_prompt: str
) -> Conversation:
    """Change the instructions sent before every turn of this conversation."""
    conversation.system_prompt = system_prompt_validate(system_prompt)
    conversation.save(update_fields=["system_prompt", "updated_at"])
    return conversation


def conversation_pin(*, conversation: Conversation, pinned: bool) -> Conversation:
    """Pin the conversation to the top of the sidebar, or unpin it.

    Pinning an archived conversation brings it back from the archive. Neither
    pinning nor archiving counts as activity: `updated_at` is left alone.
    """
    if pinned:
        conversation.pinned_at = conversation.pinned_at or timezone.now()
        conversation.archived_at = None
    else:
        conversation.pinned_at = None
    conversation.save(update_fields=["pinned_at", "archived_at"])
    return conversation


def conversation_archive(*, conversation: Conversation, archived: bool) -> Conversation:
    """Move the conversation off the sidebar to the Archived page (unpinning it), or back."""
    if archived:
        conversation.archived_at = conversation.archived_at or timezone.now()
        conversation.pinned_at = None
    else:
        conversation.archived_at = None
    conversation.save(update_fields=["pinned_at", "archived_at"])
    return conversation


def conversation_delete(*, conversation: Conversation) -> None:
    """Delete the conversation and all its messages."""
    conversation.delete()


def shared_link_share(
    *, conversation: Conversation, with_system_prompt: bool = False
) -> SharedLink:
    """Share the conversation as it is now: its active link, re-snapshotted, or a new one.

    The snapshot is the branch shown, the title, and the system prompt only if
    `with_system_prompt` (a reader who continues the conversation gets it).
    Updating keeps the URL, so a link already sent shows the newer snapshot.
    """
    last = (
        conversation.messages.filter(off_branch=False)
        .exclude(status=Message.Status.STREAMING)
        .order_by("-id")
        .first()
    )
    if last is None:
        raise ValidationError(_("There is nothing to share yet: send a message first."))
    snapshot = {
        "last_message": last,
        "title": conversation.title,
        "system_prompt": conversation.system_prompt if with_system_prompt else "",
    }
    with transaction.atomic():
        link = (
            SharedLink.objects.select_for_update()
            .filter(conversation=conversation, revoked_at__isnull=True)
            .first()
        )
        if link is None:
            return SharedLink.objects.create(conversation=conversation, **snapshot)
        for name, value in snapshot.items():
            setattr(link, name, value)
        link.save(update_fields=[*snapshot, "updated_at"])
        return link


def shared_link_revoke(*, link: SharedLink) -> SharedLink:
    """Turn the link off at once: its page answers 404 from now on."""
    if link.revoked_at is None:
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at", "updated_at"])
    return link


def shared_link_count_view(*, link: SharedLink) -> None:
    """Count one visit of a shared page."""
    SharedLink.objects.filter(pk=link.pk).update(views=F("views") + 1)


def shared_link_fork(*, link: SharedLink, reader: AbstractBaseUser) -> Conversation:
    """Copy the shared snapshot into the reader's own account to chat on from there."""
    source = link.conversation
    with transaction.atomic():
        copy = Conversation.objects.create(
            owner=reader,
            title=link.title,
            model_id=source.model_id,
            # Only what the owner chose to share, as it was when shared.
            system_prompt=link.system_prompt,
        )
        parent = None
        for message in shared_messages(link=link):
            parent = Message.objects.create(
                conversation=copy,
                parent=parent,
                role=message.role,
                content=message.content,
                content_html=message.content_html,
                content_html_version=message.content_html_version,
                status=message.status,
                error=message.error,
                model_id=message.model_id,
                token_count=message.token_count,
                token_encoding=message.token_encoding,
            )
    return copy


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


def _lock(conversation: Conversation) -> None:
    """Serialise changes to one conversation's branch until the transaction ends.

    PostgreSQL locks the conversation's row; SQLite's IMMEDIATE transactions
    (settings) hold the database's write lock from their first statement.
    """
    rows = Conversation.objects.filter(pk=conversation.pk).values("pk")
    if connection.features.has_select_for_update:
        rows = rows.select_for_update()
    if not list(rows):
        # Deleted in another window while this one was open.
        raise ValidationError(_("This conversation was deleted."))


def _require_idle(conversation: Conversation) -> None:
    if conversation.messages.filter(status=Message.Status.STREAMING).exists():
        raise ValidationError(_("Wait for the answer to finish, or stop it, before sending."))


def _branch_leaf_when_idle(conversation: Conversation) -> int | None:
    """Id of the newest message of the branch shown, which a new question follows.

    Raises ValidationError while an answer streams: a streaming answer is
    always that newest message (nothing branches while one streams).
    """
    leaf = (
        conversation.messages.filter(off_branch=False)
        .order_by("-id")
        .values_list("id", "status")
        .first()
    )
    if leaf is not None and leaf[1] == Message.Status.STREAMING:
        raise ValidationError(_("Wait for the answer to finish, or stop it, before sending."))
    return leaf[0] if leaf else None


def _branch_leave(conversation: Conversation, *, first: Message) -> None:
    """Take `first` and everything after it off the branch shown.

    Raises ValidationError when `first` already left it (another view was quicker).
    """
    if not Message.objects.filter(pk=first.pk, off_branch=False).update(off_branch=True):
        raise ValidationError(
            _("This message was changed in another window; reload to see it.")
        )
    conversation.messages.filter(off_branch=False, id__gt=first.pk).update(off_branch=True)


def _turn_create(
    *,
    conversation: Conversation,
    model: ModelConfig,
    window: Window,
    content: str,
    parent_id: int | None,
) -> Turn:
    user_message = Message.objects.create(
        conversation=conversation,
        parent_id=parent_id,
        role=Message.Role.USER,
        content=content,
        token_count=window.newest_tokens,
        token_encoding=window.encoding,
    )
    assistant_message = Message.objects.create(
        conversation=conversation,
        parent=user_message,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        model_id=model.id,
    )
    # One statement, decided by the row as it is now (the object may be older:
    # a websocket holds it): writing brings an archived conversation back to
    # the sidebar, and an untitled one takes the start of the message as title.
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
        user_message=user_message, assistant_message=assistant_message, model=model, window=window
    )


def turn_start(*, conversation: Conversation, content: str) -> Turn:
    """Save the user's message and an empty streaming reply; return what to send.

    Raises ValidationError for bad input or an unusable model and
    PromptTooLongError when the message does not fit the model's window; in
    both cases nothing is saved and nothing is sent.
    """
    content = message_validate(content)
    quota_check(user=conversation.owner)
    model = _require_usable(get_model(conversation.model_id))
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
        )


def _branch_message(conversation: Conversation, message_id: int, role: str) -> Message:
    message = conversation.messages.filter(pk=message_id, role=role, off_branch=False).first()
    if message is None:
        raise ValidationError(_("That message is not on the branch shown; reload to see it."))
    return message


def turn_edit(*, conversation: Conversation, message_id: int, content: str) -> Turn:
    """Send an edited version of one of the user's questions: the conversation branches.

    The new question is a sibling of the old one (same history before it); the
    old question and everything after it are kept as an alternative branch.
    Raises like `turn_start`; then nothing changed.
    """
    content = message_validate(content)
    original = _branch_message(conversation, message_id, Message.Role.USER)
    quota_check(user=conversation.owner)
    model = _require_usable(get_model(conversation.model_id))
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
    model = _require_usable(get_model(conversation.model_id))
    window = window_build(
        conversation=conversation, model=model, newest=question.content, before_id=question.pk
    )
    with transaction.atomic():
        _lock(conversation)
        _require_idle(conversation)
        _branch_leave(conversation, first=answer)
        assistant_message = Message.objects.create(
            conversation=conversation,
            parent=question,
            role=Message.Role.ASSISTANT,
            status=Message.Status.STREAMING,
            model_id=model.id,
        )
        conversation.save(update_fields=["updated_at"])
    return Turn(
        user_message=question, assistant_message=assistant_message, model=model, window=window
    )


def branch_switch(*, conversation: Conversation, message_id: int, step: int) -> Message:
    """Show the previous (step -1) or next (+1) alternative of a message on the branch.

    The branch continues down the alternative's newest line of messages, so
    coming back to a version shows where that version's conversation left off.
    Returns the alternative now shown; raises ValidationError when there is none.
    """
    if step not in (-1, 1):
        raise ValidationError(_("Choose the previous or the next version."))
    shown = conversation.messages.filter(pk=message_id, off_branch=False).first()
    if shown is None:
        raise ValidationError(_("That message is not on the branch shown; reload to see it."))
    siblings = conversation.messages.filter(parent_id=shown.parent_id).order_by("id")
    ids = list(siblings.values_list("id", flat=True))
    position = ids.index(shown.pk) + step
    if not 0 <= position < len(ids):
        raise ValidationError(_("There is no other version that way."))
    target_id = ids[position]
    # Descendants have larger ids than their ancestors: one query of pairs suffices.
    parents = dict(
        conversation.messages.filter(id__gte=target_id).values_list("id", "parent_id")
    )
    subtree = {target_id}
    for child_id in sorted(parents):
        if parents[child_id] in subtree:
            subtree.add(child_id)
    path, node = [], max(subtree)
    while node != target_id:
        path.append(node)
        node = parents[node]
    path.append(target_id)
    with transaction.atomic():
        _lock(conversation)
        _require_idle(conversation)
        _branch_leave(conversation, first=shown)
        conversation.messages.filter(id__in=path).update(off_branch=False)
    return conversation.messages.get(pk=target_id)


@dataclass(frozen=True)
class TitleRequest:
    """What to send a model for a conversation's title."""

    conversation_id: int
    model: ModelConfig
    messages: list[dict[str, str]]


def title_request(*, message_id: int) -> TitleRequest | None:
    """What to ask a model for a title once `message_id`, a first answer, is complete.

    None when no title is wanted: the answer is not the first of its
    conversation, the title is not the first message's words (the owner chose
    one, or a model already wrote it), or the title model cannot be used now.
    """
    answer = (
        Message.objects.select_related("parent", "conversation")
        .filter(pk=message_id, status=Message.Status.COMPLETE, role=Message.Role.ASSISTANT)
        .first()
    )
    if answer is None or answer.parent is None or answer.parent.parent_id is not None:
        return None
    conversation = answer.conversation
    if conversation.title_source != Conversation.TitleSource.MESSAGE:
        return None
    model = get_catalog().models.get(settings.PARLEY_TITLE_MODEL or conversation.model_id)
    if model is None or not model.usable or not model.writes_titles:
        return None
    excerpt = Truncator(answer.parent.content).chars(TITLE_EXCERPT_CHARS)
    reply = Truncator(answer.content).chars(TITLE_EXCERPT_CHARS)
    return TitleRequest(
        conversation_id=conversation.pk,
        model=model,
        messages=[
            {"role": "system", "content": TITLE_INSTRUCTIONS},
            {"role": "user", "content": f"User: {excerpt}\n\nAssistant: {reply}"},
        ],
    )


def title_clean(text: str) -> str:
    """The title in a model's reply: its first line, without quotes, labels or end marks."""
    line = next((line for line in text.strip().splitlines() if line.strip()), "")
    marks = "#*_`\"'“”‘’ "
    line = line.strip(marks)
    if line.lower().startswith("title:"):
        line = line[len("title:") :]
    line = " ".join(line.strip(marks).split()).rstrip(".。!?:;,").strip(marks)
    return Truncator(line).chars(TITLE_LENGTH)


def conversation_title_from_model(*, conversation_id: int, title: str) -> bool:
    """Save a model-written title unless the owner renamed meanwhile; say if it was saved."""
    title = title_clean(title)
    if not title:
        return False
    # A conditional update: a rename that lands first always wins.
    return bool(
        Conversation.objects.filter(
            pk=conversation_id, title_source=Conversation.TitleSource.MESSAGE
        ).update(title=title, title_source=Conversation.TitleSource.MODEL)
    )


# Rows per checkpoint statement (two parameters each, well under SQLite's limit).
CHECKPOINT_BATCH = 200


def messages_checkpoint(*, message_texts: dict[int, str]) -> None:
    """Save the partial texts of replies still streaming, in one statement per batch.

    A reply that ended meanwhile is left alone: its final text is saved already.
    """
    _streaming_texts_save(message_texts)


def messages_interrupt(*, message_texts: dict[int, str]) -> None:
    """Mark replies as interrupted (server stopping), keeping the text written so far."""
    _streaming_texts_save(message_texts, status=Message.Status.INTERRUPTED)


def _streaming_texts_save(message_texts: dict[int, str], **fields: object) -> None:
    """Save each reply's text (and `fields`) if it is still streaming, a batch per statement."""
    now = timezone.now()
    items = list(message_texts.items())
    for start in range(0, len(items), CHECKPOINT_BATCH):
        batch = items[start : start + CHECKPOINT_BATCH]
        Message.objects.filter(
            pk__in=[pk for pk, _ in batch], status=Message.Status.STREAMING
        ).update(
            content=Case(
                *(When(pk=pk, then=Value(text)) for pk, text in batch),
                output_field=TextField(),
            ),
            updated_at=now,
            **fields,
        )


def messages_interrupt_stale(
    *, older_than: timedelta, conversation: Conversation | None = None
) -> list[int]:
    """Mark replies left `streaming` by a dead process as interrupted; return their ids.

    A live generation saves its message at least every few seconds, so one not
    saved for `older_than` belongs to a process that is gone.
    """
    stale = Message.objects.filter(
        status=Message.Status.STREAMING, updated_at__lt=timezone.now() - older_than
    )
    if conversation is not None:
        stale = stale.filter(conversation=conversation)
    with transaction.atomic():
        ids = list(stale.values_list("id", flat=True))
        Message.objects.filter(id__in=ids).update(
            status=Message.Status.INTERRUPTED, updated_at=timezone.now()
        )
    return ids


def cost_compute(*, model: ModelConfig, input_tokens: int, output_tokens: int) -> Decimal:
    """Price a request from the catalog's per-1K prices."""
    cost = (
        Decimal(input_tokens) * model.price_input_per_1k
        + Decimal(output_tokens) * model.price_output_per_1k
    ) / 1000
    return cost.quantize(COST_PLACES)


def message_finish(
    *,
    message_id: int,
    model: ModelConfig,
    content: str,
    status: str,
    error: str = "",
    usage: Usage | None,
    estimated_input_tokens: int,
    time_to_first_token_ms: int | None,
    duration_ms: int,
) -> None:
    """Record the end of a reply: its text, final status, usage, cost and timings."""
    encoding = encoding_resolved_name(model.encoding)
    token_count = message_token_count(role="assistant", content=content, encoding=encoding)
    if usage is None:
        # The backend reported nothing: use our own count and say so.
        input_tokens = estimated_input_tokens
        output_tokens = text_token_count(content, encoding=encoding) if content else 0
        estimated = True
    else:
        input_tokens, output_tokens, estimated = usage.input_tokens, usage.output_tokens, False
    # One UPDATE, no read first: this runs at the end of every answer.
    Message.objects.filter(pk=message_id).update(
        content=content,
        # Rendered once, here: every view and the share page show this HTML.
        **rendered_fields(content),
        status=status,
        error=error,
        token_count=token_count,
        token_encoding=encoding,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        usage_estimated=estimated,
        cost=cost_compute(model=model, input_tokens=input_tokens, output_tokens=output_tokens),
        time_to_first_token_ms=time_to_first_token_ms,
        duration_ms=duration_ms,
        updated_at=timezone.now(),
    )


conversation_create_async = database_sync_to_async(conversation_create)
conversation_delete_async = database_sync_to_async(conversation_delete)
