"""The model catalog (models.toml) and the backends built from it, once per process."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import threading
import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.translation import gettext as _

from conversations.backends.base import Backend

logger = logging.getLogger("parley.backends")

# Backend kinds resolved lazily: importing llama.cpp is not free.
BACKEND_CLASSES = {
    "openai": "conversations.backends.openai_compat.OpenAICompatibleBackend",
    "local": "conversations.backends.local.LocalLlamaBackend",
}


class CatalogError(Exception):
    """The model catalog is malformed; the message names the entry and field."""


class UnknownModelError(LookupError):
    """No model with this id is in the catalog."""

    def __init__(self, model_id: str) -> None:
        super().__init__(_("Unknown model %(model)r.") % {"model": model_id})
        self.model_id = model_id


@dataclass(frozen=True)
class ModelConfig:
    id: str
    label: str
    backend: str
    upstream: str
    context_window: int
    max_output_tokens: int
    encoding: str = "cl100k_base"
    price_input_per_1k: Decimal = Decimal("0")
    price_output_per_1k: Decimal = Decimal("0")
    base_url: str = ""
    base_url_env: str = ""
    api_key_env: str = ""
    temperature: float | None = None
    request_timeout: float = 60.0
    description: str = ""
    # Local models: a file path, or a package that ships the file.
    path: str = ""
    package: str = ""
    file: str = ""
    repeat_penalty: float | None = None
    # Whether this model is asked to name conversations (a tiny model's titles
    # are worse than the first message's words).
    writes_titles: bool = True

    @property
    def resolved_base_url(self) -> str:
        return (os.environ.get(self.base_url_env, "") if self.base_url_env else "") or self.base_url

    @property
    def api_key(self) -> str:
        return os.environ.get(self.api_key_env, "") if self.api_key_env else ""

    @property
    def is_local(self) -> bool:
        return self.backend == "local"

    def local_path(self) -> Path | None:
        """Find the weights file of a local model, without importing its package."""
        if self.path:
            path = Path(self.path).expanduser()
            return path if path.is_file() else None
        if self.package:
            spec = importlib.util.find_spec(self.package)
            if spec is None or not spec.submodule_search_locations:
                return None
            path = Path(spec.submodule_search_locations[0]) / self.file
            return path if path.is_file() else None
        return None

    def unusable_reason(self) -> str:
        """Say why this model cannot be used now, or "" when it can."""
        if self.backend == "local":
            if importlib.util.find_spec("llama_cpp") is None:
                return _("llama-cpp-python is not installed")
            if self.local_path() is None:
                where = self.path or _("%(file)s in package %(package)s") % {
                    "file": self.file,
                    "package": self.package,
                }
                return _("model file not found (%(where)s)") % {"where": where}
            return ""
        if self.api_key_env and not self.api_key:
            return _("%(variable)s is not set") % {"variable": self.api_key_env}
        if not self.api_key_env and not self.resolved_base_url:
            return _("no base_url for a keyless server")
        return ""

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


_FIELD_TYPES: dict[str, type] = {
    "id": str,
    "label": str,
    "backend": str,
    "upstream": str,
    "context_window": int,
    "max_output_tokens": int,
    "encoding": str,
    "price_input_per_1k": Decimal,
    "price_output_per_1k": Decimal,
    "base_url": str,
    "base_url_env": str,
    "api_key_env": str,
    "temperature": float,
    "request_timeout": float,
    "description": str,
    "path": str,
    "package": str,
    "file": str,
    "repeat_penalty": float,
    "writes_titles": bool,
}
_REQUIRED = ("id", "label", "backend", "upstream", "context_window", "max_output_tokens")


def _parse_model(entry: Any, index: int) -> ModelConfig:
    where = f"models[{index}]"
    if not isinstance(entry, dict):
        raise CatalogError(f"{where}: expected a table, got {type(entry).__name__}")
    if isinstance(entry.get("id"), str):
        where = f"model {entry['id']!r}"
    for name in _REQUIRED:
        if name not in entry:
            raise CatalogError(f"{where}: missing field {name!r}")
    values: dict[str, Any] = {}
    for name, value in entry.items():
        if name == "default":
            continue
        expected = _FIELD_TYPES.get(name)
        if expected is None:
            raise CatalogError(f"{where}: unknown field {name!r}")
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
        elif expected is bool and not isinstance(value, bool):
            raise CatalogError(f"{where}: field {name!r} must be true or false")
        elif not isinstance(value, expected):
            raise CatalogError(f"{where}: field {name!r} must be a {expected.__name__}")
        values[name] = value
    if values["backend"] not in BACKEND_CLASSES:
        kinds = ", ".join(sorted(BACKEND_CLASSES))
        raise CatalogError(f"{where}: field 'backend' must be one of {kinds}")
    if values["max_output_tokens"] >= values["context_window"]:
        raise CatalogError(f"{where}: field 'max_output_tokens' must be below 'context_window'")
    if values["backend"] == "local" and not (values.get("path") or values.get("package")):
        raise CatalogError(f"{where}: a local model needs 'path' or 'package' and 'file'")
    return ModelConfig(**values)


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
            module_name, _dot, class_name = BACKEND_CLASSES[model.backend].rpartition(".")
            backend_class = getattr(importlib.import_module(module_name), class_name)
            backend = backend_class(model)
            _backends[model] = backend
    return backend


def models_encodings() -> set[str]:
    """The tiktoken encodings of the usable models."""
    return {model.encoding for model in get_catalog().usable()}


@receiver(setting_changed)
def _forget_catalog(*, setting: str, **kwargs: Any) -> None:
    if setting == "PARLEY_MODELS_FILE":
        _catalog_from.cache_clear()
