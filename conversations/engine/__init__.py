"""The turn engine: start a turn, stop it, observe its reply — whoever listens.

Front doors (the page's websocket today; an HTTP stream or a comparison next)
call only these names. Inside: `delivery` (groups, inboxes, publishing),
`runner` (one detached task per reply), `control` (stop and snapshot requests
from other processes), `checkpoints` (partial texts saved, interrupted at
exit), `watch` (ordering for a view), `turns` (the entry points).
"""

from conversations.engine.checkpoints import replies_interrupt_all, replies_interrupt_stale
from conversations.engine.comparisons import (
    comparison_keep,
    comparison_stop,
    comparison_vote,
    reply_to_comparison,
)
from conversations.engine.delivery import conversation_group, conversation_publish
from conversations.engine.runner import ReplyOutcome, reply_finished_connect
from conversations.engine.state import Snapshot, reply_snapshot
from conversations.engine.turns import (
    reply_again,
    reply_continue,
    reply_stop,
    reply_to_edit,
    reply_to_question,
    reply_to_turn,
    version_show,
)
from conversations.engine.watch import (
    BranchSwitched,
    ComparisonStarted,
    ConversationWatch,
    ReplyEnded,
    ReplyQueued,
    ReplyText,
    Retitled,
    SettingsChanged,
    TurnStarted,
    WatchEvent,
    reply_observe,
)

__all__ = [
    "BranchSwitched",
    "ComparisonStarted",
    "ConversationWatch",
    "ReplyEnded",
    "ReplyOutcome",
    "ReplyQueued",
    "ReplyText",
    "Retitled",
    "SettingsChanged",
    "Snapshot",
    "TurnStarted",
    "WatchEvent",
    "comparison_keep",
    "comparison_stop",
    "comparison_vote",
    "conversation_group",
    "conversation_publish",
    "replies_interrupt_all",
    "replies_interrupt_stale",
    "reply_again",
    "reply_continue",
    "reply_finished_connect",
    "reply_observe",
    "reply_snapshot",
    "reply_stop",
    "reply_to_comparison",
    "reply_to_edit",
    "reply_to_question",
    "reply_to_turn",
    "version_show",
]
