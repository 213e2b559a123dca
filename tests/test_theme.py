"""The theme (system, light, dark) each user chooses, and how the page carries it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from accounts.models import UserPreferences

pytestmark = pytest.mark.django_db

HOME = reverse("conversations:home")
THEME = reverse("theme")


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def html_tag(client: Client, url: str = HOME) -> str:
    return re.search(r"<html[^>]*>", client.get(url).content.decode()).group(0)


def test_a_new_user_follows_the_system_theme(alice):
    client = logged_in(alice)

    assert html_tag(client) == '<html lang="en">'
    assert 'value="system" aria-pressed="true"' in client.get(HOME).content.decode()
    assert not UserPreferences.objects.exists()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_a_chosen_theme_is_saved_and_set_on_every_page(alice, theme):
    client = logged_in(alice)

    response = client.post(THEME, {"theme": theme, "next": "/search/?q=x"})

    assert response.status_code == 302
    assert response["Location"] == "/search/?q=x"
    assert UserPreferences.objects.get(user=alice).theme == theme
    assert html_tag(client) == f'<html lang="en" data-theme="{theme}">'
    assert html_tag(client, reverse("conversations:search")) == (
        f'<html lang="en" data-theme="{theme}">'
    )
    assert f'value="{theme}" aria-pressed="true"' in client.get(HOME).content.decode()


def test_going_back_to_system_removes_the_attribute(alice):
    client = logged_in(alice)
    client.post(THEME, {"theme": "dark"})

    client.post(THEME, {"theme": "system"})

    assert UserPreferences.objects.get(user=alice).theme == "system"
    assert html_tag(client) == '<html lang="en">'


@pytest.mark.parametrize("value", ["", "blue", "DARK", "dark "])
def test_an_unknown_theme_is_a_clear_400(alice, value):
    client = logged_in(alice)

    response = client.post(THEME, {"theme": value})

    assert response.status_code == 400
    assert "choose one of system, light, dark" in response.content.decode()
    assert not UserPreferences.objects.exists()


def test_the_theme_form_does_not_redirect_to_another_site(alice):
    client = logged_in(alice)

    response = client.post(THEME, {"theme": "dark", "next": "https://evil.example/"})

    assert response.status_code == 302
    assert response["Location"] == HOME


def test_the_theme_form_posts_without_javascript(alice):
    html = logged_in(alice).get(HOME).content.decode()

    form = re.search(r'<form class="theme-form" method="post" action="([^"]+)">', html)
    assert form and form.group(1) == THEME
    assert 'name="next" value="/"' in html
    for theme in ("system", "light", "dark"):
        assert f'<button type="submit" name="theme" value="{theme}"' in html


def test_bobs_theme_is_his_own(alice, bob):
    logged_in(bob).post(THEME, {"theme": "dark"})

    assert html_tag(logged_in(alice)) == '<html lang="en">'


def test_anonymous_visitors_cannot_set_a_theme(client):
    response = client.post(THEME, {"theme": "dark"})

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert not UserPreferences.objects.exists()


def test_the_stylesheet_lets_the_chosen_theme_win_over_the_system():
    css = (Path(settings.BASE_DIR) / "static/parley/parley.css").read_text(encoding="utf-8")

    assert ':root[data-theme="light"] { color-scheme: light; }' in css
    assert ':root[data-theme="dark"] { color-scheme: dark; }' in css
    # One palette: the dark colours are not a second copy under a media query.
    assert "prefers-color-scheme" not in css
    assert "--bg: light-dark(" in css
