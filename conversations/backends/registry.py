"""The model catalog (models.toml) and the backends built from it, once per process."""

from __future__ import annotations

import dataclasses
import importlib
import logging
import threading
import tomllib
import types
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any, get_args, get_type_hints

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.translation import gettext as _

from conversations.backends.base import Backend

logger = logging.getLogger("parley.backends")

# Backend kinds resolved lazily: a catalog names only the kinds it uses. A new
# kind of backend is one class (with its Options) and one line here.
BACKEND_CLASSES = {
    "openai": "conversations.backends.openai_compat.OpenAICompatibleBackend",
    "local": "conversations.backends.local.LocalLlamaBackend",
}


@cache
def backend_class(kind: str) -> type[Backend]:
    """Return the backend class of a catalog `backend` name (imported on first use)."""
    module_name, _dot, class_name = BACKEND_CLASSES[kind].rpartition(".")
    return getattr(importlib.import_module(module_name), class_name)


class CatalogError(Exception):
    """The model catalog is malformed; the message names the entry and field."""


class UnknownModelError(LookupError):
    """No model with this id is in the catalog."""

    def __init__(self, model_id: str) -> None:
        super().__init__(_("Unknown model %(model)r.") % {"model": model_id})
        self.model_id = model_id


@dataclass(frozen=True)
class ModelConfig:
    """A catalog entry: the fields every model has, and its backend's own `options`."""

    id: str
    label: str
    backend: str
    upstream: str
    context_window: int
    max_output_tokens: int
    # How tokens are counted (see conversations.counters): unset, tiktoken's
    # `encoding` (exact for OpenAI's API, else an estimate); "tiktoken" (the
    # server uses that encoding); "model" (the local model's own vocabulary);
    # "server" (the server's /tokenize); "huggingface" (`tokenizer_file`).
    tokenizer: str = ""
    encoding: str = "cl100k_base"
    tokenizer_file: str = ""
    # Tokens the chat template adds per message (0: the tokenizer's default).
    tokens_per_message: int = 0
    # Share of the window kept free where counts are only an estimate.
    token_margin: float = 0.1
    # The chat template accepts only user/assistant turns in alternation,
    # starting with a question (most open models' templates).
    strict_alternation: bool = False
    price_input_per_1k: Decimal = Decimal("0")
    price_output_per_1k: Decimal = Decimal("0")
    temperature: float | None = None
    description: str = ""
    # Whether this model is asked to name conversations (a tiny model's titles
    # are worse than the first message's words).
    writes_titles: bool = True
    # An instance of the backend class's Options (its own catalog fields).
    options: Any = None

    def unusable_reason(self) -> str:
        """Say why this model cannot be used now, or "" when it can."""
        return backend_class(self.backend).unusable_reason(self.options)

    @property
    def usable(self) -> bool:
        return self.unusable_reason() == ""


@dataclass(frozen=True)
class Preset:
    name: str
    system_prompt: str


@dataclass(frozen=True)
class Catalog:
    models: dict[str, ModelConfig]
    default_id: str
    presets: tuple[Preset, ...] = ()

    def get(self, model_id: str) -> ModelConfig:
        try:
            return self.models[model_id]
        except KeyError:
            raise UnknownModelError(model_id) from None

    def usable(self) -> list[ModelConfig]:
        return [model for model in self.models.values() if model.usable]

    def default(self) -> ModelConfig:
        """Return the configured default if usable, else the first usable model."""
        preferred = self.models[self.default_id]
        if preferred.usable:
            return preferred
        usable = self.usable()
        return usable[0] if usable else preferred


def _field_types(cls: type) -> dict[str, tuple[type, bool]]:
    """Each field of a config dataclass: its type (None stripped) and whether it is required."""
    hints = get_type_hints(cls)
    result = {}
    for spec in dataclasses.fields(cls):
        hint = hints[spec.name]
        if isinstance(hint, types.UnionType):
            hint = next(arg for arg in get_args(hint) if arg is not type(None))
        required = (
            spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING
        )
        result[spec.name] = (hint, required)
    return result


# The common fields; `options` is filled from the backend's own fields.
_COMMON_FIELDS = {
    name: spec for name, spec in _field_types(ModelConfig).items() if name != "options"
}


def _field_value(where: str, name: str, value: Any, expected: type) -> Any:
    """Check one catalog value against the field's type; return it converted."""
    if expected is Decimal:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise CatalogError(f'{where}: field {name!r} must be a price like "0.0015"')
        try:
            value = Decimal(str(value))
        except InvalidOperation:
            raise CatalogError(f"{where}: field {name!r} is not a number: {value!r}") from None
        if value < 0:
            raise CatalogError(f"{where}: field {name!r} must not be negative")
    elif expected is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CatalogError(f"{where}: field {name!r} must be a number")
        value = float(value)
    elif expected is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise CatalogError(f"{where}: field {name!r} must be a whole number")
        if value <= 0:
            raise CatalogError(f"{where}: field {name!r} must be positive")
    elif expected is bool:
        if not isinstance(value, bool):
            raise CatalogError(f"{where}: field {name!r} must be true or false")
    elif not isinstance(value, expected):
        raise CatalogError(f"{where}: field {name!r} must be a {expected.__name__}")
    return value


def model_build(entry: dict[str, Any], *, where: str = "model") -> ModelConfig:
    """Build a ModelConfig from one entry's fields, common and backend-specific.

    Raises CatalogError naming `where` and the field for a missing, unknown or
    mistyped field.
    """
    for name, (_type, required) in _COMMON_FIELDS.items():
        if required and name not in entry:
            raise CatalogError(f"{where}: missing field {name!r}")
    kind = _field_value(where, "backend", entry["backend"], str)
    if kind not in BACKEND_CLASSES:
        kinds = ", ".join(sorted(BACKEND_CLASSES))
        raise CatalogError(f"{where}: field 'backend' must be one of {kinds}")
    backend = backend_class(kind)
    own_fields = _field_types(backend.Options)
    common: dict[str, Any] = {}
    own: dict[str, Any] = {}
    for name, value in entry.items():
        if name in _COMMON_FIELDS:
            common[name] = _field_value(where, name, value, _COMMON_FIELDS[name][0])
        elif name in own_fields:
            own[name] = _field_value(where, name, value, own_fields[name][0])
        else:
            raise CatalogError(f"{where}: unknown field {name!r} for backend {kind!r}")
    for name, (_type, required) in own_fields.items():
        if required and name not in own:
            raise CatalogError(f"{where}: missing field {name!r}")
    if common["max_output_tokens"] >= common["context_window"]:
        raise CatalogError(f"{where}: field 'max_output_tokens' must be below 'context_window'")
    tokenizers = ("tiktoken", "huggingface", backend.TOKENIZER)
    if common.get("tokenizer", "tiktoken") not in tokenizers:
        choices = ", ".join(repr(name) for name in tokenizers if name)
        raise CatalogError(f"{where}: field 'tokenizer' must be one of {choices} for {kind!r}")
    if common.get("tokenizer") == "huggingface" and not common.get("tokenizer_file"):
        raise CatalogError(f"{where}: tokenizer 'huggingface' needs 'tokenizer_file'")
    if not 0 <= common.get("token_margin", 0.1) < 1:
        raise CatalogError(f"{where}: field 'token_margin' must be a share from 0 to below 1")
    options = backend.Options(**own)
    if problem := backend.options_error(options):
        raise CatalogError(f"{where}: {problem}")
    return ModelConfig(**common, options=options)


def _parse_model(entry: Any, index: int) -> ModelConfig:
    where = f"models[{index}]"
    if not isinstance(entry, dict):
        raise CatalogError(f"{where}: expected a table, got {type(entry).__name__}")
    if isinstance(entry.get("id"), str):
        where = f"model {entry['id']!r}"
    return model_build(
        {name: value for name, value in entry.items() if name != "default"}, where=where
    )


def catalog_parse(text: str, *, source: str = "models.toml") -> Catalog:
    """Parse catalog text, raising CatalogError that names the bad entry and field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{source}: not valid TOML: {exc}") from None
    entries = data.get("models")
    if not isinstance(entries, list) or not entries:
        raise CatalogError(f"{source}: needs at least one [[models]] entry")
    models: dict[str, ModelConfig] = {}
    default_id = ""
    for index, entry in enumerate(entries):
        model = _parse_model(entry, index)
        if model.id in models:
            raise CatalogError(f"model {model.id!r}: duplicate id")
        models[model.id] = model
        if entry.get("default") is True:
            if default_id:
                raise CatalogError(f"model {model.id!r}: only one model can be the default")
            default_id = model.id
    presets = []
    for index, entry in enumerate(data.get("presets", [])):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise CatalogError(f"presets[{index}]: needs a 'name'")
        if not isinstance(entry.get("system_prompt"), str):
            raise CatalogError(f"preset {entry['name']!r}: needs a 'system_prompt'")
        presets.append(Preset(name=entry["name"], system_prompt=entry["system_prompt"]))
    return Catalog(
        models=models, default_id=default_id or next(iter(models)), presets=tuple(presets)
    )


@cache
def _catalog_from(path: str) -> Catalog:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"cannot read the model catalog {path}: {exc.strerror}") from None
    return catalog_parse(text, source=path)


def get_catalog() -> Catalog:
    """Return the model catalog named by settings.PARLEY_MODELS_FILE (read once)."""
    return _catalog_from(str(settings.PARLEY_MODELS_FILE))


def get_model(model_id: str) -> ModelConfig:
    """Return one model's configuration; raise UnknownModelError for an unknown id."""
    return get_catalog().get(model_id)


_backends: dict[ModelConfig, Backend] = {}
_backends_lock = threading.Lock()


def get_backend(model: ModelConfig) -> Backend:
    """Return the single backend instance for a model, building it on first use."""
    backend = _backends.get(model)
    if backend is not None:
        return backend
    with _backends_lock:
        backend = _backends.get(model)
        if backend is None:
            backend = _backends[model] = backend_class(model.backend)(model)
    return backend


def models_encodings() -> set[str]:
    """The tiktoken encodings of the usable models (their counts or their estimates)."""
    return {model.encoding for model in get_catalog().usable()}


@receiver(setting_changed)
def _forget_catalog(*, setting: str, **kwargs: Any) -> None:
    if setting == "PARLEY_MODELS_FILE":
        _catalog_from.cache_clear()
        from conversations.counters import counters_forget

        counters_forget()
