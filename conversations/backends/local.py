"""The embedded default model: a small GGUF model run in-process by llama.cpp."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.utils.translation import gettext as _

from conversations.backends.base import (
    Backend,
    BackendError,
    Queued,
    RequestOptions,
    StreamEvent,
    Usage,
)
from conversations.backends.registry import ModelConfig

logger = logging.getLogger("parley.backends")

_DONE = object()


def _disable_extra_buffer_types(llama_cpp: Any) -> None:
    """Keep llama.cpp off its "extra buffer types" (AMX and repacked weights).

    On this machine kind's CPUs (AMX_INT8) the build pip compiles crashes the whole
    process with SIGSEGV in ggml_backend_amx_mul_mat on the first token. Without
    extra buffers the same build runs SmolLM2 at ~50-80 tokens/s. Llama() takes no
    argument for it, so wrap the default model parameters it starts from.
    """
    if getattr(llama_cpp, "_parley_patched", False):
        return
    default_params = llama_cpp.llama_model_default_params

    def model_params_without_extra_buffers():
        params = default_params()
        params.use_extra_bufts = False
        return params

    llama_cpp.llama_model_default_params = model_params_without_extra_buffers
    llama_cpp._parley_patched = True


class LocalLlamaBackend(Backend):
    """Run a llama.cpp model off the event loop, one generation at a time.

    One `Llama` instance is not thread-safe, so a single worker thread serves all
    requests in order; callers behind others are told how many are ahead.
    """

    def __init__(self, model: ModelConfig) -> None:
        super().__init__(model)
        self._llama: Any = None
        self._load_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"llama-{model.id}")
        # Requests submitted and not yet finished; only touched on the event loop.
        self._in_flight = 0

    def load(self) -> None:
        """Load the weights once; later calls return at once."""
        with self._load_lock:
            if self._llama is not None:
                return
            path = self.model.local_path()
            if path is None:
                raise BackendError(
                    _("The model file for %(model)s is missing.") % {"model": self.model.label}
                )
            import llama_cpp.llama_cpp as llama_cpp_lib
            from llama_cpp import Llama

            _disable_extra_buffer_types(llama_cpp_lib)
            logger.info("loading local model %s from %s", self.model.id, path)
            # Two compute threads collapse as soon as the web server needs a core
            # (measured 85 -> 23 tok/s on 2 cores); batch prompt work may use two.
            self._llama = Llama(
                model_path=str(path),
                n_ctx=self.model.context_window,
                n_threads=1,
                n_threads_batch=2,
                verbose=False,
            )

    async def stream(
        self,
        *,
        messages: list[dict[str, str]],
        max_tokens: int,
        options: RequestOptions | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Stream tokens from the worker thread; say `Queued` first when others wait."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancelled = threading.Event()

        def emit(item: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def finished() -> None:
            self._in_flight -= 1

        ahead = self._in_flight
        self._in_flight += 1
        if ahead:
            yield Queued(ahead=ahead)
        self._executor.submit(
            self._generate, messages, max_tokens, options, emit, cancelled, finished, loop
        )
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            # Stop the worker at its next token if the caller went away.
            cancelled.set()

    def _generate(
        self,
        messages: list[dict[str, str]],
        max_tokens: int,
        request: RequestOptions | None,
        emit: Callable[[Any], None],
        cancelled: threading.Event,
        finished: Callable[[], None],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        try:
            if cancelled.is_set():
                return
            self.load()
            options: dict[str, Any] = {"max_tokens": max_tokens}
            if self.model.temperature is not None:
                options["temperature"] = self.model.temperature
            if self.model.repeat_penalty is not None:
                options["repeat_penalty"] = self.model.repeat_penalty
            if request is not None:
                if request.temperature is not None:
                    options["temperature"] = request.temperature
                if request.top_p is not None:
                    options["top_p"] = request.top_p
                if request.stop:
                    options["stop"] = list(request.stop)
            output_tokens = 0
            chunks = self._llama.create_chat_completion(messages=messages, stream=True, **options)
            try:
                for chunk in chunks:
                    if cancelled.is_set():
                        break
                    text = chunk["choices"][0]["delta"].get("content")
                    if text:
                        output_tokens += 1  # llama.cpp streams one token per chunk
                        emit(text)
            finally:
                chunks.close()
            # n_tokens is what sits in the context now: the prompt plus the reply.
            input_tokens = max(int(self._llama.n_tokens) - output_tokens, 0)
            emit(Usage(input_tokens=input_tokens, output_tokens=output_tokens))
        except BackendError as exc:
            emit(exc)
        except Exception as exc:
            logger.exception("local model %s failed", self.model.id)
            emit(BackendError(_("The local model failed: %(error)s") % {"error": exc}))
        finally:
            # Leave the queue count first, so whoever comes next sees it free.
            loop.call_soon_threadsafe(finished)
            emit(_DONE)
