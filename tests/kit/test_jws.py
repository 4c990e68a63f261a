"""``kifu.kit.jws``: RFC 7515's example, agreement with an independent implementation (PyJWT, a
test dependency only), and every way a token can be refused."""

from __future__ import annotations

import base64
import json

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kifu.kit import jws

SECRET = "s" * 64
NOW = 1_700_000_000  # in the past: PyJWT refuses an iat after its own clock
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _token(header: object, claims: object, secret: str = SECRET, alg: str = "HS256") -> str:
    """A token of any header and claims, signed with ``secret`` (PyJWT would refuse some)."""
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(claims).encode())
    mac = jws._mac(secret, f"{head}.{body}", alg)
    return f"{head}.{body}.{_b64(mac)}"


def test_rfc7515_example_a1() -> None:
    """Appendix A.1: the HS256 example, its key given as a JWK ``k``."""
    token = (
        "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
        ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
        ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    )
    k = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
    key = base64.urlsafe_b64decode(k + "==")
    claims = jws.verify(token, key, "HS256", now=1300819379)
    assert claims == {"iss": "joe", "exp": 1300819380, "http://example.com/is_root": True}
    with pytest.raises(jws.ExpiredToken):
        jws.verify(token, key, "HS256", now=1300819380)  # exp is the first instant it is not
    with pytest.raises(jws.InvalidToken, match="signature"):
        jws.verify(token, key[:-1], "HS256", now=1300819379)


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_tokens_agree_with_pyjwt_both_ways(alg: str) -> None:
    claims = {"sub": "9b2d", "exp": NOW + 60, "iat": NOW, "nonce": "ü", "n": [1, 2.5, None]}
    ours = jws.sign(claims, SECRET, alg)
    assert jwt.decode(ours, SECRET, algorithms=[alg], options={"verify_exp": False}) == claims
    theirs = jwt.encode(claims, SECRET, algorithm=alg)
    assert jws.verify(theirs, SECRET, alg, now=NOW) == claims
    assert jws.verify(ours, SECRET, alg, require=("sub", "exp"), now=NOW) == claims


def test_a_token_cannot_choose_its_algorithm() -> None:
    claims = {"sub": "u", "exp": NOW + 60}
    with pytest.raises(jws.InvalidToken, match="algorithm"):
        jws.verify(jws.sign(claims, SECRET, "HS512"), SECRET, "HS256", now=NOW)
    unsigned = _b64(b'{"alg":"none","typ":"JWT"}') + "." + _b64(json.dumps(claims).encode())
    for token in (unsigned + ".", unsigned + "." + _b64(b"x")):
        with pytest.raises(jws.InvalidToken):
            jws.verify(token, SECRET, "HS256", now=NOW)
    with pytest.raises(jws.InvalidToken, match="header"):
        jws.verify(_token({"alg": "HS256", "crit": ["exp"]}, claims), SECRET, "HS256", now=NOW)
    with pytest.raises(ValueError, match="HMAC"):
        jws.verify(unsigned + ".", SECRET, "none")
    with pytest.raises(ValueError, match="HMAC"):
        jws.sign(claims, SECRET, "RS256")


def test_a_changed_payload_or_secret_is_refused() -> None:
    token = jws.sign({"sub": "u", "exp": NOW + 60}, SECRET)
    head, _, mac = token.split(".")
    forged = f"{head}.{_b64(json.dumps({'sub': 'admin', 'exp': NOW + 60}).encode())}.{mac}"
    for bad, secret in ((forged, SECRET), (token, SECRET + "x"), (token, "")):
        with pytest.raises(jws.InvalidToken, match="signature"):
            jws.verify(bad, secret, "HS256", now=NOW)


@pytest.mark.parametrize(
    ("claims", "require", "message"),
    [
        ({"exp": NOW + 60}, ("sub", "exp"), "sub is missing"),
        ({"sub": "u"}, ("sub", "exp"), "exp is missing"),
        ({"sub": "u", "exp": "2030"}, ("sub",), "exp is not a number"),
        ({"sub": "u", "exp": True}, ("sub",), "exp is not a number"),
        ({"sub": "u", "exp": float("inf")}, ("sub",), "exp is not a number"),
        ({"sub": "u", "exp": NOW + 60, "iat": "now"}, ("sub",), "iat is not a number"),
        ({"sub": "u", "exp": NOW + 60, "nbf": NOW + 1}, ("sub",), "not valid yet"),
    ],
)
def test_claims_that_cannot_be_used(claims: dict, require: tuple, message: str) -> None:
    token = _token({"alg": "HS256", "typ": "JWT"}, claims)
    with pytest.raises(jws.InvalidToken, match=message):
        jws.verify(token, SECRET, "HS256", require=require, now=NOW)


def test_times_at_their_edges() -> None:
    token = jws.sign({"exp": NOW + 1, "nbf": NOW}, SECRET)
    assert jws.verify(token, SECRET, "HS256", now=NOW) == {"exp": NOW + 1, "nbf": NOW}
    with pytest.raises(jws.ExpiredToken):
        jws.verify(token, SECRET, "HS256", now=NOW + 1)
    with pytest.raises(jws.InvalidToken, match="not valid yet"):
        jws.verify(token, SECRET, "HS256", now=NOW - 0.5)


def _parts(token: str) -> list[str]:
    return token.split(".")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t + ".",
        lambda t: ".".join(_parts(t)[:2]),
        lambda t: t + "=",  # padding is not base64url in a JWS
        lambda t: t.replace(".", ". ", 1),
        lambda t: "é" + t,
        lambda t: t[:-1] if len(_parts(t)[2]) % 4 != 1 else t[:-2],
        lambda t: "x" + t,  # a header of five base64 characters cannot be decoded
        lambda t: _b64(b"[1]") + t[t.index(".") :],  # a header that is not an object
        lambda t: _b64(b"\xff\xfe") + t[t.index(".") :],  # nor UTF-8
        lambda t: "",
    ],
)
def test_malformed_tokens(mangle) -> None:  # type: ignore[no-untyped-def]
    token = jws.sign({"sub": "u", "exp": NOW + 60}, SECRET)
    with pytest.raises(jws.InvalidToken):
        jws.verify(mangle(token), SECRET, "HS256", now=NOW)


def test_a_signed_payload_that_is_not_an_object() -> None:
    for claims in ([1, 2], "sub", 7, None):
        with pytest.raises(jws.InvalidToken, match="malformed"):
            jws.verify(_token({"alg": "HS256"}, claims), SECRET, "HS256", now=NOW)


@given(st.text(max_size=300))
def test_any_text_is_a_token_or_invalid(text: str) -> None:
    with pytest.raises(jws.InvalidToken):
        jws.verify(text, SECRET, "HS256", now=NOW)


@given(
    st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.", max_size=200
    )
)
def test_any_base64url_text_is_invalid_not_an_error(text: str) -> None:
    with pytest.raises(jws.InvalidToken):
        jws.verify(text, SECRET, "HS256", now=NOW)
