import pytest
from django.core.management import CommandError, call_command


def test_lists_every_model_with_why_it_is_usable_or_not(capsys):
    call_command("models")

    out = capsys.readouterr().out
    assert "fake" in out and "usable (default)" in out
    assert "not usable: PARLEY_TEST_UNSET_KEY is not set" in out
    assert "4 models, 3 usable" in out


def test_check_reports_latency_of_each_usable_model(capsys, upstream):
    call_command("models", "--check")

    out = capsys.readouterr().out
    assert out.count("check: ok, first token") == 3
    assert "4 models, 3 usable, 3 answered" in out
    assert len(upstream.chat_requests()) == 3


def test_check_fails_loudly_when_a_model_does_not_answer(capsys, upstream):
    upstream.fail_status = 401

    with pytest.raises(CommandError, match="3 usable model"):
        call_command("models", "--check")

    assert "error: The model's API key was refused." in capsys.readouterr().out


def test_a_broken_catalog_is_a_command_error(settings, tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('[[models]]\nid = "x"\n', encoding="utf-8")
    settings.PARLEY_MODELS_FILE = str(path)

    with pytest.raises(CommandError, match="model 'x': missing field 'label'"):
        call_command("models")
