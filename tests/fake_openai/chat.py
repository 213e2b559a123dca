"""POST /v1/chat/completions: an answer, whole or streamed, and the ways it goes wrong."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from .bodies import FINGERPRINT, overflow_body, prompt_tokens, usage_body

if TYPE_CHECKING:
    from .handler import Handler


class ChatCompletions:
    """The chat completions answer, for `Handler` (whose plumbing it uses)."""

    def _chat(self: Handler, cfg: dict[str, Any], body: dict[str, Any]) -> None:
        fake = self.server.fake
        window = cfg["context_window"]
        if window is not None and prompt_tokens(body) > window:
            shape = cfg["overflow_shape"]
            if shape not in ("stream_error", "empty"):
                self._stall(cfg)
                self._send_json(400, overflow_body(shape, prompt_tokens(body), window, body))
                return
            cfg = {**cfg, "stream_shape": shape}
        model = body.get("model") or (cfg["models"][0] if cfg["models"] else "fake-model")
        tokens = list(cfg["model_tokens"].get(model, cfg["tokens"]))
        cfg["delay"] = cfg["model_delays"].get(model, cfg["delay"])
        finish_reason = cfg["finish_reason"]
        # As OpenAI does: stop at the requested maximum, saying so.
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if isinstance(limit, int) and 0 < limit < len(tokens):
            tokens, finish_reason = tokens[:limit], "length"
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        usage = usage_body(cfg["usage"], body, tokens)

        self._stall(cfg)

        if not body.get("stream"):
            if cfg["reset_after_tokens"] is not None:
                self._reset_connection()
            if cfg["malformed_after_tokens"] is not None:
                self._send_json(200, None, raw=b'{"id": "chatcmpl-broken", "choices": [')
                return
            if cfg["delay"]:
                fake._sleep(cfg["delay"] * len(tokens))
            payload: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "system_fingerprint": FINGERPRINT,
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(tokens),
                                "refusal": None},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }],
            }
            if usage is not None:
                payload["usage"] = usage
            self._send_json(200, payload)
            return

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            c: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": FINGERPRINT,
                "choices": [{"index": 0, "delta": delta, "logprobs": None,
                             "finish_reason": finish}],
            }
            if include_usage:
                c["usage"] = None
            return c

        self.send_response(200, "OK")
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", f"req_{uuid.uuid4().hex}")
        self.end_headers()
        self.wfile.flush()

        if cfg["stream_shape"] == "empty":
            self._write_chunk(b"")
            return
        if cfg["stream_shape"] == "stream_error":
            window = cfg["context_window"]
            self._send_event(overflow_body("llamacpp", prompt_tokens(body), window, body))
            self._write_chunk(b"")
            return
        self._send_event(chunk({"role": "assistant", "content": "", "refusal": None}))
        if cfg["stream_shape"] == "error_event":
            self._send_event(chunk({"content": tokens[0]}))
            self._send_event({"error": {
                "message": "Something went wrong in the middle of the stream.",
                "type": "server_error", "code": 500}})
            self._write_chunk(b"")
            return
        for sent, token in enumerate(tokens):
            if cfg["reset_after_tokens"] is not None and sent >= cfg["reset_after_tokens"]:
                self._reset_connection()
            if cfg["malformed_after_tokens"] is not None and sent == cfg["malformed_after_tokens"]:
                self._send_event('{"id": "chatcmpl-broken", "choices": [{not json')
            if cfg["delay"] and sent:
                fake._sleep(cfg["delay"])
            self._send_event(chunk({"content": token}))
            self._record["tokens_sent"] = sent + 1
        if cfg["reset_after_tokens"] is not None:  # N >= len(tokens): drop before finishing
            self._reset_connection()
        malformed_at = cfg["malformed_after_tokens"]
        if malformed_at is not None and len(tokens) <= malformed_at:
            self._send_event('{"id": "chatcmpl-broken", "choices": [{not json')
        self._send_event(chunk({}, finish_reason))
        if include_usage and usage is not None:
            final = chunk({})
            final["choices"] = []
            final["usage"] = usage
            self._send_event(final)
        self._send_event("[DONE]")
        self._write_chunk(b"")  # terminating zero-length chunk
