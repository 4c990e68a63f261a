"""The demo journal: a sandbox user with days of simulated trading, recorded through every
capability's own service (reference §4.15, with its §7 defects fixed).

What is real: fills go in as Binance futures, Binance spot and Upbit KRW CSV exports through
``ingest.service.import_unified`` (so positions, FIFO PnL, rollups and the Trades screen are the
ledger's own), bubbles, notes and the manual position through ``journal``, guided reviews and the
streak through ``review`` (each day's items built from its real trades), safety labels, an alert
rule, and a summary pack from the imports' runs. AI accuracy is scored by the real scorer.

What is simulated, and marked so: the outcomes of the sandbox user's bubbles (no candle is
written, so no real user's outcome can read a simulated price; every other period of those
bubbles is marked skipped so the outcome job never prices them) and the AI opinions (provider and
model ``simulated``, text starting with ``[simulated]``). The user itself is ``users.is_sandbox``,
the only kind a demo may reset. Deterministic for a seed and an end date.
"""

from __future__ import annotations

import io
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from psycopg import AsyncConnection

from kifu.accounts import service as accounts
from kifu.ai import scoring
from kifu.ai import service as ai
from kifu.alerts import service as alerts
from kifu.config import Settings
from kifu.ingest import service as ingest
from kifu.journal import notes, positions
from kifu.journal import outcomes as journal_outcomes
from kifu.journal import service as journal
from kifu.journal.schemas import BubbleCreate, ManualPositionCreate, NoteBody
from kifu.kit.errors import BadRequest
from kifu.packs import service as packs
from kifu.review import service as review

MAX_DAYS = 180
DEFAULT_DAYS = 90
DEFAULT_EMAIL = "demo@kifu.local"
SANDBOX_NAME = "Demo trader (simulated journal)"
KST = ZoneInfo("Asia/Seoul")
PERIODS = (("1h", timedelta(hours=1), Decimal("1.4")), ("4h", timedelta(hours=4), Decimal("3.0")))
PERIODS += (("1d", timedelta(days=1), Decimal("6.2")),)
ALWAYS_REVIEWED_DAYS = 7  # the last week is always reviewed, so the demo shows a live streak

# venue → symbols (base, quote, start price, quantity range, decimals of quantity)
MARKETS: dict[str, list[tuple[str, str, Decimal, tuple[float, float], int]]] = {
    "binance_futures": [
        ("BTC", "USDT", Decimal("64000"), (0.005, 0.08), 3),
        ("ETH", "USDT", Decimal("3200"), (0.05, 1.5), 3),
        ("SOL", "USDT", Decimal("150"), (1, 25), 1),
    ],
    "binance_spot": [
        ("BTC", "USDT", Decimal("64000"), (0.001, 0.02), 5),
        ("ETH", "USDT", Decimal("3200"), (0.01, 0.4), 4),
    ],
    "upbit": [
        ("BTC", "KRW", Decimal("88000000"), (0.001, 0.02), 4),
        ("ETH", "KRW", Decimal("4400000"), (0.01, 0.3), 3),
        ("XRP", "KRW", Decimal("800"), (50, 900), 0),
    ],
}
PRICE_STEP = {"USDT": Decimal("0.01"), "KRW": Decimal("1")}
FEE_RATE = {"binance_futures": Decimal("0.0004"), "binance_spot": Decimal("0.001")}
FEE_RATE["upbit"] = Decimal("0.0005")

MEMOS = (
    "Breakout above the range high on rising volume; stop under the retest.",
    "Fading the spike into resistance, sized small.",
    "Trend continuation after a pullback to the 20 EMA.",
    "Funding flipped negative while price held: squeezing shorts.",
    "Support held three times on the hourly; entered the bounce.",
    "Chased a green candle. Should have waited for the close.",
    "News-driven move; planned exit at the prior day's high.",
    "Mean reversion from the lower band, tight stop.",
)
TAGS = (
    ["breakout"],
    ["fade", "resistance"],
    ["trend"],
    ["funding", "squeeze"],
    ["support"],
    ["fomo"],
    ["news"],
    ["mean-reversion"],
)
OPINIONS = {
    "BUY": "[simulated] Momentum is constructive and buyers defend the level; a bullish setup, "
    'I would buy on a pullback.\nVERDICT: {{"direction": "BUY", "probability": {p}}}',
    "SELL": "[simulated] Lower highs and fading volume look bearish; I would sell into strength."
    '\nVERDICT: {{"direction": "SELL", "probability": {p}}}',
    "HOLD": "[simulated] Mixed signals inside the range; wait and see before committing."
    '\nVERDICT: {{"direction": "HOLD", "probability": {p}}}',
}


@dataclass
class SimRequest:
    days: int = DEFAULT_DAYS
    end_date: date | None = None
    timezone: str = "UTC"
    no_trade_rate: float = 0.25
    seed: int | None = None
    include_notes: bool = True
    include_alerts: bool = True
    email: str = DEFAULT_EMAIL
    password: str | None = None
    reset: bool = True

    def check(self, now: datetime) -> None:
        if not 1 <= self.days <= MAX_DAYS:
            raise BadRequest("INVALID_REQUEST", f"days: must be 1 to {MAX_DAYS}")
        try:
            zone = ZoneInfo(self.timezone)
        except (KeyError, ValueError) as exc:
            raise BadRequest("INVALID_REQUEST", f"timezone: unknown {self.timezone!r}") from exc
        today = now.astimezone(zone).date()
        if self.end_date is None:
            # Yesterday: a whole day, so the same seed gives the same journal all day long, and
            # today is left for the trader to review.
            self.end_date = today - timedelta(days=1)
        if self.end_date > today:
            raise BadRequest("INVALID_REQUEST", "start_date: must not be in the future")
        self.no_trade_rate = min(max(float(self.no_trade_rate), 0.0), 0.95)
        if self.seed is None:
            self.seed = random.SystemRandom().randrange(1, 2**31)


@dataclass
class Fill:
    venue: str
    base: str
    quote: str
    side: str  # BUY or SELL
    qty: Decimal
    price: Decimal
    at: datetime  # UTC
    realized: Decimal | None = None  # futures closing fills: the exchange's figure


@dataclass
class Trip:
    """One round trip: an entry and its exit on the same day."""

    entry: Fill
    exit: Fill
    memo_index: int
    bubbled: bool


@dataclass
class Day:
    day: date
    no_trade: bool
    reviewed: bool
    trips: list[Trip] = field(default_factory=list)


@dataclass
class Totals:
    trades_created: int = 0
    bubbles_created: int = 0
    outcomes_created: int = 0
    ai_opinions_created: int = 0
    accuracy_rows: int = 0
    ai_notes_created: int = 0
    trade_events_created: int = 0
    trade_events_skipped: int = 0
    stock_events_created: int = 0
    review_days_touched: int = 0
    review_days_complete: int = 0
    items_total: int = 0
    items_submitted: int = 0
    no_trade_days: int = 0
    notes_created: int = 0
    manual_positions_created: int = 0
    user_symbols_updated: int = 0
    alert_rules_created: int = 0
    safety_reviews_created: int = 0
    summary_packs_created: int = 0
    ai_probe_pass: int = 0
    ai_probe_fail: int = 0


@dataclass
class SimResult:
    run_id: uuid.UUID
    seed: int
    timezone: str
    start_date: date
    end_date: date
    days: int
    started_at: datetime
    finished_at: datetime
    totals: Totals
    streak: dict[str, Any]
    user_id: uuid.UUID
    email: str
    reset_performed: bool
    results: list[dict[str, Any]]
    warnings: list[str]


Progress = Callable[[str, int], None]  # (what is being done, units done since the last call)


def _q(value: Decimal, step: Decimal) -> Decimal:
    return value.quantize(step, rounding=ROUND_HALF_UP)


def plan(req: SimRequest, cutoff: datetime | None = None) -> list[Day]:
    """Every simulated day, from the seed alone (no I/O); trips that would close after
    ``cutoff`` (now, when the range ends today) are left out."""
    assert req.end_date is not None and req.seed is not None
    rng = random.Random(req.seed)
    zone = ZoneInfo(req.timezone)
    level = {(v, b, q): p for v, ms in MARKETS.items() for b, q, p, _, _ in ms}
    start = req.end_date - timedelta(days=req.days - 1)
    days: list[Day] = []
    for n in range(req.days):
        d = start + timedelta(days=n)
        for key in level:  # a daily random walk per market
            level[key] = level[key] * Decimal(str(round(1 + rng.gauss(0, 0.025), 6)))
        recent = n >= req.days - ALWAYS_REVIEWED_DAYS
        day = Day(d, rng.random() < req.no_trade_rate, recent or rng.random() < 0.85)
        if not day.no_trade:
            # Trips follow each other (each closes before the next opens), so every book is flat
            # between trips and the exchange's realized PnL equals kifu's FIFO figure.
            clock = datetime(d.year, d.month, d.day, 9, tzinfo=zone).astimezone(UTC)
            for _ in range(rng.randint(1, 3)):
                venue = rng.choice(list(MARKETS))
                base, quote, _, (lo, hi), places = rng.choice(MARKETS[venue])
                px = level[(venue, base, quote)]
                step = PRICE_STEP[quote]
                qty = Decimal(str(round(rng.uniform(lo, hi), places)))
                if qty <= 0:
                    qty = Decimal(1).scaleb(-places)
                opened = clock + timedelta(minutes=rng.randint(5, 90), seconds=rng.randint(0, 59))
                closed = opened + timedelta(
                    minutes=rng.randint(15, 150), seconds=rng.randint(0, 59)
                )
                clock = closed
                entry_px = _q(px * Decimal(str(round(1 + rng.uniform(-0.01, 0.01), 6))), step)
                # a slight edge, as a journal worth reviewing has winners and losers
                move = Decimal(str(round(rng.gauss(0.002, 0.012), 6)))
                long = venue != "binance_futures" or rng.random() < 0.6
                exit_px = _q(entry_px * (1 + move), step)
                side_in, side_out = ("BUY", "SELL") if long else ("SELL", "BUY")
                sign = 1 if long else -1
                realized = (exit_px - entry_px) * qty * sign if venue == "binance_futures" else None
                memo, bubbled = rng.randrange(len(MEMOS)), rng.random() < 0.7
                if cutoff is not None and closed > cutoff:
                    continue  # not happened yet (the simulated range ends today)
                day.trips.append(
                    Trip(
                        Fill(venue, base, quote, side_in, qty, entry_px, opened),
                        Fill(venue, base, quote, side_out, qty, exit_px, closed, realized),
                        memo,
                        bubbled,
                    )
                )
        days.append(day)
    return days


# -- the CSV exports ----------------------------------------------------------------------------


def _fee(f: Fill) -> Decimal:
    return _q(f.qty * f.price * FEE_RATE[f.venue], Decimal("0.00000001"))


def _utc_text(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _n(value: Decimal) -> str:
    return format(value.normalize(), "f")


def exports(days: list[Day]) -> dict[str, bytes]:
    """The fills as the three exchanges' own CSV exports, one file per venue."""
    fills: dict[str, list[Fill]] = {v: [] for v in MARKETS}
    for day in days:
        for trip in day.trips:
            fills[trip.entry.venue] += [trip.entry, trip.exit]
    files: dict[str, bytes] = {}
    rows = ["Date(UTC),Pair,Side,Price,Quantity,Amount,Fee,Realized Profit"]
    for f in fills["binance_futures"]:
        rows.append(
            f"{_utc_text(f.at)},{f.base}{f.quote},{f.side},{_n(f.price)},{_n(f.qty)},"
            f"{_n(f.qty * f.price)} USDT,{_n(_fee(f))} USDT,{_n(f.realized or Decimal(0))} USDT"
        )
    files["binance_futures"] = "\n".join(rows).encode()
    rows = ['"Date(UTC)","Pair","Side","Price","Executed","Amount","Fee"']
    for f in fills["binance_spot"]:
        rows.append(
            f'"{_utc_text(f.at)}","{f.base}{f.quote}","{f.side}","{_n(f.price)}",'
            f'"{_n(f.qty)}{f.base}","{_n(f.qty * f.price)}{f.quote}","{_n(_fee(f))}{f.quote}"'
        )
    files["binance_spot"] = "\n".join(rows).encode()
    rows = ["체결시간,코인,마켓,종류,거래수량,거래단가,거래금액,수수료,정산금액,주문시간"]
    for f in fills["upbit"]:
        kst = f.at.astimezone(KST).strftime("%Y-%m-%d %H:%M:%S")
        amount = _q(f.qty * f.price, Decimal(1))
        fee = _q(amount * FEE_RATE["upbit"], Decimal("0.01"))
        settled = amount + fee if f.side == "BUY" else amount - fee
        kind = "매수" if f.side == "BUY" else "매도"
        rows.append(
            f'{kst},{f.base},KRW,{kind},{_n(f.qty)} {f.base},"{_n(f.price)} KRW",'
            f'"{_n(amount)} KRW",{_n(fee)} KRW,"{_n(settled)} KRW",{kst}'
        )
    files["upbit"] = "\n".join(rows).encode("utf-8")
    return files


# -- the run ---------------------------------------------------------------------------------


def _step(steps: list[dict[str, Any]], name: str, ok: bool = True, message: str | None = None):
    steps.append({"step": name, "ok": ok, "message": message})


def work_units(req: SimRequest) -> int:
    """How many progress units a run reports (imports, days, finishing steps)."""
    return 3 + req.days + 4


async def run(
    conn: AsyncConnection,
    settings: Settings,
    req: SimRequest,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> SimResult:
    """Build the sandbox journal. ``req.password`` None: a random password nobody is told (the
    journal can then only be looked at after an admin sets one; the CLI always passes one)."""
    started = now or datetime.now(UTC)
    req.check(started)
    assert req.end_date is not None and req.seed is not None
    tick = progress or (lambda _what, _n: None)
    totals = Totals()
    warnings: list[str] = []
    rng = random.Random(req.seed ^ 0x5EED)

    reset = await accounts.reset_sandbox_user(conn, req.email) if req.reset else False
    password = req.password or uuid.uuid4().hex + uuid.uuid4().hex
    user_id = await accounts.create_sandbox_user(conn, req.email, password, SANDBOX_NAME)

    days = plan(req, started)
    for venue, body in exports(days).items():
        tick(f"importing {venue}", 0)
        if body.count(b"\n") == 0:  # a header only: nothing traded there
            tick(f"importing {venue}", 1)
            continue
        report = await ingest.import_unified(
            conn, user_id, io.BytesIO(body), ingest.UnifiedRequest(venue=None)
        )
        totals.trade_events_created += report["imported"]
        totals.trade_events_skipped += report["skipped"]
        if report["issue_count"]:
            warnings.append(f"{venue}: {report['issue_count']} row(s) not imported")
        tick(f"importing {venue}", 1)

    # the Chart screen's symbol list: what the trader traded (as an exchange sync would add them)
    traded = sorted({f"{t.entry.base}{t.entry.quote}" for d in days for t in d.trips})
    await accounts.watch_traded_symbols(conn, user_id, traded)
    totals.user_symbols_updated = len(traded)

    results: list[dict[str, Any]] = []
    bubble_ids: list[uuid.UUID] = []
    simulated: list[journal_outcomes.SimulatedOutcome] = []
    trade_days = [d for d in days if not d.no_trade]
    note_days = {d.day for d in trade_days[3::7]} if req.include_notes else set()
    for day in days:
        tick(f"day {day.day.isoformat()}", 0)
        steps: list[dict[str, Any]] = []
        entry: dict[str, Any] = {
            "date": day.day.isoformat(),
            "no_trade_day": day.no_trade,
            "trades_created": 2 * len(day.trips),
            "bubbles_created": 0,
            "review_id": None,
            "review_status": None,
            "items": 0,
            "submitted": 0,
            "completed": False,
            "symbols": sorted({f"{t.entry.base}{t.entry.quote}" for t in day.trips}),
            "steps": steps,
            "error": None,
        }
        totals.trades_created += 2 * len(day.trips)
        totals.no_trade_days += day.no_trade
        day_bubbles: list[dict[str, Any]] = []
        for trip in day.trips:
            if not trip.bubbled:
                continue
            bubble = await _bubble(conn, user_id, trip)
            day_bubbles.append(bubble)
            bubble_ids.append(uuid.UUID(bubble["id"]))
            simulated += _outcomes(rng, bubble, started)
            for _ in range(rng.randint(1, 2)):
                await ai.record_simulated_opinion(
                    conn,
                    user_id,
                    uuid.UUID(bubble["id"]),
                    _opinion(rng),
                    # asked while the bubble's candle was open, before the entry
                    asked_at=trip.entry.at.replace(minute=rng.randint(0, trip.entry.at.minute)),
                )
                totals.ai_opinions_created += 1
        entry["bubbles_created"] = len(day_bubbles)
        totals.bubbles_created += len(day_bubbles)
        if day.trips:
            _step(steps, "trades", message=f"{2 * len(day.trips)} fill(s) imported")
        if day_bubbles:
            _step(steps, "bubbles", message=f"{len(day_bubbles)} bubble(s) with memos")
        if day.day in note_days:
            await notes.create(
                conn,
                user_id,
                NoteBody(
                    bubble_id=day_bubbles[0]["id"] if day_bubbles else None,
                    title=f"Week note {day.day.isoformat()}",
                    content="Took the planned setups; cut the one I chased. Size stayed within"
                    " the 1% risk rule.",
                    tags=["weekly", "discipline"],
                    lesson_learned="Wait for the close before acting on a breakout.",
                    emotion="calm",
                ),
                keep_ai=5,
            )
            totals.notes_created += 1
            _step(steps, "note")
        if day.reviewed:
            await _review_day(conn, user_id, day, req, started, rng, entry, totals)
        else:
            _step(steps, "guided_review", message="skipped: the trader did not review this day")
        results.append(entry)
        tick(f"day {day.day.isoformat()}", 1)

    tick("outcomes and AI accuracy", 0)
    totals.outcomes_created = await journal_outcomes.record_simulated(
        conn, user_id, simulated, bubble_ids=bubble_ids
    )
    # The real accuracy job, exactly as the worker runs it (it scores whatever is due).
    totals.accuracy_rows = (await scoring.score_opinions(conn, started)).written
    tick("outcomes and AI accuracy", 1)

    tick("safety reviews", 0)
    for day in [d for d in trade_days if d.reviewed][-3:]:
        totals.safety_reviews_created += await _safety(conn, settings, user_id, day, req, started)
    tick("safety reviews", 1)

    tick("position, alert rule, pack", 0)
    await positions.create(
        conn,
        user_id,
        ManualPositionCreate(
            symbol="BTCUSDT",
            asset_class="crypto",
            venue="binance_futures",
            position_side="long",
            size="0.05",
            entry_price="64000",
            stop_loss="61500",
            take_profit="70000",
            leverage="3",
            strategy="swing",
            memo="Held on a cold wallet plan; tracked by hand (simulated).",
        ),
    )
    totals.manual_positions_created = 1
    if req.include_alerts:
        await alerts.create_rule(
            conn,
            settings,
            None,
            user_id,
            name="BTC drops 5% in 24h",
            symbol="BTCUSDT",
            rule_type="price_change",
            config={
                "direction": "drop",
                "threshold_type": "percent",
                "threshold_value": "5",
                "reference": "24h",
            },
            cooldown_minutes=60,
            enabled=True,
            ask_market=False,
        )
        totals.alert_rules_created = 1
    tick("position, alert rule, pack", 1)
    tick("summary pack", 0)
    if totals.trade_events_created:
        _, created, _ = await packs.generate_latest(
            conn, user_id, "30d", req.timezone, settings.default_tz
        )
        totals.summary_packs_created = int(created)
    tick("summary pack", 1)
    streak = await review.streak(conn, user_id, started)
    return SimResult(
        run_id=uuid.uuid4(),
        seed=req.seed,
        timezone=req.timezone,
        start_date=days[0].day,
        end_date=days[-1].day,
        days=req.days,
        started_at=started,
        finished_at=datetime.now(UTC),
        totals=totals,
        streak={
            "current": streak["current_streak"],
            "longest": streak["longest_streak"],
            "last_review_day": streak["last_review_date"],
        },
        user_id=user_id,
        email=req.email,
        reset_performed=reset,
        results=results,
        warnings=warnings,
    )


async def _bubble(conn: AsyncConnection, user_id: uuid.UUID, trip: Trip) -> dict[str, Any]:
    f = trip.entry
    candle = f.at.replace(minute=0, second=0, microsecond=0)
    return await journal.create_bubble(
        conn,
        user_id,
        BubbleCreate(
            symbol=f"{f.base}{f.quote}",
            timeframe="1h",
            candle_time=candle.isoformat().replace("+00:00", "Z"),
            price=_n(f.price),
            asset_class="crypto",
            venue_name=f.venue,
            memo=MEMOS[trip.memo_index],
            tags=[*TAGS[trip.memo_index], "long" if f.side == "BUY" else "short"],
        ),
    )


def _outcomes(
    rng: random.Random, bubble: dict[str, Any], now: datetime
) -> list[journal_outcomes.SimulatedOutcome]:
    """Simulated 1h/4h/1d outcomes of a bubble whose time has come (values under 0.07 % are
    snapped to 0, as the reference's simulator did)."""
    price = Decimal(bubble["price"])
    candle = datetime.fromisoformat(bubble["candle_time"].replace("Z", "+00:00"))
    out = []
    for period, span, bound in PERIODS:
        pnl = Decimal(str(round(rng.uniform(-float(bound), float(bound)), 4)))
        if candle + span > now:
            continue
        if abs(pnl) < Decimal("0.07"):
            pnl = Decimal(0)
        close = (price * (1 + pnl / 100)).quantize(Decimal("0.00000001"))
        out.append(journal_outcomes.SimulatedOutcome(uuid.UUID(bubble["id"]), period, close, pnl))
    return out


def _opinion(rng: random.Random) -> str:
    direction = rng.choice(("BUY", "BUY", "SELL", "HOLD"))
    return OPINIONS[direction].format(p=round(rng.uniform(0.52, 0.8), 2))


async def _review_day(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    day: Day,
    req: SimRequest,
    now: datetime,
    rng: random.Random,
    entry: dict[str, Any],
    totals: Totals,
) -> None:
    steps = entry["steps"]
    got = await review.guided_today(
        conn, user_id, timezone=req.timezone, day=day.day.isoformat(), default_tz="UTC", now=now
    )
    entry["review_id"] = got["review"]["id"]
    entry["items"] = len(got["items"])
    totals.review_days_touched += 1
    totals.items_total += len(got["items"])
    _step(steps, "guided_review_get", message=f"{len(got['items'])} item(s)")
    for item in got["items"]:
        no_trade = item["symbol"] == "__NO_TRADE__"
        losing = (item["pnl"] or 0) < 0
        if no_trade:
            intent, emotions, pattern = "no_trade_wait_setup", ["calm"], "wait_confirmation"
        elif losing:
            intent = rng.choice(("emotional", "technical_signal"))
            emotions, pattern = [rng.choice(("anxious", "fomo", "nervous"))], "reduce_size"
        else:
            intent = rng.choice(("technical_signal", "planned_regular"))
            emotions, pattern = [rng.choice(("confident", "as_planned", "calm"))], "same_decision"
        await review.submit(
            conn,
            user_id,
            item["id"],
            intent=intent,
            emotions=emotions,
            pattern_match=pattern,
            memo="Followed the plan." if not losing else "Entered early; wait for the close.",
        )
        entry["submitted"] += 1
        totals.items_submitted += 1
    _step(steps, "guided_review_submit", message=f"{entry['submitted']} answered")
    await review.complete(conn, user_id, got["review"]["id"], now)
    entry["completed"] = True
    entry["review_status"] = "completed"
    totals.review_days_complete += 1
    _step(steps, "guided_review_complete")


async def _safety(
    conn: AsyncConnection,
    settings: Settings,
    user_id: uuid.UUID,
    day: Day,
    req: SimRequest,
    now: datetime,
) -> int:
    scope = review.safety_scope(
        timezone=req.timezone, day=day.day.isoformat(), default_tz=settings.default_tz, now=now
    )
    got = await review.safety_today(conn, user_id, scope)
    labelled = 0
    for n, item in enumerate(got["items"]):
        verdict = "intended" if n % 3 else "unsure"
        await review.upsert_safety_review(
            conn,
            user_id,
            target_type=item["target_type"],
            target_id=item["target_id"],
            verdict=verdict,
            note="size checked against the plan" if verdict == "intended" else None,
        )
        labelled += 1
    return labelled
