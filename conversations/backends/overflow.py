"""Recognise "the request is longer than the context window" in every server's words.

Each server says it its own way, all as HTTP 400 (or inside the event stream):

- OpenAI: ``{"error": {"code": "context_length_exceeded", "message": "This model's
  maximum context length is 16385 tokens. However, your messages resulted in
  20011 tokens. ..."}}``;
- vLLM: a flat ``{"object": "error", "message": "This model's maximum context length
  is 4096 tokens. However, you requested 5000 tokens (4488 in the messages, 512 in
  the completion). ..."}``, or, newer, "... and your request has 4488 input tokens";
- llama.cpp's server: ``{"error": {"type": "exceed_context_size_error", "message":
  "the request exceeds the available context size, ...", "n_prompt_tokens": 5000,
  "n_ctx": 4096}}``;
- llama-cpp-python: "Requested tokens (5000) exceed context window of 4096".

llama-cpp-python's server answers a streamed request that overflows with HTTP
200 and an empty stream (the error is only in its log): that case is recognised
by the reply runner from what it sent (see conversations.outcomes).
"""

from __future__ import annotations

import re
from typing import Any

from django.utils.translation import gettext as _

from conversations.backends.base import ContextOverflowError

_WINDOW = re.compile(r"maximum context length is (\d+)", re.IGNORECASE)
_PROMPT = (
    re.compile(r"messages resulted in (\d+) tokens", re.IGNORECASE),
    re.compile(r"\((\d+) in the messages", re.IGNORECASE),
    re.compile(r"\((\d+) in your prompt", re.IGNORECASE),
    re.compile(r"request has (\d+) input tokens", re.IGNORECASE),
    re.compile(r"Requested tokens \((\d+)\)", re.IGNORECASE),
)
_LLAMA_CPP_PYTHON = re.compile(r"exceed context window of (\d+)", re.IGNORECASE)
_PHRASES = (
    "context_length_exceeded",
    "exceed_context_size",
    "maximum context length",
    "exceeds the available context size",
    "exceed context window",
)


def overflow_message(*, prompt_tokens: int | None, context_window: int | None) -> str:
    """The sentence a user reads, with the numbers that are known."""
    if prompt_tokens and context_window:
        return _(
            "The conversation is too long for the model's server: the request has "
            "%(prompt)s tokens, and its context window holds %(window)s. Start a new "
            "conversation, or edit an earlier message to branch off with less history."
        ) % {"prompt": f"{prompt_tokens:,}", "window": f"{context_window:,}"}
    if context_window:
        return _(
            "The conversation is too long for the model's server: its context window "
            "holds %(window)s tokens. Start a new conversation, or edit an earlier "
            "message to branch off with less history."
        ) % {"window": f"{context_window:,}"}
    return _(
        "The conversation is too long for the model's server's context window. Start a "
        "new conversation, or edit an earlier message to branch off with less history."
    )


def _first_int(patterns: tuple[re.Pattern, ...], text: str) -> int | None:
    for pattern in patterns:
        if match := pattern.search(text):
            return int(match.group(1))
    return None


def overflow_recognise(body: Any) -> ContextOverflowError | None:
    """Return a ContextOverflowError if an error body says the context overflowed."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        # vLLM's flat body, OpenAI's error object as the client hands it, or text.
        error = body if isinstance(body, dict) else {"message": str(body or "")}
    message = str(error.get("message") or "")
    code = str(error.get("code") or "")
    kind = str(error.get("type") or "")
    haystack = f"{code} {kind} {message}".lower()
    if not any(phrase in haystack for phrase in _PHRASES):
        return None
    window = error.get("n_ctx")
    prompt = error.get("n_prompt_tokens")
    if not isinstance(window, int):
        match = _WINDOW.search(message) or _LLAMA_CPP_PYTHON.search(message)
        window = int(match.group(1)) if match else None
    if not isinstance(prompt, int):
        prompt = _first_int(_PROMPT, message)
    return ContextOverflowError(
        overflow_message(prompt_tokens=prompt, context_window=window),
        prompt_tokens=prompt,
        context_window=window,
        detail=message[:500],
    )
