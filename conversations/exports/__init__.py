"""Export conversations as Markdown or JSON, and import that JSON back.

Split by format and direction; every public name is here too, so callers write
`exports.<name>` whatever module holds it.
"""

from conversations.exports.files import IMPORT_MAX_BYTES, export_file_parse, export_filename
from conversations.exports.json_export import (
    FORMAT,
    conversation_export_json,
    conversation_list_for_export,
    conversations_export_for_admin,
    conversations_export_json,
)
from conversations.exports.json_import import (
    IMPORT_MAX_CONVERSATIONS,
    IMPORT_MAX_MESSAGE_CHARS,
    IMPORT_MAX_MESSAGES,
    IMPORT_ROLES,
    conversations_import,
    conversations_import_check,
)
from conversations.exports.markdown import conversation_export_markdown

__all__ = [
    "FORMAT",
    "IMPORT_MAX_BYTES",
    "IMPORT_MAX_CONVERSATIONS",
    "IMPORT_MAX_MESSAGES",
    "IMPORT_MAX_MESSAGE_CHARS",
    "IMPORT_ROLES",
    "conversation_export_json",
    "conversation_export_markdown",
    "conversation_list_for_export",
    "conversations_export_for_admin",
    "conversations_export_json",
    "conversations_import",
    "conversations_import_check",
    "export_file_parse",
    "export_filename",
]
