"""Shared links: a read-only snapshot of a conversation anyone with the link can read."""

import secrets

from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from conversations.models.conversations import Conversation, Message


def share_token() -> str:
    """A link token of 192 random bits (secrets), URL-safe."""
    return secrets.token_urlsafe(24)


class SharedLink(models.Model):
    """A read-only link to a conversation as it was up to `last_message`."""

    token = models.CharField(_("token"), max_length=64, unique=True, default=share_token)
    conversation = models.ForeignKey(
        Conversation,
        on_delete=models.CASCADE,
        related_name="shared_links",
        verbose_name=_("conversation"),
    )
    # The snapshot boundary: the shared page shows messages up to this one.
    last_message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="+", verbose_name=_("last message")
    )
    # Snapshots taken when the link was made or updated: the title shown, and
    # the system prompt only if the owner chose to share it ("" otherwise).
    title = models.CharField(_("title"), max_length=200, blank=True)
    system_prompt = models.TextField(_("shared system prompt"), blank=True)
    views = models.PositiveIntegerField(_("views"), default=0)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("shared link")
        verbose_name_plural = _("shared links")
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation"],
                condition=models.Q(revoked_at__isnull=True),
                name="one_active_link_per_conversation",
            )
        ]

    def __str__(self) -> str:
        return f"{self.conversation} ({self.token[:6]}…)"

    def get_absolute_url(self) -> str:
        return reverse("conversations:shared", kwargs={"token": self.token})

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
