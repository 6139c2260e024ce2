"""The sign-in and sign-up pages after a failed try: errors in words, per field, all at once,
and what was typed kept (the password too)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def taken(db):
    return get_user_model().objects.create_user("taken", password="Secret-pass-123")


def test_register_names_every_bad_field_at_once_in_words_and_keeps_the_password(taken):
    res = Client().post("/register/", {"username": "taken", "password": "123"})
    html = res.content.decode()
    assert res.status_code == 200
    assert 'id="username-error"' in html and "already exists" in html
    assert 'id="password-error"' in html and "too short" in html
    assert "username:" not in html and "password:" not in html  # no raw field names
    assert 'value="123"' in html and 'value="taken"' in html
    assert (
        "no-cache" in res.headers["Cache-Control"]
        or "no-store" in res.headers["Cache-Control"]
    )


def test_register_says_which_blank_field_to_fill():
    html = (
        Client().post("/register/", {"username": "", "password": ""}).content.decode()
    )
    assert "Choose a username." in html and "Choose a password." in html
    assert "may not be blank" not in html


def test_register_with_good_fields_signs_in():
    res = Client().post(
        "/register/", {"username": "newbie", "password": "Very-long-pass-42"}
    )
    assert res.status_code == 302


def test_login_keeps_the_password_after_a_wrong_try(taken):
    res = Client().post(
        "/login/", {"username": "tacken", "password": "Secret-pass-123"}
    )
    html = res.content.decode()
    assert "Wrong username or password." in html
    assert 'value="Secret-pass-123"' in html and 'value="tacken"' in html


def test_login_names_the_blank_field():
    html = (
        Client()
        .post("/login/", {"username": "someone", "password": ""})
        .content.decode()
    )
    assert "Enter your password." in html
    assert 'aria-invalid="true" aria-describedby="password-error"' in html
