"""Bad input a careless client or an attacker sends: every value a clear 4xx naming it, bounded
before it is expanded, checked before any store sees it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from kifu.accounts import passwords
from kifu.config import Settings
from kifu.kit.csvout import attachment, safe_cell
from kifu.kit.errors import InvalidInput
from kifu.kit.money import parse_decimal
from kifu.kit.pagination import MAX_PAGE, parse_offset, parse_positive_int
from kifu.kit.timeutil import find_zone
from kifu.ledger.rules import RuleError, parse_number, split_amount
from tests.helpers import ApiUser

API = "/api/v1"


@pytest.mark.parametrize(
    "text", ["1e1000000000", "-1E+999999", "1e-999999999", "9" * 5000, "0." + "0" * 60 + "1"]
)
def test_numbers_are_bounded_before_they_are_expanded(text: str) -> None:
    with pytest.raises(InvalidInput) as e:
        parse_decimal(text, "price")
    assert e.value.detail.startswith("price: ")
    with pytest.raises(RuleError):
        parse_number(text)
    with pytest.raises(RuleError):
        split_amount(text)


def test_ordinary_numbers_still_parse() -> None:
    assert str(parse_decimal("42000.5", "p")) == "42000.5"
    assert str(parse_decimal("1.50E+3", "p")) == "1.50E+3"
    assert parse_decimal("0E+1000000000", "p") == 0
    assert str(parse_decimal("1." + "0" * 60, "p")).startswith("1.0")  # trailing zeros are fine
    assert parse_number("1,234.5") is not None


@pytest.mark.parametrize("raw", ["²", "٣", "1e3", "-1", "0", "9" * 5000, str(2**63), " "])
def test_page_and_limit_take_ascii_digits_only(raw: str) -> None:
    with pytest.raises(InvalidInput):
        parse_positive_int(raw, "page", 1, at_most=MAX_PAGE)


def test_page_is_bounded_and_offset_too() -> None:
    assert parse_positive_int(str(MAX_PAGE), "page", 1, at_most=MAX_PAGE) == MAX_PAGE
    with pytest.raises(InvalidInput):
        parse_positive_int(str(MAX_PAGE + 1), "page", 1, at_most=MAX_PAGE)
    assert parse_offset("0") == 0 and parse_offset(None) == 0
    for raw in ("²", "-1", str(2**63)):
        with pytest.raises(InvalidInput):
            parse_offset(raw)


@pytest.mark.parametrize(
    "name",
    ["x" * 10_000, "9" * 5000, "../../etc/passwd", "/etc/localtime", "UTC\x00", "Asia/Seoul\n", ""],
)
def test_any_text_that_is_not_a_zone_is_refused_without_error(name: str) -> None:
    assert find_zone(name) is None


def test_zones_are_found() -> None:
    assert find_zone("Asia/Seoul") is not None and find_zone("Etc/GMT+9") is not None


def test_spreadsheet_formulas_are_neutralised_and_numbers_kept() -> None:
    assert safe_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    for bad in ("+1+1", "-1+cmd", "@SUM(A1)", "\tx", "\rx"):
        assert safe_cell(bad) == "'" + bad
    assert safe_cell("-12.5") == "-12.5" and safe_cell("-3%") == "-3%" and safe_cell(5) == 5
    assert attachment('a"b\r\n.csv') == {
        "Content-Disposition": "attachment; filename=a_b__.csv; filename*=UTF-8''a_b__.csv"
    }


def test_download_names_are_bare_as_the_reference_sent_them() -> None:
    # The KIFU client keeps quotes in the saved file's name, so the filename is a bare token,
    # with the RFC 5987 form beside it.
    assert attachment("kifu_bubbles_2026-01-02.csv") == {
        "Content-Disposition": "attachment; filename=kifu_bubbles_2026-01-02.csv;"
        " filename*=UTF-8''kifu_bubbles_2026-01-02.csv"
    }
    assert attachment("") == {
        "Content-Disposition": "attachment; filename=download; filename*=UTF-8''download"
    }


# -- through the API ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "page=%C2%B2",
        "page=" + "9" * 5000,
        f"page={2**63}",
        "limit=%C2%B2",
        f"limit={2**63}",
    ],
)
def test_list_paging_answers_400_naming_the_parameter(
    client: TestClient, user: ApiUser, query: str
) -> None:
    r = client.get(f"{API}/bubbles?{query}", headers=user.headers)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "INVALID_REQUEST"
    assert r.json()["message"].split(":")[0] in ("page", "limit")


@pytest.mark.parametrize("tz", ["x" * 10_000, "9" * 5000, "../../etc/passwd", "Mars/Base"])
def test_bad_timezones_are_invalid_timezone(client: TestClient, user: ApiUser, tz: str) -> None:
    for path in ("/review/calendar", "/guided-reviews/today", "/review/stats"):
        r = client.get(f"{API}{path}", params={"timezone": tz}, headers=user.headers)
        assert (r.status_code, r.json()["code"]) == (400, "INVALID_TIMEZONE"), (path, r.text)
    r = client.get(f"{API}/packs/latest", params={"tz": tz}, headers=user.headers)
    assert (r.status_code, r.json()["code"]) == (400, "INVALID_TIMEZONE")


def test_nul_characters_are_400_naming_the_field(client: TestClient, user: ApiUser) -> None:
    body = {
        "symbol": "BTCUSDT",
        "timeframe": "1h",
        "candle_time": "2026-01-02T03:00:00Z",
        "price": "1",
        "memo": "a\x00b",
    }
    r = client.post(f"{API}/bubbles", json=body, headers=user.headers)
    assert r.status_code == 400
    assert r.json() == {
        "code": "INVALID_REQUEST",
        "message": "memo: must not contain NUL characters",
    }
    r = client.get(f"{API}/trades", params={"symbol": "BTC\x00"}, headers=user.headers)
    assert (r.status_code, r.json()["message"].split(":")[0]) == (400, "symbol")
    nested = {"name": "n", "symbol": "BTCUSDT", "rule_type": "price_level", "config": {"k\x00": 1}}
    r = client.post(f"{API}/alert-rules", json=nested, headers=user.headers)
    assert r.status_code == 400 and r.json()["message"].startswith("config.k")


def test_json_bodies_have_their_own_small_limit(client: TestClient, user: ApiUser) -> None:
    note = {"title": "t", "content": "x" * (2 * 1024 * 1024)}
    r = client.post(f"{API}/notes", json=note, headers=user.headers)
    assert (r.status_code, r.json()["code"]) == (413, "PAYLOAD_TOO_LARGE")


def test_free_text_has_a_length_cap(client: TestClient, user: ApiUser) -> None:
    r = client.post(
        f"{API}/notes", json={"title": "t", "content": "x" * 20_001}, headers=user.headers
    )
    assert r.status_code == 400 and r.json()["message"].startswith("content:")
    bubble = {
        "symbol": "BTCUSDT",
        "timeframe": "1h",
        "candle_time": "2026-01-02T03:00:00Z",
        "price": "1",
        "memo": "m" * 5001,
    }
    r = client.post(f"{API}/bubbles", json=bubble, headers=user.headers)
    assert r.status_code == 400 and r.json()["message"].startswith("memo:")


def test_patterns_match_the_whole_string(client: TestClient, user: ApiUser) -> None:
    r = client.put(
        f"{API}/users/me/symbols",
        json={"symbols": [{"symbol": "BTC\nUSDT", "timeframe_default": "1h"}]},
        headers=user.headers,
    )
    assert r.status_code == 400


# -- accounts ----------------------------------------------------------------------------------


def test_login_does_one_verification_whether_or_not_the_email_exists(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = passwords.verify_password

    def counting(stored: str, password: str) -> passwords.Verification:
        calls.append(stored[:7])
        return real(stored, password)

    monkeypatch.setattr(passwords, "verify_password", counting)
    client.post(
        f"{API}/auth/register",
        json={"email": "known@example.com", "password": "s3cret-pass", "name": "n"},
    )
    calls.clear()
    wrong = client.post(f"{API}/auth/login", json={"email": "known@example.com", "password": "x"})
    assert wrong.status_code == 401
    known = len(calls)
    calls.clear()
    unknown = client.post(
        f"{API}/auth/login", json={"email": "nobody@example.com", "password": "x"}
    )
    assert unknown.status_code == 401
    assert known == len(calls) == 1


def test_registration_is_rate_limited_per_address(settings: Settings, db: str) -> None:
    from kifu.app import create_app

    tight = settings.model_copy(update={"login_max_per_address": 3, "login_window_seconds": 3600})
    with TestClient(create_app(tight, db), raise_server_exceptions=False) as c:
        codes = [
            c.post(
                f"{API}/auth/register",
                json={"email": f"r{i}@example.com", "password": "s3cret-pass", "name": "n"},
            ).status_code
            for i in range(5)
        ]
    assert all(code < 300 for code in codes[:3])
    assert codes[4] == 429


def test_group_roots_with_a_trailing_slash_are_served(client: TestClient, user: ApiUser) -> None:
    for path in ("/trades/", "/bubbles/", "/notes/"):
        r = client.get(f"{API}{path}", headers=user.headers, follow_redirects=False)
        assert r.status_code == 200, (path, r.status_code)


def test_every_get_route_answers_the_same_with_a_trailing_slash(
    client: TestClient, user: ApiUser
) -> None:
    # Every GET route the app documents, not a hand list: the answer with a trailing slash is
    # the answer without one (never a 307 the client would have to follow).
    doc = client.get("/openapi.json").json()
    paths = sorted(p for p, ops in doc["paths"].items() if "get" in ops and "{" not in p)
    assert len(paths) > 30
    for path in paths:
        plain = client.get(path, headers=user.headers, follow_redirects=False)
        slash = client.get(f"{path}/", headers=user.headers, follow_redirects=False)
        assert slash.status_code == plain.status_code, (path, slash.status_code)
        if plain.headers.get("content-type", "").startswith("application/json"):
            a, b = plain.json(), slash.json()
            assert (sorted(a) if isinstance(a, dict) else type(a)) == (
                sorted(b) if isinstance(b, dict) else type(b)
            ), path
    r = client.post(
        f"{API}/bubbles/",
        headers=user.headers,
        json={
            "symbol": "BTCUSDT",
            "timeframe": "1h",
            "candle_time": "2026-01-01T00:00:00Z",
            "price": "1",
        },
        follow_redirects=False,
    )
    assert r.status_code in (200, 201), r.text
    r = client.options(
        f"{API}/trades/",
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET"},
    )
    assert r.status_code == 200
