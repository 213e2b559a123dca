"""The one interface every model backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from conversations.backends.registry import ModelConfig


class BackendError(Exception):
    """A model call failed; `message` is safe to show to the user.

    `detail` is the upstream's own words, for the log line only.
    """

    def __init__(self, message: str, *, retryable: bool = False, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.detail = detail


class ContextOverflowError(BackendError):
    """The request is longer than the server's real context window.

    `prompt_tokens` and `context_window` are the server's figures when it gave
    them (None when it did not).
    """

    def __init__(
        self,
        message: str,
        *,
        prompt_tokens: int | None = None,
        context_window: int | None = None,
        detail: str = "",
    ) -> None:
        super().__init__(message, detail=detail)
        self.prompt_tokens = prompt_tokens
        self.context_window = context_window


class TokenizerUnavailable(Exception):
    """The model's tokenizer could not count a text now (a server that does not answer)."""


@dataclass(frozen=True)
class Usage:
    """Token usage as reported by the upstream (or counted by us when it reports none)."""

    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class Queued:
    """The backend is busy: the request waits behind `ahead` others."""

    ahead: int


@dataclass(frozen=True)
class Finish:
    """Why the upstream ended the answer: "stop", "length", "content_filter", ...

    "" when the stream ended without saying (a server that cut the answer off).
    A backend yields exactly one, after the text and before `Usage`.
    """

    reason: str


@dataclass(frozen=True)
class RequestOptions:
    """What one request asks beyond the catalog's settings (from the API: None is unset).

    `max_tokens` caps the reply below the model's own maximum; the others
    replace the catalog's sampling settings for this request.
    """

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()



type StreamEvent = str | Usage | Queued | Finish


@dataclass(frozen=True)
class NoOptions:
    """A backend that adds no catalog fields of its own."""


class Backend(ABC):
    """A configured model that can stream a chat completion.

    A backend class owns its configuration: `Options` is a frozen dataclass of
    the catalog fields it adds to the common ones (the catalog parser takes each
    field's type from its annotation, and a field without a default is
    required), `options_error` refuses a bad combination when the catalog is
    read, and `unusable_reason` says what is missing at run time (a key, a
    server, a file).
    """

    Options: ClassVar[type] = NoOptions
    # The catalog's `tokenizer` value that asks this backend to count
    # (`text_counter`), or "" when it cannot.
    TOKENIZER: ClassVar[str] = ""

    @classmethod
    def options_error(cls, options: Any) -> str:
        """Say what is wrong with these options as a whole, or "" (checked when parsing)."""
        return ""

    @classmethod
    def unusable_reason(cls, options: Any) -> str:
        """Say why a model with these options cannot be used now, or "" when it can."""
        return ""

    def __init__(self, model: ModelConfig) -> None:
        self.model = model
        self.options = model.options

    def text_counter(self) -> Callable[[str], int]:
        """Return a function counting a text's tokens with the model's own tokenizer.

        It may raise TokenizerUnavailable (then an estimate stands in).
        """
        raise NotImplementedError(f"{type(self).__name__} cannot count tokens")

    def load(self) -> None:  # noqa: B027 - optional hook, most backends load nothing
        """Load anything heavy (weights) once, when the server starts."""

    @abstractmethod
    def stream(
        self,
        *,
        messages: list[dict[str, str]],
        max_tokens: int,
        options: RequestOptions | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Stream the reply to `messages`: maybe `Queued`, text chunks, `Finish`, `Usage`."""
