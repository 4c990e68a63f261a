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


def test_kifu_import_errors_are_one_line(db, user):
    r = kifu("import", str(FILES / "binance_futures.csv"), "--user", "nobody@x.io", db=db)
    assert r.returncode == 1 and "no user with email" in r.stderr
    bad = FILES.parent / "files" / "upbit.csv"
    r = kifu("import", str(bad), "--user", user.email, "--venue", "binance", db=db)
    assert r.returncode == 1 and "VENUE_MISMATCH" in r.stderr
