"""``kifu import`` end to end: same report as the API, nothing new the second time."""

import json
import os
import subprocess
import sys

from tests.ingest.conftest import FILES


def kifu(*args, db):
    return subprocess.run(
        [sys.executable, "-m", "kifu", *args],
        env={**os.environ, "DATABASE_URL": db},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_kifu_import_prints_the_report(db, user, sql):
    path = str(FILES / "binance_futures.csv")
    first = kifu("import", path, "--user", user.email.upper(), "--json", db=db)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["imported"] == 5 and report["format"] == "binance_futures"
    second = kifu("import", path, "--user", user.email, db=db)
    assert second.returncode == 0, second.stderr
    assert "duplicates" in second.stdout and "imported" in second.stdout
    assert sql("SELECT count(*) FROM trade_events")[0][0] == 5
    assert sql("SELECT count(*) FROM runs WHERE status = 'completed'")[0][0] == 2


def test_kifu_import_refuses_an_email_two_users_share(db, user, sql):
    """Emails that differ only in letter case (older data): the import names the conflict and
    writes nothing, instead of picking one of the two."""
    sql(
        "INSERT INTO users (email, password_hash, name) VALUES (%s, '!', 'twin')",
        user.email.upper(),
    )
    r = kifu("import", str(FILES / "binance_futures.csv"), "--user", user.email, db=db)
    assert r.returncode == 1 and "AMBIGUOUS_EMAIL" in r.stderr, r.stderr
    assert sql("SELECT count(*) FROM trade_events")[0][0] == 0
    by_id = kifu("import", str(FILES / "binance_futures.csv"), "--user", str(user.id), db=db)
    assert by_id.returncode == 0, by_id.stderr
    assert sql("SELECT DISTINCT user_id FROM trade_events") == [(user.id,)]


def test_kifu_import_errors_are_one_line(db, user):
    r = kifu("import", str(FILES / "binance_futures.csv"), "--user", "nobody@x.io", db=db)
    assert r.returncode == 1 and "USER_NOT_FOUND: no user 'nobody@x.io'" in r.stderr
    bad = FILES.parent / "files" / "upbit.csv"
    r = kifu("import", str(bad), "--user", user.email, "--venue", "binance", db=db)
    assert r.returncode == 1 and "VENUE_MISMATCH" in r.stderr
