"""The one way async code (consumers, async views, the engine) reaches the database."""

from __future__ import annotations

import functools

from channels.db import database_sync_to_async

# Each call is self-contained (its own transaction), so it may run on any
# thread of the loop's pool: the default, one thread shared by every socket of
# the process, queues a hundred busy sockets' queries behind each other.
database_call = functools.partial(database_sync_to_async, thread_sensitive=False)
