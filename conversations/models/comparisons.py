"""Comparisons: one question to several models, and the blind votes the leaderboard counts."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from conversations.models.conversations import Conversation, Message


class Comparison(models.Model):
    """One question sent to several models at once; its answers are sibling messages.

    The answers are the question's assistant children (versions of one reply),
    in id order: column A, B, ... In blind mode their models are hidden until
    the owner votes. Keeping one puts it on the branch shown.
    """

    conversation = models.ForeignKey(
        Conversation,
        on_delete=models.CASCADE,
        related_name="comparisons",
        verbose_name=_("conversation"),
    )
    question = models.OneToOneField(
        Message, on_delete=models.CASCADE, related_name="comparison", verbose_name=_("question")
    )
    blind = models.BooleanField(_("blind"), default=False)
    kept = models.ForeignKey(
        Message,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("answer kept"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("comparison")
        verbose_name_plural = _("comparisons")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.conversation} · {self.created_at:%Y-%m-%d %H:%M}"

    def get_absolute_url(self) -> str:
        return f"{self.conversation.get_absolute_url()}#cmp-{self.pk}"


class ComparisonVote(models.Model):
    """A blind vote between the two answers of a comparison: what the leaderboard counts.

    The models are copied here (the answers may be deleted with their
    conversation, the vote stays). No prompt text: only its language and length.
    """

    class Outcome(models.TextChoices):
        A = "a", _("A is better")
        B = "b", _("B is better")
        TIE = "tie", _("Tie")
        BOTH_BAD = "both_bad", _("Both are bad")

    class Language(models.TextChoices):
        ENGLISH = "en", _("English")
        KOREAN = "ko", _("Korean")
        OTHER = "other", _("Other")

    comparison = models.OneToOneField(
        Comparison,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="vote",
        verbose_name=_("comparison"),
    )
    voter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="comparison_votes",
        verbose_name=_("voter"),
    )
    model_a = models.CharField(_("model A"), max_length=100)
    model_b = models.CharField(_("model B"), max_length=100)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome)
    prompt_language = models.CharField(_("prompt language"), max_length=8, choices=Language)
    prompt_chars = models.PositiveIntegerField(_("prompt length (characters)"))
    created_at = models.DateTimeField(_("voted"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("comparison vote")
        verbose_name_plural = _("comparison votes")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["voter", "created_at"])]

    def __str__(self) -> str:
        return f"{self.model_a} vs {self.model_b}: {self.get_outcome_display()}"
