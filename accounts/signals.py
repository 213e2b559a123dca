"""Open websockets follow the account: logout, password change, deactivation.

Signal receivers only forward the event to conversations.socket_guard, which
tells the sockets on every worker through the channel layer.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from conversations import socket_guard


@receiver(user_logged_out)
def _close_the_sessions_sockets(sender, request, user, **kwargs) -> None:
    # Sent before the session is flushed: its key still names the sockets to close.
    session = getattr(request, "session", None)
    if session is not None and session.session_key:
        socket_guard.session_sockets_close(session_key=session.session_key)


def _check_the_users_sockets(sender, instance, **kwargs) -> None:
    # A new password or a deactivation invalidates sessions: each socket checks its
    # own once the change is committed (a password change keeps the current one).
    if instance.pk is None:
        return
    user_id = instance.pk
    transaction.on_commit(lambda: socket_guard.user_sockets_check(user_id=user_id))


def connect() -> None:
    """Connect the receivers that need the user model (called from AppConfig.ready)."""
    user_model = get_user_model()
    post_save.connect(_check_the_users_sockets, sender=user_model, dispatch_uid="parley-user-save")
    post_delete.connect(
        _check_the_users_sockets, sender=user_model, dispatch_uid="parley-user-delete"
    )
