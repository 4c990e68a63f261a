"""`kifu pack generate` against a real database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from typer.testing import CliRunner

from kifu.config import get_settings
from kifu.packs import cli as packs_cli
from tests.helpers import TEST_ENC_KEY, TEST_JWT_SECRET
from tests.packs.ledger_rows import ANCHOR, Ledger


@pytest.fixture
def kifu(db: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DATABASE_URL", db)
    monkeypatch.setenv("JWT_SECRET", TEST_JWT_SECRET)
    monkeypatch.setenv("KIFU_ENC_KEY", TEST_ENC_KEY)
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    yield lambda *args: CliRunner().invoke(packs_cli.app, list(args))
    get_settings.cache_clear()


def test_pack_generate_prints_tables(kifu, db, user) -> None:
    ledger = Ledger(db, user.id)
    run = ledger.run()
    t = ANCHOR - timedelta(hours=3)
    ledger.fill("upbit", "BTC/KRW", "buy", "1", "1000", t, fee="1", fee_asset="KRW")
    ledger.fill("upbit", "BTC/KRW", "sell", "1", "1500", t + timedelta(hours=1), fee_asset="KRW")
    r = kifu("generate", "--user", user.email.upper(), "--range", "30d", "--tz", "Asia/Seoul")
    assert r.exit_code == 0, r.output
    assert "summary pack" in r.output and "OK" in r.output and "Asia/Seoul" in r.output
    assert "KRW" in r.output and "500" in r.output
    again = kifu(
        "generate", "--user", user.email, "--range", "30d", "--tz", "Asia/Seoul", "--run", str(run)
    )
    assert again.exit_code == 0 and "existing, unchanged" in again.output
    bad = kifu("generate", "--user", "nobody@example.com")
    assert bad.exit_code == 1 and "no user" in bad.output
    bad = kifu("generate", "--user", user.email, "--range", "1y")
    assert bad.exit_code == 1 and "7d, 30d, all" in bad.output
