"""Parley's models, one module per domain; every model is named here for the app registry.

Import them from here (`from conversations.models import Message`), whatever
module holds them.
"""

from conversations.models.comparisons import Comparison, ComparisonVote
from conversations.models.conversations import (
    COST_DECIMAL_PLACES,
    COST_QUANTUM,
    Channel,
    Conversation,
    Message,
)
from conversations.models.ledger import UsageRecord
from conversations.models.sharing import SharedLink, share_token  # migration 0003 names it here

__all__ = [
    "COST_DECIMAL_PLACES",
    "COST_QUANTUM",
    "Channel",
    "Comparison",
    "ComparisonVote",
    "Conversation",
    "Message",
    "SharedLink",
    "UsageRecord",
    "share_token",
]
