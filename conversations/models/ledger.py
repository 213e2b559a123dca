"""The usage ledger: one row per request to a model, whatever asked."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from conversations.models.conversations import (
    COST_DECIMAL_PLACES,
    Channel,
    Conversation,
    Message,
)


class UsageRecord(models.Model):
    """One request to a model: the usage ledger that every limit and report reads.

    Every request that reaches a model is written here when it is sent (so that
    a limit counts it at once), and its tokens and cost when it ends: answers to
    questions, regenerations, edits, titles, and whatever front door asked.
    """

    class Kind(models.TextChoices):
        QUESTION = "question", _("question")
        REGENERATE = "regenerate", _("regenerate")
        EDIT = "edit", _("edit")
        CONTINUE = "continue", _("continue")
        TITLE = "title", _("title")
        SUMMARY = "summary", _("summary")
        COMPARE = "compare", _("compare")

    Channel = Channel

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="usage_records",
        verbose_name=_("user"),
    )
    conversation = models.ForeignKey(
        Conversation,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="usage_records",
        verbose_name=_("conversation"),
    )
    # The reply the request wrote (none for a title or a summary).
    message = models.ForeignKey(
        Message,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="usage_records",
        verbose_name=_("message"),
    )
    model_id = models.CharField(_("model"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel, default=Channel.PAGE)
    # The key a request through the API was made with (none from the page).
    api_key = models.ForeignKey(
        "api.ApiKey",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="usage_records",
        verbose_name=_("API key"),
    )
    input_tokens = models.PositiveIntegerField(_("input tokens"), default=0)
    output_tokens = models.PositiveIntegerField(_("output tokens"), default=0)
    usage_estimated = models.BooleanField(_("usage estimated"), default=False)
    cost = models.DecimalField(
        _("cost (USD)"), max_digits=14, decimal_places=COST_DECIMAL_PLACES, default=0
    )
    created_at = models.DateTimeField(_("sent"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("usage record")
        verbose_name_plural = _("usage records")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "created_at"]),
            models.Index(fields=["created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.model_id} · {self.created_at:%Y-%m-%d %H:%M}"
