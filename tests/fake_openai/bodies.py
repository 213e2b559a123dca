"""What the fake sends: bodies modelled on the ones real servers send."""

from __future__ import annotations

from typing import Any

FINGERPRINT = "fp_fake0000"

# Bodies modelled on the errors api.openai.com really sends.
ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Invalid request.", "invalid_request_error", None),
    401: (
        "Incorrect API key provided: test. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        "invalid_api_key",
    ),
    403: ("You are not allowed to access this resource.", "invalid_request_error", None),
    404: ("The model does not exist or you do not have access to it.", "invalid_request_error",
          "model_not_found"),
    408: ("Request timed out.", "timeout", None),
    409: ("Conflict.", "invalid_request_error", None),
    422: ("Unprocessable entity.", "invalid_request_error", None),
    429: (
        "Rate limit reached for requests. Please try again later.",
        "requests",
        "rate_limit_exceeded",
    ),
    500: ("The server had an error while processing your request. Sorry about that!",
          "server_error", None),
    502: ("Bad gateway.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}

# Reason phrases of the status lines.
REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict",
    422: "Unprocessable Entity", 429: "Too Many Requests", 500: "Internal Server Error",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    """An OpenAI-style error body for `status` (its usual message unless given one)."""
    default_message, err_type, code = ERRORS.get(
        status, (f"Error {status}.", "server_error" if status >= 500 else "invalid_request_error",
                 None)
    )
    return {
        "error": {
            "message": message or default_message,
            "type": err_type,
            "param": None,
            "code": code,
        }
    }


def retry_after_header(value: Any) -> str:
    """The retry-after header's value: whole seconds without a decimal point."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def prompt_tokens(body: dict[str, Any]) -> int:
    """The prompt's size as this fake counts it: words + 1 per message (as "auto" usage)."""
    prompt = 0
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            prompt += len(content.split()) + 1
    return prompt


def overflow_body(shape: str, prompt: int, window: int, body: dict[str, Any]) -> dict[str, Any]:
    """The body each server sends for a prompt longer than its context window."""
    completion = body.get("max_completion_tokens") or body.get("max_tokens") or 16
    if shape == "openai":
        return {"error": {
            "message": f"This model's maximum context length is {window} tokens. However, "
                       f"your messages resulted in {prompt} tokens. Please reduce the length "
                       "of the messages.",
            "type": "invalid_request_error", "param": "messages",
            "code": "context_length_exceeded"}}
    if shape == "vllm":
        return {"object": "error",
                "message": f"This model's maximum context length is {window} tokens. However, "
                           f"you requested {prompt + completion} tokens ({prompt} in the "
                           f"messages, {completion} in the completion). Please reduce the "
                           "length of the messages or completion.",
                "type": "BadRequestError", "param": None, "code": 400}
    if shape == "vllm_new":
        return {"object": "error",
                "message": f"'max_tokens' or 'max_completion_tokens' is too large: "
                           f"{completion}. This model's maximum context length is {window} "
                           f"tokens and your request has {prompt} input tokens ({completion} "
                           f"> {window} - {prompt}). None",
                "type": "BadRequestError", "param": None, "code": 400}
    if shape == "llamacpp":
        return {"error": {
            "code": 400, "message": "the request exceeds the available context size, try "
                                    "increasing it",
            "type": "exceed_context_size_error", "n_prompt_tokens": prompt, "n_ctx": window}}
    if shape == "llamacpp_python":
        return {"error": {
            "message": f"This model's maximum context length is {window} tokens, however you "
                       f"requested {prompt + completion} tokens ({prompt} in your prompt; "
                       f"{completion} for the completion). Please reduce the length of the "
                       "messages or completion.",
            "type": "invalid_request_error", "param": "messages",
            "code": "context_length_exceeded"}}
    raise ValueError(f"unknown overflow shape {shape!r}")


def model_entry(model_id: str) -> dict[str, Any]:
    """One model of GET /v1/models."""
    return {"id": model_id, "object": "model", "created": 1700000000, "owned_by": "fake-openai"}


def usage_body(setting: Any, body: dict[str, Any], tokens: list[str]) -> dict[str, Any] | None:
    """An answer's usage object, as `FakeOpenAI.usage` says; None omits it."""
    if setting is None:
        return None
    if setting == "auto":
        prompt, completion = prompt_tokens(body), len(tokens)
    else:
        prompt, completion = setting
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0,
        },
    }
