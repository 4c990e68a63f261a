"""Personal AI keys: masked listing, upsert, delete, encryption at rest, rotation, no leaks."""

from __future__ import annotations

import logging

import psycopg
import pytest
from fastapi.testclient import TestClient

from kifu.exchanges.cli import rotate
from kifu.kit import crypto
from tests.helpers import TEST_ENC_KEY, ApiUser

URL = "/api/v1/users/me/ai-keys"


def test_keys_round_trip(client: TestClient, user: ApiUser, db: str) -> None:
    empty = client.get(URL, headers=user.headers)
    assert empty.status_code == 200
    assert empty.json() == {
        "keys": [
            {"provider": "openai", "masked": None},
            {"provider": "claude", "masked": None},
            {"provider": "gemini", "masked": None},
        ]
    }
    r = client.put(
        URL,
        json={"keys": [{"provider": "OpenAI", "api_key": " sk-personal-abcd9876 "}]},
        headers=user.headers,
    )
    assert r.status_code == 200
    assert r.json()["keys"][0] == {"provider": "openai", "masked": "****9876"}
    assert "sk-personal" not in r.text
    with psycopg.connect(db) as conn:
        enc, last4 = conn.execute("SELECT api_key_enc, api_key_last4 FROM user_ai_keys").fetchone()
    assert last4 == "9876" and enc.startswith("v1:") and "sk-personal" not in enc
    assert crypto.decrypt(crypto.load_key(TEST_ENC_KEY), enc) == "sk-personal-abcd9876"
    # Upsert replaces.
    client.put(
        URL, json={"keys": [{"provider": "openai", "api_key": "sk-new-0000"}]}, headers=user.headers
    )
    assert client.get(URL, headers=user.headers).json()["keys"][0]["masked"] == "****0000"
    assert client.delete(f"{URL}/openai", headers=user.headers).json() == {"deleted": True}
    gone = client.delete(f"{URL}/openai", headers=user.headers)
    assert gone.status_code == 404 and gone.json()["code"] == "AI_KEY_NOT_FOUND"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"keys": []},
        {"keys": [{"provider": "mistral", "api_key": "x1234"}]},
        {"keys": [{"provider": "openai"}]},
        {"keys": [{"provider": "openai", "api_key": "   "}]},
        {"keys": [{"provider": "openai", "api_key": 1234}]},
        {
            "keys": [
                {"provider": "claude", "api_key": "ok-key-1"},
                {"provider": "x", "api_key": "k"},
            ]
        },
    ],
)
def test_bad_key_requests_change_nothing(
    client: TestClient, user: ApiUser, db: str, body: dict
) -> None:
    r = client.put(URL, json=body, headers=user.headers)
    assert r.status_code == 400 and r.json()["code"] == "INVALID_REQUEST"
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM user_ai_keys").fetchone() == (0,)


def test_delete_unknown_provider_and_other_users(
    client: TestClient, make_user, user: ApiUser
) -> None:
    assert client.delete(f"{URL}/mistral", headers=user.headers).status_code == 400
    other = make_user()
    client.put(
        URL,
        json={"keys": [{"provider": "gemini", "api_key": "gm-other-5555"}]},
        headers=other.headers,
    )
    assert client.get(URL, headers=user.headers).json()["keys"][2]["masked"] is None
    assert client.delete(f"{URL}/gemini", headers=user.headers).status_code == 404
    assert client.get(URL).status_code == 401


def test_rotation_re_encrypts_ai_keys(client: TestClient, user: ApiUser, db: str) -> None:
    client.put(
        URL,
        json={"keys": [{"provider": "claude", "api_key": "sk-ant-rotate-4242"}]},
        headers=user.headers,
    )
    new = crypto.new_key()
    counts = rotate(db, TEST_ENC_KEY, new)
    assert counts["user_ai_keys"] == 1
    with psycopg.connect(db) as conn:
        (enc,) = conn.execute("SELECT api_key_enc FROM user_ai_keys").fetchone()
    assert crypto.decrypt(crypto.load_key(new), enc) == "sk-ant-rotate-4242"


def test_keys_never_logged(
    client: TestClient, user: ApiUser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client.put(
        URL,
        json={"keys": [{"provider": "openai", "api_key": "sk-secret-never-logged"}]},
        headers=user.headers,
    )
    assert "sk-secret-never-logged" not in caplog.text
