"""Writes of the API: keys (create, revoke, authenticate) and the turns it starts.

A turn through the API is a Parley turn like the page's: the same services
save it (`services.turn_start`), the same window, tokenizer and trimming choose
what the model is sent, the same limits and ledger apply; only the channel
("api") and the key are added to its usage record.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from api.models import KEY_PREFIX, SHOWN_CHARS, ApiKey
from conversations import services
from conversations.backends import RequestOptions, UnknownModelError
from conversations.models import Channel, Conversation, Message

# last_used_at is written at most this often per key: not one UPDATE per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def key_hash(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_create(
    *, user: AbstractBaseUser, name: str, expires_at: datetime | None = None
) -> tuple[ApiKey, str]:
    """Make a key for `user`; return it and the key itself, which is never stored.

    Raises ValidationError for an empty or too long name or an expiry in the past.
    """
    name = " ".join(name.split())
    if not name:
        raise ValidationError(_("Give the key a name, e.g. the script that will use it."))
    if len(name) > 100:
        raise ValidationError(_("A key's name can be at most 100 characters."))
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError(_("The expiry date must be in the future."))
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        user=user,
        name=name,
        prefix=key[: len(KEY_PREFIX) + SHOWN_CHARS],
        hashed=key_hash(key),
        expires_at=expires_at,
    )
    return api_key, key


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke a key at once; requests with it are refused from now on."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key


def api_key_authenticate(*, key: str) -> ApiKey | None:
    """Return the active key `key` is (with its user), noting its use; None if it is not."""
    if not key.startswith(KEY_PREFIX):
        return None
    api_key = (
        ApiKey.objects.select_related("user")
        .filter(hashed=key_hash(key), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if api_key is None or not api_key.is_active:
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


# Turns ------------------------------------------------------------------------


class ContextTooLongError(ValidationError):
    """The messages do not all fit the model's window (the API trims nothing silently)."""


class ResponseNotFoundError(LookupError):
    """No response (assistant reply) of this user has that id."""


@dataclass(frozen=True)
class ChatMessage:
    role: str  # system, user or assistant
    content: str


def _system_prompt(messages: list[ChatMessage], instructions: str = "") -> str:
    parts = [instructions] if instructions else []
    parts += [message.content for message in messages if message.role == "system"]
    return "\n\n".join(part for part in parts if part)


def _history_save(conversation: Conversation, messages: list[ChatMessage]) -> None:
    """Save the turns a request brings with it, one line of messages after the branch's end."""
    leaf = conversation.messages.filter(off_branch=False).order_by("-id").first()
    parent_id = leaf.pk if leaf else None
    for message in messages:
        if message.role == "system":
            continue
        saved = Message.objects.create(
            conversation=conversation,
            parent_id=parent_id,
            role=message.role,
            content=message.content,
            model_id=conversation.model_id if message.role == "assistant" else "",
        )
        parent_id = saved.pk


def _turn(
    *,
    conversation: Conversation,
    messages: list[ChatMessage],
    api_key: ApiKey,
    options: RequestOptions,
    trim: bool,
) -> services.Turn:
    """Save the history the request brings and its last (user) message as a turn."""
    _history_save(conversation, messages[:-1])
    turn = services.turn_start(
        conversation=conversation,
        content=messages[-1].content,
        channel=Channel.API,
        api_key_id=api_key.pk,
        options=options,
    )
    if not trim and turn.window.left_out_up_to is not None:
        raise ContextTooLongError(
            _(
                "The messages are longer than the model's window of %(window)s tokens "
                "(minus %(reserved)s reserved for the answer). Send fewer or shorter ones."
            )
            % {
                "window": f"{turn.model.context_window:,}",
                "reserved": f"{turn.model.max_output_tokens:,}",
            }
        )
    return turn


def _options_check(options: RequestOptions, model_id: str) -> None:
    model = services.model_for_new_conversation(model_id)
    if options.max_tokens is not None and options.max_tokens > model.max_output_tokens:
        raise ValidationError(
            _("%(model)s writes at most %(limit)s tokens per answer.")
            % {"model": model.id, "limit": model.max_output_tokens}
        )


def api_chat_start(
    *,
    api_key: ApiKey,
    model_id: str,
    messages: list[ChatMessage],
    options: RequestOptions,
) -> services.Turn:
    """Answer a chat completion request: save it as a conversation of the key's owner.

    OpenAI's chat completions keep no state; Parley keeps each request (nothing
    a user typed or a model produced is lost) as a conversation started through
    the API, archived so that scripts do not fill the sidebar. Every message
    must fit the window. Raises UnknownModelError, ValidationError (bad input,
    unusable model, a limit: QuotaExceededError), ContextTooLongError and
    PromptTooLongError; then nothing was saved.
    """
    _options_check(options, model_id)
    with transaction.atomic():
        conversation = Conversation.objects.create(
            owner=api_key.user,
            model_id=model_id,
            system_prompt=_system_prompt(messages),
            channel=Channel.API,
        )
        turn = _turn(
            conversation=conversation,
            messages=messages,
            api_key=api_key,
            options=options,
            trim=False,
        )
        # Archived, and never named by a model: a title request after every
        # stateless completion would double a script's requests (and its bill).
        Conversation.objects.filter(pk=conversation.pk).update(
            archived_at=timezone.now(), title_source=Conversation.TitleSource.NONE
        )
    return turn


def response_reply_get(*, user: AbstractBaseUser, response_id: int) -> Message:
    """The reply a response id names, if it is one of the user's; else ResponseNotFoundError."""
    reply = (
        Message.objects.select_related("conversation", "parent")
        .filter(pk=response_id, role=Message.Role.ASSISTANT, conversation__owner=user)
        .first()
    )
    if reply is None:
        raise ResponseNotFoundError(response_id)
    return reply


def api_response_start(
    *,
    api_key: ApiKey,
    model_id: str,
    messages: list[ChatMessage],
    instructions: str,
    previous_response_id: int | None,
    options: RequestOptions,
) -> services.Turn:
    """Answer a Responses API request: a new conversation, or the next turn of one.

    A chain of responses is one conversation of the key's owner, in the sidebar
    and continuable in the browser; `previous_response_id` may name any reply of
    theirs, from the page too, as long as it is the newest of its conversation's
    branch. The conversation takes the request's model; `instructions` become
    its system prompt. Raises like `api_chat_start`, and ResponseNotFoundError.
    """
    _options_check(options, model_id)
    with transaction.atomic():
        if previous_response_id is None:
            conversation = Conversation.objects.create(
                owner=api_key.user,
                model_id=model_id,
                system_prompt=_system_prompt(messages, instructions),
                channel=Channel.API,
            )
        else:
            previous = response_reply_get(user=api_key.user, response_id=previous_response_id)
            conversation = previous.conversation
            leaf = conversation.messages.filter(off_branch=False).order_by("-id").first()
            if leaf is None or leaf.pk != previous.pk:
                raise ValidationError(
                    _(
                        "That response is not the newest of its conversation: continue "
                        "from %(newest)s (Parley continues the branch shown)."
                    )
                    % {"newest": f"resp_{leaf.pk}" if leaf else "-"}
                )
            if conversation.model_id != model_id:
                services.conversation_set_model(conversation=conversation, model_id=model_id)
            system_prompt = _system_prompt(messages, instructions)
            if system_prompt and system_prompt != conversation.system_prompt:
                services.conversation_set_system_prompt(
                    conversation=conversation, system_prompt=system_prompt
                )
        return _turn(
            conversation=conversation,
            messages=messages,
            api_key=api_key,
            options=options,
            trim=True,
        )


__all__ = [
    "ChatMessage",
    "ContextTooLongError",
    "ResponseNotFoundError",
    "UnknownModelError",
    "api_chat_start",
    "api_key_authenticate",
    "api_key_create",
    "api_key_revoke",
    "api_response_start",
    "response_reply_get",
]
