"""Writes: every change to conversations and messages goes through here.

Split by subdomain; every public name is here too, so callers write
`services.<entity>_<action>` whatever module holds it.
"""

from conversations.services.branches import branch_switch
from conversations.services.comparisons import (
    BLIND_LABELS,
    COMPARE_MAX_MODELS,
    COMPARE_MIN_MODELS,
    ComparisonTurn,
    compare_models_available,
    comparison_keep,
    comparison_start,
    comparison_vote,
    prompt_language,
)
from conversations.services.conversations import (
    TITLE_LENGTH,
    conversation_archive,
    conversation_create,
    conversation_delete,
    conversation_pin,
    conversation_rename,
    conversation_set_model,
    conversation_set_system_prompt,
    model_for_new_conversation,
    require_usable,
)
from conversations.services.ledger import (
    BackgroundRequest,
    background_request_close,
    cost_compute,
    usage_record_close,
    usage_record_close_with,
    usage_record_open,
)
from conversations.services.memory import (
    SUMMARY_MAX_TOKENS,
    SummaryRequest,
    conversation_set_memory,
    conversation_summary_delete,
    conversation_summary_edit,
    conversation_summary_from_model,
    summary_request,
)
from conversations.services.replies import (
    CHECKPOINT_BATCH,
    message_finish,
    messages_checkpoint,
    messages_interrupt,
    messages_interrupt_stale,
)
from conversations.services.sharing import (
    shared_link_count_view,
    shared_link_fork,
    shared_link_revoke,
    shared_link_share,
)
from conversations.services.titles import (
    TITLE_EXCERPT_CHARS,
    TITLE_INSTRUCTIONS,
    TitleRequest,
    conversation_title_from_model,
    title_clean,
    title_request,
)
from conversations.services.turns import (
    Turn,
    message_validate,
    turn_continue,
    turn_edit,
    turn_regenerate,
    turn_start,
)

__all__ = [
    "BLIND_LABELS",
    "BackgroundRequest",
    "COMPARE_MAX_MODELS",
    "COMPARE_MIN_MODELS",
    "ComparisonTurn",
    "compare_models_available",
    "comparison_keep",
    "comparison_start",
    "comparison_vote",
    "prompt_language",
    "CHECKPOINT_BATCH",
    "SUMMARY_MAX_TOKENS",
    "TITLE_EXCERPT_CHARS",
    "TITLE_INSTRUCTIONS",
    "TITLE_LENGTH",
    "SummaryRequest",
    "TitleRequest",
    "Turn",
    "branch_switch",
    "conversation_archive",
    "conversation_create",
    "conversation_delete",
    "conversation_pin",
    "conversation_rename",
    "conversation_set_memory",
    "conversation_set_model",
    "conversation_set_system_prompt",
    "conversation_summary_delete",
    "conversation_summary_edit",
    "conversation_summary_from_model",
    "conversation_title_from_model",
    "background_request_close",
    "cost_compute",
    "message_finish",
    "message_validate",
    "messages_checkpoint",
    "messages_interrupt",
    "messages_interrupt_stale",
    "model_for_new_conversation",
    "require_usable",
    "shared_link_count_view",
    "shared_link_fork",
    "shared_link_revoke",
    "shared_link_share",
    "summary_request",
    "title_clean",
    "title_request",
    "turn_continue",
    "turn_edit",
    "turn_regenerate",
    "turn_start",
    "usage_record_close",
    "usage_record_close_with",
    "usage_record_open",
]
