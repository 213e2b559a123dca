"""Each model counted with its own tokenizer, chosen in the catalog (`tokenizer`).

- unset: OpenAI's encodings (`encoding`), exact for OpenAI's own API and an
  estimate for any other server; "tiktoken" says the server counts that way.
- "model": the embedded model's own vocabulary, read from its GGUF by llama.cpp
  (exact; the local backend).
- "server": the serving process's own tokenizer, asked over HTTP (llama.cpp's
  and vLLM's `POST /tokenize`, llama-cpp-python's `POST /extras/tokenize`), with
  a timeout and a cache; when the server does not answer, a tiktoken estimate
  plus the margin stands in (logged).
- "huggingface": a `tokenizer.json` the admin provides (`tokenizer_file`), read
  by the `tokenizers` library (exact for the text; the chat template's overhead
  per message is `tokens_per_message`).

A counter's `name` is stored with each message's count (`token_encoding`), so a
count is reused only by the counter that made it. Where only an estimate is
possible the window keeps `token_margin` (a share) free, and the page says
"estimated".
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from conversations.backends import ModelConfig, get_backend
from conversations.backends.base import TokenizerUnavailable
from conversations.tokens import (
    TOKENS_PER_MESSAGE,
    encoding_get,
    encoding_resolved_name,
)

logger = logging.getLogger("parley.tokens")

# Most open models' chat templates wrap a message in 4-6 tokens (ChatML:
# "<|im_start|>", the role, "\n", then "<|im_end|>", "\n").
DEFAULT_TEMPLATE_TOKENS = 5
TOKENIZERS = ("tiktoken", "model", "server", "huggingface")
# In counter names (stored in Message.token_encoding, 50 characters).
_SHORT = {"model": "gguf", "server": "server", "huggingface": "hf"}


@dataclass(frozen=True)
class Counter:
    """How one model's tokens are counted."""

    # Stored with each message's count; at most 50 characters.
    name: str
    count_text: Callable[[str], int]
    # Tokens a message adds beside its content (role and template framing).
    per_message: int
    exact: bool
    margin: float
    # Counts role names too, as OpenAI's framing does (tiktoken only).
    counts_role: bool = False

    def text(self, text: str) -> int:
        """Count plain text."""
        return self.count_text(text) if text else 0

    def message(self, *, role: str, content: str) -> int:
        """Count what one chat message adds to a request."""
        role_tokens = self.count_text(role) if self.counts_role else 0
        return self.per_message + role_tokens + self.text(content)


_counters: dict[str, Counter] = {}
_lock = threading.Lock()


def counter_named(name: str) -> Counter:
    """The counter stored under `name`; plain tiktoken encoding names always resolve."""
    counter = _counters.get(name)
    if counter is None:
        counter = _tiktoken_counter(name, exact=True, margin=0.0, per_message=0)
    return counter


@cache
def counter_for(model: ModelConfig) -> Counter:
    """Build (once) the counter the catalog chooses for `model`."""
    kind = model.tokenizer
    if kind in ("", "tiktoken"):
        # Unset: exact for OpenAI's own API, an estimate for any other server.
        exact = kind == "tiktoken" or (model.backend == "openai" and _is_openai(model))
        # An encoding not available offline is counted with another: an estimate.
        exact = exact and encoding_resolved_name(model.encoding) == model.encoding
        counter = _tiktoken_counter(
            model.encoding,
            exact=exact,
            margin=model.token_margin,
            per_message=model.tokens_per_message,
        )
    else:
        per_message = model.tokens_per_message or DEFAULT_TEMPLATE_TOKENS
        if kind == "huggingface":
            count = _huggingface(model.tokenizer_file)
            exact = True
        else:  # "model" or "server": the backend's own tokenizer
            count = _with_fallback(model, get_backend(model).text_counter())
            exact = kind == "model"
        suffix = "" if per_message == DEFAULT_TEMPLATE_TOKENS else f"+{per_message}"
        counter = Counter(
            name=f"{_SHORT[kind]}:{model.id}"[: 50 - len(suffix)] + suffix,
            count_text=count,
            per_message=per_message,
            exact=exact,
            margin=0.0 if exact else model.token_margin,
        )
    with _lock:
        _counters[counter.name] = counter
    return counter


def _is_openai(model: ModelConfig) -> bool:
    base_url = getattr(model.options, "resolved_base_url", "")
    return not base_url or "api.openai.com" in base_url


def _tiktoken_counter(encoding: str, *, exact: bool, margin: float, per_message: int) -> Counter:
    # OpenAI's framing by default; another overhead is another counter (name).
    name = encoding_resolved_name(encoding) + (f"+{per_message}" if per_message else "")
    tiktoken_encoding = encoding_get(encoding)
    return Counter(
        name=name,
        count_text=lambda text: len(tiktoken_encoding.encode(text, disallowed_special=())),
        per_message=per_message or TOKENS_PER_MESSAGE,
        exact=exact,
        margin=0.0 if exact else margin,
        counts_role=True,
    )


def _huggingface(path: str) -> Callable[[str], int]:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(path)
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)


def _with_fallback(model: ModelConfig, count: Callable[[str], int]) -> Callable[[str], int]:
    """Ask the tokenizer; if it cannot answer, estimate with tiktoken plus the margin."""
    estimate = encoding_get(model.encoding)
    warned = threading.Event()

    def counted(text: str) -> int:
        try:
            return count(text)
        except TokenizerUnavailable as exc:
            if not warned.is_set():
                warned.set()
                logger.warning(
                    "%s: its tokenizer did not answer (%s); estimating with %s + %d%%",
                    model.id,
                    exc,
                    model.encoding,
                    round(model.token_margin * 100),
                )
            tokens = len(estimate.encode(text, disallowed_special=()))
            return math.ceil(tokens * (1 + model.token_margin))

    return counted


def counters_forget() -> None:
    """Drop every built counter (the catalog changed)."""
    counter_for.cache_clear()
    with _lock:
        _counters.clear()


# The fixed samples `manage.py models --check` counts, ours against the server's.
SAMPLES = {
    "English": "The quick brown fox jumps over the lazy dog near the river bank.",
    "Korean": "빠른 갈색 여우가 강둑 근처에서 게으른 개를 뛰어넘습니다.",
}


def counter_describe(model: ModelConfig) -> str:
    """One line saying how `model`'s tokens are counted."""
    counter = counter_for(model)
    kind = model.tokenizer
    if kind == "model":
        how = "the model's own vocabulary (exact)"
    elif kind == "server":
        how = (
            f"the server's /tokenize (if it does not answer: {model.encoding} "
            f"+{round(model.token_margin * 100)}%)"
        )
    elif kind == "huggingface":
        how = f"{model.tokenizer_file} (exact)"
    elif counter.exact:
        how = f"{counter.name} (exact)"
    else:
        how = f"{counter.name} (estimated, {round(counter.margin * 100)}% of the window kept free)"
    return f"{how}, {counter.per_message} tokens per message"


def counter_compare(model: ModelConfig) -> dict[str, tuple[int, int | None]]:
    """Our count of each sample against the server's own (None: it does not tokenize).

    Raises TokenizerUnavailable, saying why, when the server cannot be asked.
    """
    ours = counter_for(model)
    theirs = get_backend(model).text_counter() if get_backend(model).TOKENIZER else None
    if theirs is None:
        raise TokenizerUnavailable("this backend has no tokenizer to ask")
    return {name: (ours.text(text), theirs(text)) for name, text in SAMPLES.items()}
