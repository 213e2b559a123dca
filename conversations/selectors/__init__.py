"""Reads. Every conversation lookup is scoped to its owner: another user's id is a 404.

Split by subdomain; every public name is here too, so callers write
`selectors.<entity>_<action>` whatever module holds it.
"""

from conversations.selectors.comparisons import (
    COLUMN_NAMES,
    ComparisonView,
    comparison_answer_annotate,
    comparison_get,
    comparison_streaming_ids,
    comparisons_annotate,
)
from conversations.selectors.conversations import (
    conversation_cost,
    conversation_get_for_user,
    conversation_list_for_user,
    conversation_refresh_with_cost,
)
from conversations.selectors.messages import (
    Alternatives,
    alternatives_annotate,
    message_ended_ids,
    message_get,
    message_list,
    message_path,
    message_streaming_ids,
)
from conversations.selectors.sharing import (
    shared_link_active,
    shared_link_get_for_user,
    shared_link_get_public,
    shared_link_list_for_user,
    shared_messages,
)
from conversations.selectors.sidebar import (
    EPOCH,
    SIDEBAR_PAGE_SIZE,
    SidebarGroup,
    SidebarPage,
    conversation_list_archived,
    conversation_list_pinned,
    conversation_list_sidebar,
    conversation_sidebar_page,
    sidebar_period,
)

__all__ = [
    "COLUMN_NAMES",
    "ComparisonView",
    "comparison_answer_annotate",
    "comparison_get",
    "comparison_streaming_ids",
    "comparisons_annotate",
    "conversation_cost",
    "conversation_get_for_user",
    "conversation_list_for_user",
    "conversation_refresh_with_cost",
    "Alternatives",
    "alternatives_annotate",
    "message_ended_ids",
    "message_get",
    "message_list",
    "message_path",
    "message_streaming_ids",
    "shared_link_active",
    "shared_link_get_for_user",
    "shared_link_get_public",
    "shared_link_list_for_user",
    "shared_messages",
    "EPOCH",
    "SIDEBAR_PAGE_SIZE",
    "SidebarGroup",
    "SidebarPage",
    "conversation_list_archived",
    "conversation_list_pinned",
    "conversation_list_sidebar",
    "conversation_sidebar_page",
    "sidebar_period",
]
