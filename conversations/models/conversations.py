"""Conversations and their messages: a tree of messages, one branch shown."""

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

# Costs are in US dollars to this many places, everywhere they are computed or shown.
COST_DECIMAL_PLACES = 8
COST_QUANTUM = Decimal(1).scaleb(-COST_DECIMAL_PLACES)


class Channel(models.TextChoices):
    """The front door a request came through."""

    PAGE = "page", _("page")
    API = "api", _("API")


class Conversation(models.Model):
    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="conversations",
        verbose_name=_("owner"),
    )
    class TitleSource(models.TextChoices):
        NONE = "", _("none yet")
        MESSAGE = "message", _("the first message")
        MODEL = "model", _("written by a model")
        USER = "user", _("chosen by the owner")

    title = models.CharField(_("title"), max_length=200, blank=True)
    # Who wrote the title: a model may replace the first message's words, but
    # never a title the owner chose.
    title_source = models.CharField(
        _("title source"), max_length=16, choices=TitleSource, default=TitleSource.NONE, blank=True
    )
    model_id = models.CharField(_("model"), max_length=100)
    system_prompt = models.TextField(_("system prompt"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True, db_index=True)
    # A conversation is pinned (top of the sidebar), archived (off the sidebar,
    # on the Archived page) or neither; services keep the two apart.
    pinned_at = models.DateTimeField(_("pinned"), null=True, blank=True)
    archived_at = models.DateTimeField(_("archived"), null=True, blank=True)
    # Memory beyond the window (off by default): a model-written summary of the
    # messages of the branch up to `summary_through`, sent in their place.
    memory_enabled = models.BooleanField(_("remember earlier messages"), default=False)
    summary = models.TextField(_("summary of earlier messages"), blank=True)
    summary_through = models.ForeignKey(
        "Message",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("summarised through"),
    )
    # Where the conversation was started: the page, or a program through `/v1`
    # (the sidebar marks those). Either can continue it.
    channel = models.CharField(
        _("started through"), max_length=8, choices=Channel, default=Channel.PAGE
    )

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["owner", "-updated_at"])]

    def __str__(self) -> str:
        return self.title or str(_("New conversation"))

    def get_absolute_url(self) -> str:
        return reverse("conversations:detail", kwargs={"public_id": self.public_id})


class Message(models.Model):
    class Role(models.TextChoices):
        SYSTEM = "system", _("system")
        USER = "user", _("user")
        ASSISTANT = "assistant", _("assistant")

    class Status(models.TextChoices):
        COMPLETE = "complete", _("complete")
        STREAMING = "streaming", _("streaming")
        STOPPED = "stopped", _("stopped")
        ERROR = "error", _("error")
        INTERRUPTED = "interrupted", _("interrupted")
        # The model reached the output limit: the text is whole so far and can
        # be continued.
        CUT = "cut", _("cut at the length limit")

    conversation = models.ForeignKey(
        Conversation,
        on_delete=models.CASCADE,
        related_name="messages",
        verbose_name=_("conversation"),
    )
    role = models.CharField(_("role"), max_length=16, choices=Role)
    content = models.TextField(_("content"), blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status, default=Status.COMPLETE, db_index=True
    )
    error = models.TextField(_("error"), blank=True)
    # Why the upstream ended the answer ("stop", "length", "content_filter"),
    # "" when it did not say or the answer did not end normally.
    finish_reason = models.CharField(_("finish reason"), max_length=32, blank=True)
    model_id = models.CharField(_("model"), max_length=100, blank=True)
    # Tokens this message adds to a chat request (content, role and per-message
    # overhead), counted once with `token_encoding` and reused when trimming.
    token_count = models.PositiveIntegerField(_("token count"), null=True, blank=True)
    token_encoding = models.CharField(_("token encoding"), max_length=50, blank=True)
    input_tokens = models.PositiveIntegerField(_("input tokens"), null=True, blank=True)
    output_tokens = models.PositiveIntegerField(_("output tokens"), null=True, blank=True)
    usage_estimated = models.BooleanField(
        _("usage estimated"),
        default=False,
        help_text=_("The backend reported no usage; the figures are our own count."),
    )
    cost = models.DecimalField(
        _("cost (USD)"), max_digits=14, decimal_places=COST_DECIMAL_PLACES, default=0
    )
    time_to_first_token_ms = models.PositiveIntegerField(
        _("time to first token (ms)"), null=True, blank=True
    )
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    # Messages form a tree: a regenerated answer or an edited question is a
    # sibling of the one it replaces (same parent), so nothing written is lost.
    # The conversation shows one path from the root to a leaf, the branch; every
    # message off it has `off_branch` set. Along a path ids increase, so "the
    # branch in id order" is a plain filtered query.
    parent = models.ForeignKey(
        "self",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("parent"),
    )
    off_branch = models.BooleanField(
        _("off the branch shown"),
        default=False,
        help_text=_("An alternative (regenerated or edited) not on the branch shown."),
    )
    # The content rendered to HTML once it is final (rendering.markdown.message_html), and
    # the renderer version that made it; empty while it streams or after a change.
    content_html = models.TextField(_("rendered content"), blank=True, editable=False)
    content_html_version = models.PositiveSmallIntegerField(
        _("renderer version"), default=0, editable=False
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["id"]
        indexes = [models.Index(fields=["conversation", "id"])]

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {self.content[:60]}"

    def get_absolute_url(self) -> str:
        return f"{self.conversation.get_absolute_url()}#msg-{self.pk}"

    @property
    def dom_id(self) -> str:
        return f"msg-{self.pk}"

    @property
    def can_regenerate(self) -> bool:
        """A finished answer on the branch shown can be written again."""
        return (
            self.role == self.Role.ASSISTANT
            and not self.off_branch
            and self.status != self.Status.STREAMING
        )

    @property
    def can_continue(self) -> bool:
        """An answer cut at the length limit can be written on, into the same message."""
        return self.status == self.Status.CUT and not self.off_branch

    @property
    def tokens_per_second(self) -> float | None:
        """Output tokens per second of writing (after the first token), once finished."""
        if not self.output_tokens or self.duration_ms is None:
            return None
        writing_ms = self.duration_ms - (self.time_to_first_token_ms or 0)
        return round(self.output_tokens * 1000 / writing_ms, 1) if writing_ms > 0 else None

    @property
    def failed(self) -> bool:
        """The answer failed or was cut short (its regenerate button says Retry)."""
        return self.status in (self.Status.ERROR, self.Status.INTERRUPTED, self.Status.STOPPED)
