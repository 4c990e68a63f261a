"""API read benchmark: every endpoint a screen calls, under load, against the app's floor.

    apt-get install -y wrk          # the load generator (Debian/Ubuntu package `wrk`)
    .venv/bin/python bench/api.py [--duration 5] [--connections 32] [--processes 1,2]
                                  [--only accuracy,guided]   # the floor and those reads only

Starts a throw-away embedded PostgreSQL, seeds one user with 10,000 futures trades through the
unified importer (a year of fills over ten symbols, and 30 made today for the day's guided
review and safety check), 10,000 funding events (20,000 ledger events in all), 2,000 bubbles
with their 1h/4h/1d outcomes, two providers' opinions on each scored by the real accuracy job
(12,000 scores), 2,000 notes, alert rules and alerts, a streak, then runs ``kifu serve --workers N``
(for each N of ``--processes``) with ``KIFU_FLOOR_ROUTE`` on and loads each read endpoint with
``wrk`` (32 connections, outside the Python process), after a second of the same load as a
warm-up (each connection of the pool prepares the endpoint's statements, psycopg on their fifth
run: the steady state is timed). Per endpoint it prints req/s, p50 and p99
and the ratio of its req/s to the **floor**: ``GET /api/v1/_floor``, an authenticated route of the
same app that answers a constant, measured in the same run, first and again last: the ratios are
against the higher of the two (a shared machine drifts; the table is printed once both are
known, each endpoint's line on stderr as it is measured). Most reads are kept answers
(``kifu.kit.answers``): each is loaded as a screen asks it (served kept), and again as
"computed", asked with ``Cache-Control: no-cache``: what a request costs right after the user's
data changed. Requests of one user that arrive together share their change-stamp probe
(``kifu.kit.probes``), which a single user's 32 connections favour; so four kept reads are also
asked by 32 users (31 more with 1,000 trades each), a user per connection ("…, 32 users").
Also the steady resident memory of each API process after the load, and the
machine's load average (the numbers are only comparable as ratios on a shared machine).

Targets (issue 17): every endpoint ≥ 0.5× the floor's req/s, p99 ≤ 25 ms where the floor's own
p99 allows it, ≤ 100 MB per API process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import httpx
import psycopg

from _common import fresh_database, server
from kifu.ai.scoring import score_opinions
from kifu.db import runner
from kifu.ingest import service
from kifu.kit.auth import issue_access_token

JWT_SECRET = "bench-jwt-secret-0123456789-0123456789-0123456789"
ENC_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
PAIRS = [
    ("BTCUSDT", 42000),
    ("ETHUSDT", 2500),
    ("SOLUSDT", 100),
    ("BNBUSDT", 300),
    ("XRPUSDT", Decimal("0.6")),
    ("DOGEUSDT", Decimal("0.08")),
    ("ADAUSDT", Decimal("0.5")),
    ("AVAXUSDT", 35),
    ("LINKUSDT", 15),
    ("DOTUSDT", 7),
]
NOW = datetime.now(UTC).replace(microsecond=0)
START = NOW - timedelta(days=365)


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """A Binance USDⓈ-M futures export of ``rows`` fills over the last year, newest first."""
    rnd = random.Random(seed)
    times = sorted(START + timedelta(seconds=rnd.randrange(365 * 86400)) for _ in range(rows))
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("Date(UTC),Pair,Side,Price,Quantity,Amount,Fee,Realized Profit\n")
        for i, at in enumerate(reversed(times)):
            pair, base = PAIRS[i % len(PAIRS)]
            price = (Decimal(base) * Decimal(rnd.randint(9000, 11000)) / 10000).quantize(
                Decimal("0.0001")
            )
            qty = Decimal(rnd.randint(1, 5000)) / 1000
            amount = (price * qty).quantize(Decimal("0.0001"))
            fee = (amount * Decimal("0.0004")).quantize(Decimal("0.00000001"))
            pnl = Decimal(rnd.randint(-5000, 5000)) / 100 if rnd.random() < 0.5 else 0
            side = "BUY" if rnd.random() < 0.5 else "SELL"
            fh.write(
                f"{at:%Y-%m-%d %H:%M:%S},{pair},{side},{price:f},{qty:f},{amount:f} USDT,"
                f"{fee:f} USDT,{pnl} USDT\n"
            )


async def _import(conninfo: str, user_id: uuid.UUID, path: Path) -> dict:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        with path.open("rb") as fh:
            return await service.import_unified(
                conn, user_id, fh, service.UnifiedRequest(venue=None)
            )


def _today_fills(path: Path, rows: int) -> Path:
    """A Binance futures export of ``rows`` fills made today (UTC) before ``NOW``: the guided
    review and the safety check of the day read them."""
    midnight = NOW.replace(hour=0, minute=0, second=0)
    step = (NOW - midnight) / (rows + 1)
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("Date(UTC),Pair,Side,Price,Quantity,Amount,Fee,Realized Profit\n")
        for i in range(rows):
            at = midnight + step * (i + 1)
            pair, base = PAIRS[i % 3]
            side = "BUY" if i % 2 == 0 else "SELL"
            pnl = 0 if side == "BUY" else Decimal(i) - 10
            fh.write(
                f"{at:%Y-%m-%d %H:%M:%S},{pair},{side},{base},0.01,{Decimal(base) / 100} USDT,"
                f"0.01 USDT,{pnl} USDT\n"
            )
    return path


async def _score(conninfo: str) -> int:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        written = 0
        while True:
            n = (await score_opinions(conn, batch=2_000)).written
            if n == 0:
                return written
            written += n


def _user(conninfo: str) -> uuid.UUID:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        user_id = conn.execute(
            "INSERT INTO users (email, password_hash, name) VALUES (%s, '!', 'bench') RETURNING id",
            (f"bench-{uuid.uuid4().hex[:8]}@example.com",),
        ).fetchone()[0]  # type: ignore[index]
        conn.execute(
            "INSERT INTO subscriptions (user_id, tier, ai_quota_remaining, ai_quota_limit)"
            " VALUES (%s, 'free', 20, 20)",
            (user_id,),
        )
    return user_id


def seed_others(conninfo: str, workdir: Path, users: int, trades: int) -> list[uuid.UUID]:
    """``users`` more users with ``trades`` fills each (the "… N users" reads)."""
    out = []
    for i in range(users):
        user_id = _user(conninfo)
        path = workdir / f"other-{i}.csv"
        generate(path, trades, seed=100 + i)
        report = asyncio.run(_import(conninfo, user_id, path))
        assert report["imported"] == trades, report
        out.append(user_id)
    print(f"seeded {users} more users with {trades:,} trades each")
    return out


def seed(conninfo: str, workdir: Path, trades: int) -> uuid.UUID:
    user_id = _user(conninfo)
    path = workdir / "futures.csv"
    generate(path, trades)
    t = time.perf_counter()
    report = asyncio.run(_import(conninfo, user_id, path))
    assert report["imported"] == trades, report
    print(f"seeded {trades:,} trades through the importer in {time.perf_counter() - t:.1f} s")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        # as many funding events (income) as fills: 2 × trades ledger events in all
        conn.execute(
            "INSERT INTO trade_events (user_id, account_id, venue_id, instrument_id, asset_class,"
            " venue_type, event_type, fee, fee_asset, executed_at, source, external_id, metadata,"
            " dedupe_key)"
            " SELECT user_id, account_id, venue_id, instrument_id, asset_class, venue_type, 'fee',"
            " 0.01, 'USDT', executed_at + interval '1 second', 'api', 'fund-' || row_number()"
            " OVER (), jsonb_build_object('income_type', 'FUNDING_FEE', 'income', '-0.01',"
            " 'asset', 'USDT'), md5(id::text || 'funding')"
            " FROM trade_events WHERE user_id = %s",
            (user_id,),
        )
        rnd = random.Random(3)
        bubbles = [
            (
                user_id,
                PAIRS[i % len(PAIRS)][0],
                "1h",
                START + timedelta(hours=rnd.randrange(365 * 24)),
                "100",
                f"memo {i}",
                ["bench", f"t{i % 7}"],
            )
            for i in range(2000)
        ]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO bubbles (user_id, symbol, timeframe, candle_time, price, bubble_type,"
                " memo, tags) VALUES (%s, %s, %s, %s, %s, 'manual', %s, %s)",
                bubbles,
            )
        conn.execute(
            "INSERT INTO review_notes (user_id, bubble_id, title, content)"
            " SELECT user_id, id, 'note', 'what I learned from ' || memo FROM bubbles"
            " WHERE user_id = %s",
            (user_id,),
        )
        for i in range(20):
            rule = conn.execute(
                "INSERT INTO alert_rules (user_id, name, symbol, rule_type, config)"
                " VALUES (%s, %s, %s, 'price_level', %s) RETURNING id",
                (
                    user_id,
                    f"rule {i}",
                    PAIRS[i % len(PAIRS)][0],
                    '{"price": "50000", "direction": "above"}',
                ),
            ).fetchone()[0]  # type: ignore[index]
            conn.execute(
                "INSERT INTO alerts (user_id, rule_id, symbol, trigger_price, trigger_reason)"
                " SELECT %s, %s, %s, 50000, 'crossed ' || g FROM generate_series(1, 10) g",
                (user_id, rule, PAIRS[i % len(PAIRS)][0]),
            )
        # each bubble's outcomes, and two providers' opinions scored by the real job
        conn.execute(  # moves of -2 % to +2 %, the same for a bubble and period on every run
            "INSERT INTO outcomes (bubble_id, period, reference_price, outcome_price, pnl_percent)"
            " SELECT id, p, 100, 100 + d, d FROM (SELECT b.id, p,"
            " (abs(hashtext(b.memo || p)) %% 4001 - 2000) / 1000.0 AS d"
            " FROM bubbles b, unnest(ARRAY['1h', '4h', '1d']) p WHERE b.user_id = %s) x",
            (user_id,),
        )
        conn.execute(
            "INSERT INTO ai_opinions (bubble_id, provider, model, prompt_template, response,"
            " created_at, verdict_direction, verdict_probability)"
            " SELECT b.id, v.provider, v.model, 'brief', v.text, b.candle_time + interval '5 min',"
            " v.direction, 0.7 FROM bubbles b, (VALUES ('openai', 'gpt-4o', 'bullish: buy', 'BUY'),"
            " ('claude', 'claude-3', 'bearish: sell', 'SELL')) v(provider, model, text, direction)"
            " WHERE b.user_id = %s",
            (user_id,),
        )
        conn.execute(
            "INSERT INTO user_streaks (user_id, current_streak, longest_streak, last_review_date)"
            " VALUES (%s, 3, 7, %s)",
            (user_id, NOW.date() - timedelta(days=1)),
        )
    scored = asyncio.run(_score(conninfo))
    today = _today_fills(workdir / "today.csv", 30)
    report = asyncio.run(_import(conninfo, user_id, today))
    assert report["imported"] == 30, report
    with psycopg.connect(conninfo, autocommit=True) as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM trades WHERE user_id = %(u)s),"
            " (SELECT count(*) FROM trade_events WHERE user_id = %(u)s),"
            " (SELECT count(*) FROM bubbles WHERE user_id = %(u)s),"
            " (SELECT count(*) FROM review_notes WHERE user_id = %(u)s),"
            " (SELECT count(*) FROM alerts WHERE user_id = %(u)s)",
            {"u": user_id},
        ).fetchone()
        conn.execute("VACUUM ANALYZE")
    print("seeded: trades {}, events {}, bubbles {}, notes {}, alerts {}".format(*counts))
    print(f"seeded 4,000 AI opinions, {scored:,} accuracy scores by the scoring job")
    return user_id


# Asked with this header, a kept read (kit.answers) is computed anew instead of served kept: its
# "computed" line is what a request costs right after the user's data changed.
FRESH = "Cache-Control: no-cache"
COMPUTED = " computed"
# Requests of one user that arrive together share one change-stamp probe (kit.probes), which
# favours a benchmark of a single user: these reads are asked by USERS users instead, each
# connection of a wrk thread taking the next of its own users, so a user has about one request
# in flight and few probes are shared.
USERS = 32
MANY = f", {USERS} users"


def endpoints(only: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(name, path) of each read, a kept one twice: as a screen asks it (served kept) and as
    "… computed", asked with ``FRESH``; with ``only``, the floor and the reads whose names
    contain one of its parts."""
    month = (NOW - timedelta(days=30)).isoformat().replace("+00:00", "Z")
    day = NOW.date()
    reads = [
        ("trades limit=50", "/api/v1/trades?limit=50", True),
        ("trades deep page", "/api/v1/trades?page=150&limit=50", True),
        ("trades/summary", "/api/v1/trades/summary", True),
        (
            "summary ?exchange&symbol",
            "/api/v1/trades/summary?exchange=binance_futures&symbol=BTCUSDT",
            True,
        ),
        ("summary ?from=30d", f"/api/v1/trades/summary?from={month}", True),
        ("portfolio/positions", "/api/v1/portfolio/positions?limit=50", True),
        ("portfolio/timeline", "/api/v1/portfolio/timeline?limit=50", True),
        ("bubbles limit=200", "/api/v1/bubbles?page=1&limit=200&sort=desc", True),
        ("notes", "/api/v1/notes?page=1&limit=100", True),
        ("users/me", "/api/v1/users/me", False),
        ("review/stats 30d", "/api/v1/review/stats?period=30d", True),
        # a month view (the reference's default range), whatever day of the month it is
        (
            "review/calendar 31d",
            f"/api/v1/review/calendar?from={day - timedelta(days=30)}&to={day}",
            True,
        ),
        ("review/trend 30d", "/api/v1/review/trend?period=30d", True),
        ("review/accuracy 30d", "/api/v1/review/accuracy?period=30d&outcome_period=1h", True),
        ("guided-reviews/today", "/api/v1/guided-reviews/today?timezone=UTC", True),
        ("guided-reviews/streak", "/api/v1/guided-reviews/streak", True),
        ("safety/today", "/api/v1/safety/today?timezone=UTC&limit=20", True),
        ("alerts", "/api/v1/alerts?limit=20&offset=0", True),
        ("alert-rules", "/api/v1/alert-rules", True),
        # Chart: the symbol's trades, Home: the latest bubbles
        (
            "trades limit=2000 symbol",
            "/api/v1/trades?page=1&limit=2000&sort=desc&symbol=BTCUSDT",
            True,
        ),
        ("bubbles limit=5", "/api/v1/bubbles?page=1&limit=5&sort=desc", True),
        # small reads answered by their routes every time
        ("manual-positions", "/api/v1/manual-positions?status=open", False),
        ("users/me/symbols", "/api/v1/users/me/symbols", False),
        ("exchanges", "/api/v1/exchanges", False),
        ("notifications/channels", "/api/v1/notifications/channels", False),
        ("health", "/health", False),
    ]
    out = [("floor", "/api/v1/_floor")]
    for name, path, kept in reads:
        out.append((name, path))
        if kept:
            out.append((name + COMPUTED, path))
    many = [
        ("trades limit=50", "/api/v1/trades?limit=50"),
        ("trades/summary", "/api/v1/trades/summary"),
        ("review/stats 30d", "/api/v1/review/stats?period=30d"),
        ("users/me", "/api/v1/users/me"),
    ]
    out += [(name + MANY, path) for name, path in many]
    if only:
        out = [r for r in out if r[0] == "floor" or any(part in r[0] for part in only)]
    return [*out, ("floor (again)", "/api/v1/_floor")]


def users_script(directory: Path, tokens: list[str], threads: int) -> Path:
    """A wrk script that gives each thread its own share of ``tokens`` and each request the
    next token of its thread's share."""
    per = len(tokens) // threads
    script = directory / "users.lua"
    listed = ", ".join(f'"{t}"' for t in tokens)
    script.write_text(
        f"local tokens = {{{listed}}}\n"
        "local count = 0\n"
        "function setup(thread)\n"
        f"  thread:set('base', count * {per})\n"
        "  count = count + 1\n"
        "end\n"
        "local i = 0\n"
        "function request()\n"
        f"  i = i % {per} + 1\n"
        "  return wrk.format(nil, nil, {Authorization = 'Bearer ' .. tokens[base + i]})\n"
        "end\n"
    )
    return script


THREADS = 2  # wrk's threads: the load generator takes a core's worth at most

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    assert m, text
    return float(m[1]) * _UNITS[m[2]]


def wrk(
    url: str,
    token: str,
    *,
    connections: int,
    duration: int,
    fresh: bool = False,
    script: Path | None = None,
) -> dict[str, float]:
    """``wrk`` on ``url`` with ``token`` (or ``script``'s tokens): req/s, p50 and p99 in ms,
    non-2xx answers and whether a socket failed."""
    auth = ["-s", str(script)] if script else ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run(
        [
            "wrk",
            f"-t{min(THREADS, connections)}",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            *auth,
            *(["-H", FRESH] if fresh else []),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out)[1])  # type: ignore[index]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out)[1])  # type: ignore[index]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "p50": p50,
        "p99": p99,
        "non2xx": float(bad[1]) if bad else 0.0,
        "sock_errors": 1.0 if errors else 0.0,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _api_processes(root: int) -> list[int]:
    """The processes serving requests: uvicorn's spawned workers, or ``root`` when it serves
    alone (one process)."""
    kids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == root and "resource_tracker" not in cmd:
            kids.append(int(entry.name))
    return kids or [root]


def _rss_mb(pid: int) -> float:
    for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def serve_and_load(
    conninfo: str,
    user_ids: list[uuid.UUID],
    processes: int,
    *,
    connections: int,
    duration: int,
    only: tuple[str, ...] = (),
) -> None:
    """Load every read of ``endpoints(only)`` against ``kifu serve --workers processes``: as the
    first of ``user_ids``, and the "… N users" reads as all of them."""
    with (
        tempfile.TemporaryFile("w+") as log,  # the server's log: what a non-2xx answer was
        tempfile.TemporaryDirectory() as scripts,
    ):
        try:
            _serve_and_load(
                log,
                Path(scripts),
                conninfo,
                user_ids,
                processes,
                connections=connections,
                duration=duration,
                only=only,
            )
        finally:
            log.seek(0)
            _print_failures(log)  # a line at a time: the access log of a run is ~100 MB


def _serve_and_load(
    log: IO[str],
    scripts: Path,
    conninfo: str,
    user_ids: list[uuid.UUID],
    processes: int,
    *,
    connections: int,
    duration: int,
    only: tuple[str, ...],
) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": conninfo,
        "JWT_SECRET": JWT_SECRET,
        "KIFU_ENC_KEY": ENC_KEY,
        "KIFU_FLOOR_ROUTE": "true",
        "PORT": str(port),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "kifu", "serve", "--workers", str(processes)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("kifu serve did not start")
            time.sleep(0.2)
        tokens = [issue_access_token(u, JWT_SECRET) for u in user_ids]
        token = tokens[0]
        script = users_script(scripts, tokens, min(THREADS, connections))
        for _name, path in endpoints(only):  # every answer must be a 200 before it is timed
            r = httpx.get(base + path, headers={"Authorization": f"Bearer {token}"}, timeout=30)
            if r.status_code != 200:
                raise SystemExit(f"{path}: {r.status_code} {r.text[:200]}")
        wrk(base + "/api/v1/_floor", token, connections=connections, duration=1)  # warm-up
        print(
            f"\n== {processes} API process{'es' if processes > 1 else ''},"
            f" {connections} connections, {duration} s per endpoint,"
            f" load average before: {os.getloadavg()[0]:.2f}"
        )
        rows = []
        for name, path in endpoints(only):
            load: dict[str, Any] = {
                "connections": connections,
                "fresh": name.endswith(COMPUTED),
                "script": script if name.endswith(MANY) else None,
            }
            wrk(base + path, token, duration=1, **load)  # warm-up
            r = wrk(base + path, token, duration=duration, **load)
            rows.append((name, r))
            print(f"  {name}: {r['rps']:.0f} req/s", file=sys.stderr, flush=True)
        floors = [r["rps"] for name, r in rows if name.startswith("floor")]
        floor = max(floors)
        first_last = ", then ".join(f"{f:.0f}" for f in floors)
        print(f"floor {first_last} req/s: ratios against the higher, {floor:.0f}")
        print(f"{'endpoint':28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'x floor':>8}")
        for name, r in rows:
            flag = ""
            if r["non2xx"]:
                flag += f"  ({int(r['non2xx'])} non-2xx)"
            if r["sock_errors"]:
                flag += "  (socket errors)"
            print(
                f"{name:28} {r['rps']:9.0f} {r['p50']:8.2f} {r['p99']:8.2f}"
                f" {r['rps'] / floor:7.2f}x{flag}"
            )
        rss = [_rss_mb(p) for p in _api_processes(proc.pid)]
        print(
            "steady RSS per API process (MB): "
            + ", ".join(f"{m:.0f}" for m in rss)
            + f"   (target <= 100); load average after: {os.getloadavg()[0]:.2f}"
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


# kifu's access log line (kit.accesslog): ``<time> <client> "GET /path?q HTTP/1.1" 503 1.2ms <id>``
_ACCESS = re.compile(r'"(?P<method>[A-Z]+) (?P<path>[^ ?"]+)[^"]*" (?P<status>\d{3})')


def _print_failures(log: Iterable[str]) -> None:
    """Each (status, path) of the answers that were not 2xx, and the server's error lines."""
    failed: dict[tuple[str, str], int] = {}
    errors: list[str] = []
    for line in log:
        if line.startswith(("ERROR", "WARNING")):
            errors.append(line.rstrip())
        m = _ACCESS.search(line)
        if m and not m["status"].startswith("2"):
            key = (m["status"], m["path"])
            failed[key] = failed.get(key, 0) + 1
    for (status, path), n in sorted(failed.items()):
        print(f"  answered {status} {n} times: {path}")
    for line in errors[:20]:
        print(f"  server: {line[:200]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=10_000)
    parser.add_argument("--duration", type=int, default=5, help="seconds per endpoint")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--processes", default="1,2", help="API process counts to run")
    parser.add_argument("--database-url", default=None, help="a server to CREATE DATABASE on")
    parser.add_argument(
        "--only", default="", help="comma-separated parts of endpoint names to load (and the floor)"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit(
            "bench/api.py needs the load generator wrk, which is not installed:"
            " apt-get install -y wrk"
        )
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()}")
    with server(args.database_url) as (admin, workdir):
        conninfo = fresh_database(admin)
        runner.upgrade(conninfo)
        user_id = seed(conninfo, workdir, args.trades)
        others = seed_others(conninfo, workdir, USERS - 1, 1_000)
        for n in (int(x) for x in args.processes.split(",")):
            serve_and_load(
                conninfo,
                [user_id, *others],
                n,
                connections=args.connections,
                duration=args.duration,
                only=tuple(x.strip() for x in args.only.split(",") if x.strip()),
            )


if __name__ == "__main__":
    sys.exit(main())
