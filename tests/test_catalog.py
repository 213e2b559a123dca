"""The model catalog: models.toml parsing, errors that name the entry, what is usable."""

from __future__ import annotations

import importlib.util
import json
import os
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings

from conversations.backends import CatalogError, UnknownModelError, get_catalog, get_model
from conversations.backends.registry import catalog_parse

needs_llama_cpp = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None,
    reason="llama-cpp-python is not installed, so every local model reports that instead",
)

GOOD = {
    "id": "m1",
    "label": "Model one",
    "backend": "openai",
    "upstream": "model-one",
    "base_url": "http://127.0.0.1:9/v1",
    "context_window": 4096,
    "max_output_tokens": 512,
}


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def entry(**changes) -> str:
    """One [[models]] table: GOOD with `changes` applied (None removes a field)."""
    fields = {name: value for name, value in {**GOOD, **changes}.items() if value is not None}
    lines = ["[[models]]", *(f"{name} = {toml_value(value)}" for name, value in fields.items())]
    return "\n".join(lines) + "\n"


def parse(*entries: str):
    return catalog_parse("\n".join(entries))


# --- the shipped catalog -------------------------------------------------------------


def shipped_text() -> str:
    return (Path(settings.BASE_DIR) / "models.toml").read_text(encoding="utf-8")


def test_the_shipped_models_toml_parses():
    catalog = catalog_parse(shipped_text())

    assert catalog.default_id == "smollm2"
    assert {"smollm2", "gpt-4o-mini", "gpt-4o", "gpt-3.5-turbo"} <= set(catalog.models)
    smollm2 = catalog.get("smollm2")
    assert smollm2.backend == "local"
    assert smollm2.max_output_tokens < smollm2.context_window
    # The tiny demo model's titles are worse than the first message's words.
    assert (smollm2.writes_titles, catalog.get("gpt-4o-mini").writes_titles) == (False, True)
    assert catalog.get("gpt-4o-mini").price_input_per_1k == Decimal("0.00015")
    assert [preset.name for preset in catalog.presets][0] == "Helpful assistant"


def test_the_shipped_openai_models_need_the_openai_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    catalog = catalog_parse(shipped_text())

    assert catalog.get("gpt-4o").unusable_reason() == "OPENAI_API_KEY is not set"

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert catalog.get("gpt-4o").usable


@pytest.mark.no_fake_catalog
@pytest.mark.skipif(
    bool(os.environ.get("PARLEY_MODELS_FILE")), reason="PARLEY_MODELS_FILE names another catalog"
)
def test_without_a_catalog_setting_the_app_reads_the_shipped_file():
    assert get_catalog().default_id == "smollm2"


# --- errors name the entry and the field -------------------------------------------


@pytest.mark.parametrize("field", ["id", "label", "backend", "upstream", "context_window"])
def test_a_missing_required_field_is_named(field):
    with pytest.raises(CatalogError) as caught:
        parse(entry(**{field: None}))

    assert repr(field) in str(caught.value)
    assert "missing" in str(caught.value)


def test_an_entry_without_id_is_named_by_its_position():
    with pytest.raises(CatalogError, match=r"models\[1\]: missing field 'id'"):
        parse(entry(), entry(id=None))


def test_a_field_of_the_wrong_type_is_named():
    with pytest.raises(CatalogError, match=r"model 'm1': field 'context_window' must be a whole"):
        parse(entry(context_window="4096"))


def test_a_label_that_is_not_text_is_refused():
    with pytest.raises(CatalogError, match=r"model 'm1': field 'label' must be a str"):
        parse(entry(label=7))


def test_a_boolean_is_not_a_number():
    with pytest.raises(CatalogError, match=r"model 'm1': field 'temperature' must be a number"):
        parse(entry(temperature=True))


def test_a_negative_price_is_refused():
    with pytest.raises(CatalogError, match=r"model 'm1': field 'price_input_per_1k' must not be"):
        parse(entry(price_input_per_1k="-0.001"))


def test_a_price_that_is_not_a_number_is_refused():
    with pytest.raises(CatalogError, match=r"model 'm1': field 'price_output_per_1k'"):
        parse(entry(price_output_per_1k="cheap"))


def test_prices_are_exact_decimals():
    model = parse(entry(price_input_per_1k="0.0005", price_output_per_1k=0.1)).get("m1")

    assert model.price_input_per_1k == Decimal("0.0005")
    assert model.price_output_per_1k == Decimal("0.1")


def test_an_unknown_field_is_named():
    with pytest.raises(CatalogError, match=r"model 'm1': unknown field 'max_tokens'"):
        parse(entry(max_tokens=100))


def test_a_field_of_another_backend_is_refused():
    # Each backend class declares its own fields: a file path means nothing to a server.
    error = r"model 'm1': unknown field 'path' for backend 'openai'"
    with pytest.raises(CatalogError, match=error):
        parse(entry(path="/models/x.gguf"))


def test_a_backend_field_of_the_wrong_type_is_named():
    with pytest.raises(CatalogError, match=r"model 'm1': field 'request_timeout' must be a number"):
        parse(entry(request_timeout="soon"))


def test_a_new_backend_kind_is_one_class_and_one_registry_line(monkeypatch):
    from dataclasses import dataclass

    from conversations.backends import registry
    from conversations.backends.base import Backend

    @dataclass(frozen=True)
    class EchoOptions:
        greeting: str
        loudness: int = 1

    class EchoBackend(Backend):
        Options = EchoOptions

        @classmethod
        def unusable_reason(cls, options):
            return "" if options.greeting else "no greeting"

        async def stream(self, *, messages, max_tokens):
            yield self.options.greeting

    module = type(registry)("parley_test_echo_backend")
    module.EchoBackend = EchoBackend
    monkeypatch.setitem(__import__("sys").modules, "parley_test_echo_backend", module)
    monkeypatch.setitem(registry.BACKEND_CLASSES, "echo", "parley_test_echo_backend.EchoBackend")
    registry.backend_class.cache_clear()
    try:
        base = {"backend": "echo", "base_url": None}
        model = parse(entry(**base, greeting="hi", loudness=3)).get("m1")
        assert (model.options.greeting, model.options.loudness) == ("hi", 3)
        assert model.usable
        assert parse(entry(**base, greeting="")).get("m1").unusable_reason() == "no greeting"
        with pytest.raises(CatalogError, match=r"model 'm1': missing field 'greeting'"):
            parse(entry(**base))
        with pytest.raises(CatalogError, match=r"field 'loudness' must be a whole number"):
            parse(entry(**base, greeting="hi", loudness="loud"))
    finally:
        registry.backend_class.cache_clear()


def test_an_unknown_backend_is_refused():
    with pytest.raises(CatalogError, match=r"model 'm1': field 'backend' must be one of"):
        parse(entry(backend="anthropic"))


@pytest.mark.parametrize("max_output_tokens", [4096, 5000])
def test_max_output_tokens_must_be_below_the_context_window(max_output_tokens):
    with pytest.raises(CatalogError, match=r"model 'm1': field 'max_output_tokens'"):
        parse(entry(max_output_tokens=max_output_tokens))


def test_a_zero_context_window_is_refused():
    with pytest.raises(CatalogError, match=r"model 'm1': field 'context_window' must be positive"):
        parse(entry(context_window=0))


def test_a_duplicate_id_is_refused():
    with pytest.raises(CatalogError, match=r"model 'm1': duplicate id"):
        parse(entry(), entry(label="Another"))


def test_two_defaults_are_refused():
    with pytest.raises(CatalogError, match=r"model 'm2': only one model can be the default"):
        parse(entry(default=True), entry(id="m2", default=True))


def test_invalid_toml_is_refused_with_the_source_named():
    with pytest.raises(CatalogError, match=r"my-models\.toml: not valid TOML"):
        catalog_parse('[[models]]\nid = "unterminated\n', source="my-models.toml")


def test_a_catalog_without_models_is_refused():
    with pytest.raises(CatalogError, match="at least one"):
        catalog_parse('[[presets]]\nname = "x"\nsystem_prompt = "y"\n')


def test_a_local_model_needs_a_file():
    with pytest.raises(CatalogError, match=r"model 'm1': a local model needs 'path'"):
        parse(entry(backend="local", base_url=None))


def test_a_preset_without_system_prompt_is_named():
    text = entry() + '\n[[presets]]\nname = "Pirate"\n'
    with pytest.raises(CatalogError, match=r"preset 'Pirate': needs a 'system_prompt'"):
        catalog_parse(text)


# --- usable or not, and why ----------------------------------------------------------


def test_a_model_whose_key_variable_is_unset_says_which_variable(monkeypatch):
    monkeypatch.delenv("PARLEY_CATALOG_TEST_KEY", raising=False)
    model = parse(entry(api_key_env="PARLEY_CATALOG_TEST_KEY")).get("m1")

    assert not model.usable
    assert model.unusable_reason() == "PARLEY_CATALOG_TEST_KEY is not set"


def test_a_model_whose_key_variable_is_set_is_usable(monkeypatch):
    monkeypatch.setenv("PARLEY_CATALOG_TEST_KEY", "sk-test")
    model = parse(entry(api_key_env="PARLEY_CATALOG_TEST_KEY")).get("m1")

    assert model.usable
    assert model.options.api_key == "sk-test"


def test_a_keyless_server_with_a_base_url_is_usable():
    assert parse(entry()).get("m1").usable


def test_a_keyless_server_without_a_base_url_says_so():
    model = parse(entry(base_url=None)).get("m1")

    assert not model.usable
    assert "base_url" in model.unusable_reason()


def test_base_url_env_overrides_the_base_url(monkeypatch):
    monkeypatch.setenv("PARLEY_CATALOG_TEST_URL", "http://10.0.0.1:8000/v1")
    model = parse(entry(base_url=None, base_url_env="PARLEY_CATALOG_TEST_URL")).get("m1")

    assert model.options.resolved_base_url == "http://10.0.0.1:8000/v1"
    assert model.usable


@needs_llama_cpp
def test_a_local_model_with_a_missing_file_says_where_it_looked(tmp_path):
    missing = tmp_path / "nowhere.gguf"
    model = parse(entry(backend="local", base_url=None, path=str(missing))).get("m1")

    assert not model.usable
    assert str(missing) in model.unusable_reason()


@needs_llama_cpp
def test_a_local_model_from_a_package_without_the_file_says_so():
    model = parse(
        entry(backend="local", base_url=None, package="json", file="no-such-model.gguf")
    ).get("m1")

    assert not model.usable
    assert "no-such-model.gguf" in model.unusable_reason()


@needs_llama_cpp
def test_a_local_model_whose_file_exists_is_usable(tmp_path):
    weights = tmp_path / "model.gguf"
    weights.write_bytes(b"GGUF")
    model = parse(entry(backend="local", base_url=None, path=str(weights))).get("m1")

    assert model.usable
    assert model.options.local_path() == weights


# --- the default ---------------------------------------------------------------------


def test_the_model_marked_default_is_the_default():
    catalog = parse(entry(), entry(id="m2", default=True))

    assert catalog.default().id == "m2"


def test_without_a_default_mark_the_first_model_is_the_default():
    assert parse(entry(), entry(id="m2")).default().id == "m1"


def test_an_unusable_default_falls_back_to_the_first_usable_model(monkeypatch):
    monkeypatch.delenv("PARLEY_CATALOG_TEST_KEY", raising=False)
    catalog = parse(
        entry(id="keyed", api_key_env="PARLEY_CATALOG_TEST_KEY", default=True),
        entry(id="keyless-no-url", base_url=None),
        entry(id="open"),
        entry(id="open-too"),
    )

    assert catalog.default().id == "open"
    assert [model.id for model in catalog.usable()] == ["open", "open-too"]


def test_get_model_of_an_unknown_id_raises_unknown_model_error():
    with pytest.raises(UnknownModelError) as caught:
        get_model("no-such-model")

    assert caught.value.model_id == "no-such-model"
    assert isinstance(caught.value, LookupError)


def test_get_model_reads_the_configured_catalog():
    assert get_model("tiny").context_window == 120


def test_writes_titles_must_be_true_or_false():
    entry = (
        '[[models]]\nid = "m"\nlabel = "M"\nbackend = "openai"\nupstream = "m"\n'
        'context_window = 100\nmax_output_tokens = 10\nwrites_titles = "no"\n'
    )
    error = "model 'm': field 'writes_titles' must be true or false"
    with pytest.raises(CatalogError, match=error):
        catalog_parse(entry)
