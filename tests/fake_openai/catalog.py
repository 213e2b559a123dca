"""The catalog the suite and the benches use: models served by a fake upstream.

Test data, not Django: bench/ reads it with no settings configured.
"""

from __future__ import annotations


def catalog_text(base_url: str) -> str:
    """A models.toml whose models are served by the fake at `base_url`."""
    return f"""
[[models]]
id = "fake"
label = "Fake model"
backend = "openai"
upstream = "fake-model"
base_url = "{base_url}"
context_window = 4096
max_output_tokens = 512
encoding = "cl100k_base"
tokenizer = "tiktoken"
price_input_per_1k = "0.0005"
price_output_per_1k = "0.0015"
default = true

[[models]]
id = "tiny"
label = "Tiny window model"
backend = "openai"
upstream = "fake-model"
base_url = "{base_url}"
context_window = 120
max_output_tokens = 40
encoding = "cl100k_base"
tokenizer = "tiktoken"
price_input_per_1k = "0.001"
price_output_per_1k = "0.002"
writes_titles = false

[[models]]
id = "keyed"
label = "Model needing a key"
backend = "openai"
upstream = "fake-model"
base_url = "{base_url}"
api_key_env = "PARLEY_TEST_UNSET_KEY"
context_window = 4096
max_output_tokens = 512

# A second model of its own for comparisons: the fake upstream answers it by its
# upstream name, at its own speed (FakeOpenAI.model_delays / model_tokens).
[[models]]
id = "fake-b"
label = "Second fake model"
backend = "openai"
upstream = "fake-model-b"
base_url = "{base_url}"
context_window = 2048
max_output_tokens = 256
encoding = "cl100k_base"
price_input_per_1k = "0.001"
price_output_per_1k = "0.004"
writes_titles = false

[[presets]]
name = "Pirate"
system_prompt = "Talk like a pirate."
"""
