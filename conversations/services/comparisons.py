"""Comparisons: one question to several models at once, keeping one answer, blind votes.

A comparison's answers are sibling assistant messages of one question (the
versions of one reply): the first is on the branch shown, the others are
versions. Keeping one moves the branch onto it, as `branch_switch` does.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations.backends import ModelConfig, get_catalog, get_model
from conversations.context import window_build
from conversations.models import Comparison, ComparisonVote, Conversation, Message, UsageRecord
from conversations.quotas import quota_check
from conversations.services.branches import _branch_leaf_when_idle, _lock
from conversations.services.conversations import require_usable
from conversations.services.turns import Turn, _turn_create, message_validate, reply_create

# Hangul syllables, jamo and compatibility jamo.
_HANGUL = (("\uac00", "\ud7a3"), ("\u1100", "\u11ff"), ("\u3130", "\u318f"))
COMPARE_MIN_MODELS = 2
COMPARE_MAX_MODELS = 4
# Blind answers are named by their column.
BLIND_LABELS = "ABCD"


@dataclass
class ComparisonTurn:
    """A saved comparison: its question and one turn (reply, model, window) per model."""

    comparison: Comparison
    turns: list[Turn]


def compare_models_available() -> list[ModelConfig]:
    """The models a comparison may use: the usable ones of the catalog."""
    return get_catalog().usable()


def _models_chosen(model_ids: list[str]) -> list[ModelConfig]:
    ids = list(dict.fromkeys(str(model_id) for model_id in model_ids))  # once each, in order
    if not COMPARE_MIN_MODELS <= len(ids) <= COMPARE_MAX_MODELS:
        raise ValidationError(
            _("Choose between %(min)s and %(max)s different models to compare.")
            % {"min": COMPARE_MIN_MODELS, "max": COMPARE_MAX_MODELS}
        )
    return [require_usable(get_model(model_id)) for model_id in ids]


def comparison_start(
    *, conversation: Conversation, content: str, model_ids: list[str], blind: bool = False
) -> ComparisonTurn:
    """Save one question with an empty streaming reply per model; return what to send each.

    Each model's window is built with its own context size and tokenizer. The
    first reply is on the branch shown, the others are its versions. Every
    reply opens its own row in the usage ledger ("compare"), and the limits
    must allow all of them. Raises ValidationError (bad input, unusable model,
    a limit), PromptTooLongError or UnknownModelError; then nothing is saved.
    """
    content = message_validate(content)
    models = _models_chosen(model_ids)
    if blind:
        if len(models) != 2:
            raise ValidationError(_("A blind comparison is between exactly two models."))
        # Which column is which must not follow from the order they were ticked in.
        secrets.SystemRandom().shuffle(models)
    quota_check(user=conversation.owner, requests=len(models))
    windows = [
        window_build(conversation=conversation, model=model, newest=content) for model in models
    ]
    with transaction.atomic():
        _lock(conversation)
        first = _turn_create(
            conversation=conversation,
            model=models[0],
            window=windows[0],
            content=content,
            parent_id=_branch_leaf_when_idle(conversation),
            kind=UsageRecord.Kind.COMPARE,
        )
        # Every reply has versions (its siblings) from the start.
        first.regenerated = True
        turns = [first]
        for model, window in zip(models[1:], windows[1:], strict=True):
            reply = reply_create(
                conversation=conversation,
                parent=first.user_message,
                model=model,
                kind=UsageRecord.Kind.COMPARE,
                off_branch=True,
                # What the request sends, known now: the column's live cost uses it.
                input_tokens=window.input_tokens,
            )
            turns.append(
                Turn(
                    user_message=first.user_message,
                    assistant_message=reply,
                    model=model,
                    window=window,
                    regenerated=True,
                )
            )
        Message.objects.filter(pk=first.assistant_message.pk).update(
            input_tokens=windows[0].input_tokens
        )
        first.assistant_message.input_tokens = windows[0].input_tokens
        comparison = Comparison.objects.create(
            conversation=conversation, question=first.user_message, blind=blind
        )
    return ComparisonTurn(comparison=comparison, turns=turns)


def _comparison_answers(comparison: Comparison) -> list[Message]:
    return list(
        Message.objects.filter(parent_id=comparison.question_id, role=Message.Role.ASSISTANT)
        .order_by("id")
    )


def comparison_keep(*, comparison: Comparison, message_id: int) -> Message:
    """Continue the conversation on one answer; the others stay as its versions.

    A blind comparison is kept only after the vote (keeping names the model).
    Raises ValidationError when the answer is not one of the comparison's or
    an answer is still being written.
    """
    answers = {answer.pk: answer for answer in _comparison_answers(comparison)}
    kept = answers.get(message_id)
    if kept is None:
        raise ValidationError(_("That answer is not part of this comparison."))
    if comparison.blind and not ComparisonVote.objects.filter(comparison=comparison).exists():
        raise ValidationError(_("Vote first: keeping an answer would reveal its model."))
    conversation = comparison.conversation
    with transaction.atomic():
        _lock(conversation)
        if conversation.messages.filter(
            parent_id=comparison.question_id, status=Message.Status.STREAMING
        ).exists():
            raise ValidationError(_("Wait for every answer to finish, or stop them, first."))
        shown = next((a for a in answers.values() if not a.off_branch), None)
        if shown is None:
            raise ValidationError(
                _("This comparison is not on the branch shown; reload to see it.")
            )
        if shown.pk != kept.pk:
            # The same moves as branch_switch: the old answer's line leaves the
            # branch, the kept one (a leaf: nothing was written after it) joins.
            conversation.messages.filter(off_branch=False, id__gte=shown.pk).update(
                off_branch=True
            )
            Message.objects.filter(pk=kept.pk).update(off_branch=False)
        Comparison.objects.filter(pk=comparison.pk).update(kept=kept)
        conversation.save(update_fields=["updated_at"])
    comparison.kept = kept
    return kept


def prompt_language(text: str) -> str:
    """English, Korean or other, from the letters of the text (simply: which script dominates).

    Hangul syllables and jamo make it Korean when they are at least a third of
    the letters; Latin letters make it English when they are nearly all of them.
    """
    letters = [char for char in text if char.isalpha()]
    if not letters:
        return ComparisonVote.Language.OTHER
    hangul = sum(1 for char in letters if any(low <= char <= high for low, high in _HANGUL))
    latin = sum(1 for char in letters if char.isascii())
    if hangul * 3 >= len(letters):
        return ComparisonVote.Language.KOREAN
    if latin >= 0.9 * len(letters):
        return ComparisonVote.Language.ENGLISH
    return ComparisonVote.Language.OTHER


def comparison_vote(*, comparison: Comparison, voter, outcome: str) -> ComparisonVote:
    """Record the owner's one vote on a blind comparison of two answers.

    Raises ValidationError for an unknown outcome, a comparison that is not
    blind or not finished, a second vote, or a voter over the daily cap.
    """
    if outcome not in ComparisonVote.Outcome.values:
        raise ValidationError(_("Choose A, B, a tie or both bad."))
    if not comparison.blind:
        raise ValidationError(_("Only blind comparisons are voted on."))
    if comparison.conversation.owner_id != voter.pk:
        raise ValidationError(_("Only the owner of the conversation votes on it."))
    answers = _comparison_answers(comparison)
    if len(answers) != 2:
        raise ValidationError(_("A vote needs exactly two answers."))
    if any(answer.status == Message.Status.STREAMING for answer in answers):
        raise ValidationError(_("Wait for both answers to finish before voting."))
    cap = settings.PARLEY_VOTES_PER_DAY
    if cap:
        since = timezone.now() - timedelta(days=1)
        if ComparisonVote.objects.filter(voter=voter, created_at__gte=since).count() >= cap:
            raise ValidationError(
                _("You cast %(cap)s votes in the last 24 hours, the most one account may.")
                % {"cap": cap}
            )
    question = comparison.question
    try:
        with transaction.atomic():
            return ComparisonVote.objects.create(
                comparison=comparison,
                voter=voter,
                model_a=answers[0].model_id,
                model_b=answers[1].model_id,
                outcome=outcome,
                prompt_language=prompt_language(question.content),
                prompt_chars=len(question.content),
            )
    except IntegrityError:
        raise ValidationError(_("This comparison has a vote already.")) from None
