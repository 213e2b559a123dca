"""Writes to conversations themselves: create, rename, model, system prompt, pin, archive."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations.backends import ModelConfig, get_catalog, get_model
from conversations.inputs import text_check
from conversations.models import Conversation

# Characters of a title made from the first message (and of a model's title).
TITLE_LENGTH = 60


def require_usable(model: ModelConfig) -> ModelConfig:
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
    return require_usable(catalog.get(model_id) if model_id else catalog.default())


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
    model = require_usable(get_model(model_id))
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

