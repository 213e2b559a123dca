"""Model backends: the catalog of configured models and the classes that stream from them."""

from conversations.backends.base import Backend, BackendError, Queued, RequestOptions, Usage
from conversations.backends.registry import (
    Catalog,
    CatalogError,
    ModelConfig,
    UnknownModelError,
    get_backend,
    get_catalog,
    get_model,
)

__all__ = [
    "Backend",
    "BackendError",
    "Catalog",
    "CatalogError",
    "ModelConfig",
    "Queued",
    "RequestOptions",
    "UnknownModelError",
    "Usage",
    "get_backend",
    "get_catalog",
    "get_model",
]
