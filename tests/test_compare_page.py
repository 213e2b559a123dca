"""The Compare controls of the page: offered with two usable models, else the reason;
a new chat may start with a comparison (the HTTP form)."""

from __future__ import annotations

import pytest

from conversations import services
from conversations.models import Comparison, Message

pytestmark = pytest.mark.django_db



def test_compare_is_offered_with_the_usable_models(client, alice):
    client.force_login(alice)
    html = client.get("/").content.decode()
    assert "Compare models" in html
    for model_id in ("fake", "tiny", "fake-b"):
        assert f'name="compare_models" value="{model_id}"' in html
    assert 'name="compare_models" value="keyed"' not in html  # its key is not set
    assert 'name="blind"' in html


ONE_USABLE = """
[[models]]
id = "fake"
label = "Fake model"
backend = "openai"
upstream = "fake-model"
base_url = "http://127.0.0.1:9/v1"
context_window = 4096
max_output_tokens = 512

[[models]]
id = "keyed"
label = "Model needing a key"
backend = "openai"
upstream = "fake-model"
base_url = "http://127.0.0.1:9/v1"
api_key_env = "PARLEY_TEST_UNSET_KEY"
context_window = 4096
max_output_tokens = 512
"""


def test_with_fewer_than_two_usable_models_the_page_says_why(client, alice, settings, tmp_path):
    from conversations.backends.registry import _catalog_from

    path = tmp_path / "one.toml"
    path.write_text(ONE_USABLE, encoding="utf-8")
    settings.PARLEY_MODELS_FILE = str(path)
    _catalog_from.cache_clear()
    client.force_login(alice)
    conversation = services.conversation_create(owner=alice)
    for url in ("/", conversation.get_absolute_url()):
        html = client.get(url).content.decode()
        assert 'name="compare_models"' not in html
        assert "Compare is not offered: it needs two usable models, and 1 is usable." in html
        assert "Model needing a key: PARLEY_TEST_UNSET_KEY is not set" in html


@pytest.mark.django_db(transaction=True)
def test_a_new_chat_can_start_with_a_comparison(client, alice, upstream):
    client.force_login(alice)
    response = client.post(
        "/c/new/",
        {"message": "Hello both", "model": "fake", "compare_models": ["fake", "fake-b"]},
    )
    comparison = Comparison.objects.get()
    assert response.status_code == 302
    assert response["Location"] == comparison.conversation.get_absolute_url()
    assert comparison.question.content == "Hello both"
    answers = comparison.question.children.order_by("id")
    assert [answer.model_id for answer in answers] == ["fake", "fake-b"]


@pytest.mark.django_db(transaction=True)
def test_a_new_chat_comparison_with_one_model_is_refused_and_keeps_the_draft(client, alice):
    client.force_login(alice)
    response = client.post(
        "/c/new/", {"message": "Just one?", "model": "fake", "compare_models": ["fake"]}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Choose between 2 and 4 different models to compare." in html
    assert "Just one?" in html
    assert not Comparison.objects.exists() and not Message.objects.exists()


def test_compare_and_the_leaderboard_speak_korean(client, alice):
    client.force_login(alice)
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "모델 비교" in html and "블라인드: 투표할 때까지 이름 숨김(모델 두 개)" in html
    html = client.get("/leaderboard/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "리더보드" in html and "모든 언어" in html
