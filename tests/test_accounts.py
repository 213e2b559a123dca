"""Accounts: sign up, log in, log out and change the password."""

from __future__ import annotations

import pytest
from conftest import PASSWORD
from django.contrib.auth import get_user_model
from django.http import HttpRequest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

HOME = reverse("conversations:home")
SIGNUP = reverse("signup")
LOGIN = reverse("login")
LOGOUT = reverse("logout")
PASSWORD_CHANGE = reverse("password_change")

NEW_PASSWORD = "staple-orbit-lantern-42"


def signed_in_username(client: Client) -> str | None:
    response = client.get(HOME)
    if response.status_code != 200:
        return None
    return response.context["user"].get_username()


def test_the_signup_page_is_open_to_visitors(client):
    response = client.get(SIGNUP)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="username"' in html
    assert 'name="password1"' in html
    assert 'name="password2"' in html


def test_signing_up_logs_in_and_goes_home(client):
    response = client.post(
        SIGNUP, {"username": "carol", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )

    assert response.status_code == 302
    assert response["Location"] == HOME
    carol = get_user_model().objects.get(username="carol")
    assert carol.check_password(NEW_PASSWORD)
    assert signed_in_username(client) == "carol"


def test_a_weak_password_is_refused_with_a_reason(client):
    response = client.post(
        SIGNUP, {"username": "carol", "password1": "12345", "password2": "12345"}
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "This password is too short" in html
    assert "This password is too common" in html
    assert not get_user_model().objects.filter(username="carol").exists()
    assert signed_in_username(client) is None


def test_passwords_that_differ_are_refused(client):
    response = client.post(
        SIGNUP, {"username": "carol", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD + "x"}
    )

    assert response.status_code == 200
    assert "password fields didn’t match" in response.content.decode()
    assert not get_user_model().objects.filter(username="carol").exists()


def test_a_taken_username_is_refused(client, alice):
    response = client.post(
        SIGNUP, {"username": "alice", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )

    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert get_user_model().objects.filter(username="alice").count() == 1


def test_a_signed_in_user_visiting_signup_goes_home(client, alice):
    client.force_login(alice)

    response = client.get(SIGNUP)

    assert response.status_code == 302
    assert response["Location"] == HOME


def test_logging_in_goes_home(client, alice):
    response = client.post(LOGIN, {"username": "alice", "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == HOME
    assert signed_in_username(client) == "alice"


def test_logging_in_returns_to_the_page_asked_for(client, alice):
    response = client.get("/c/00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 302
    login_url = response["Location"]

    response = client.post(login_url, {"username": "alice", "password": PASSWORD})

    assert response["Location"] == "/c/00000000-0000-0000-0000-000000000000/"


def test_a_wrong_password_does_not_log_in(client, alice):
    response = client.post(LOGIN, {"username": "alice", "password": "wrong-password"})

    assert response.status_code == 200
    assert "enter a correct username and password" in response.content.decode()
    assert signed_in_username(client) is None


def test_logging_out_needs_a_post_and_ends_the_session(client, alice):
    client.force_login(alice)

    assert client.get(LOGOUT).status_code == 405
    assert signed_in_username(client) == "alice"

    response = client.post(LOGOUT)

    assert response.status_code == 302
    assert response["Location"] == LOGIN
    assert signed_in_username(client) is None


def test_changing_the_password(client, alice):
    client.force_login(alice)

    response = client.post(
        PASSWORD_CHANGE,
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == reverse("password_change_done")
    assert response.status_code == 200
    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)
    # The session survives the change.
    assert signed_in_username(client) == "alice"
    # django-axes needs the request that logs in (it counts failures per address).
    assert Client().login(request=HttpRequest(), username="alice", password=NEW_PASSWORD)
    assert not Client().login(request=HttpRequest(), username="alice", password=PASSWORD)


def test_changing_the_password_needs_the_old_one(client, alice):
    client.force_login(alice)

    response = client.post(
        PASSWORD_CHANGE,
        {"old_password": "not-it", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 200
    assert "old password was entered incorrectly" in response.content.decode()
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_changing_to_a_weak_password_is_refused(client, alice):
    client.force_login(alice)

    response = client.post(
        PASSWORD_CHANGE,
        {"old_password": PASSWORD, "new_password1": "password", "new_password2": "password"},
    )

    assert response.status_code == 200
    assert "This password is too common" in response.content.decode()
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_the_password_page_needs_a_login(client):
    response = client.get(PASSWORD_CHANGE)

    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)
