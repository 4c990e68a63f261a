"""Request and response models of the journal endpoints (bubbles, trade links, notes, manual
positions). Field types carry the reference's error codes (``kit.fields``), so a bad value is a
400 naming its field before any service runs; the services keep their own checks."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BaseModel, Field

from kifu.journal import rules
from kifu.kit.fields import (
    Body,
    DecimalText,
    OmitNull,
    Refused,
    Timestamp,
    bounded_text,
    choice,
    coded,
    decimal_text,
    id_text,
    instant_text,
    pattern_text,
    required_text,
    tag_list,
)

# -- field types -----------------------------------------------------------------------------------

BubbleSymbol = pattern_text(
    "INVALID_SYMBOL",
    rules.SYMBOL_RE,
    "must be 3-12 letters or digits (e.g. BTCUSDT)",
    case="upper",
    description="3-12 letters or digits, upper-cased (BTCUSDT)",
)
Timeframe = choice("INVALID_TIMEFRAME", rules.TIMEFRAMES, description="chart timeframe")
Period = choice(
    "INVALID_REQUEST", rules.PERIODS, reason="must be 1h, 4h or 1d", description="outcome period"
)
Sort = choice("INVALID_REQUEST", ("asc", "desc"), reason="must be asc or desc")
ExportPeriod = choice("INVALID_REQUEST", ("7d", "30d", "all"), reason="must be 7d, 30d or all")
BubbleTags = tag_list(
    "INVALID_TAGS",
    max_items=rules.MAX_TAGS,
    max_len=rules.MAX_TAG_LEN,
    pattern=rules.TAG_RE,
    lower=True,
    description="lower-cased; a-z, 0-9, _ and -; empties and repeats dropped",
)
Price = decimal_text(positive=True, description="decimal string greater than 0")
CandleTime = instant_text(description="RFC 3339 with a zone (Z or ±hh:mm)")
Id = id_text()

# review_notes: title VARCHAR(200); the note service allows 20 tags of 64 characters.
NOTE_TITLE_LEN = 200
NOTE_MAX_TAGS = 20
NOTE_TAG_LEN = 64
NOTE_EMOTION_LEN = 20  # review_notes.emotion VARCHAR(20)
NoteTags = tag_list("INVALID_TAGS", max_items=NOTE_MAX_TAGS, max_len=NOTE_TAG_LEN)

# manual_positions columns: symbol VARCHAR(40), venue VARCHAR(30), sizes and prices
# NUMERIC(30,10), leverage NUMERIC(10,2).
POSITION_SYMBOL_LEN = 40
POSITION_VENUE_LEN = 30


def _position_symbol(required: bool) -> Any:
    def check(raw: Any) -> str | None:
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if required:
                raise Refused("required")
            return None
        if not isinstance(raw, str) or len(raw.strip()) > POSITION_SYMBOL_LEN:
            raise Refused(f"at most {POSITION_SYMBOL_LEN} characters")
        return raw.strip().upper()

    return coded("INVALID_SYMBOL", check, description="upper-cased, at most 40 characters")


def _position_choice(allowed: tuple[str, ...], required: bool) -> Any:
    return choice(
        "INVALID_REQUEST",
        allowed,
        blank_is_none=not required,
        required_reason=f"required ({'/'.join(allowed)})",
    )


PositionNumber = decimal_text(
    whole_digits=20, scale=10, non_negative=True, blank_is_none=True, description="decimal string"
)
Leverage = decimal_text(
    whole_digits=8, scale=2, non_negative=True, blank_is_none=True, description="decimal string"
)
PositionTime = instant_text(blank_is_none=True, description="RFC 3339 with a zone")


# -- request bodies --------------------------------------------------------------------------------

# Length caps of the free text (characters; 400 over them), documented as maxLength.
MEMO_LEN = 5_000
NOTE_CONTENT_LEN = 20_000
LESSON_LEN = 5_000
STRATEGY_LEN = 200
Memo = Annotated[str, Field(max_length=MEMO_LEN)]


class BubbleCreate(Body):
    symbol: BubbleSymbol
    timeframe: Timeframe
    candle_time: CandleTime
    price: Price
    asset_class: str | None = Field(
        default=None, max_length=100, description="lower-cased, cut to 20"
    )
    venue_name: str | None = Field(
        default=None, max_length=100, description="lower-cased, cut to 50"
    )
    memo: Memo | None = None
    tags: BubbleTags | None = None


class BubbleUpdate(Body):
    """Absent fields stay unchanged."""

    memo: Memo | None = None
    tags: BubbleTags | None = None
    asset_class: str | None = Field(default=None, max_length=100)
    venue_name: str | None = Field(default=None, max_length=100)


class TradeLink(Body):
    trade_id: Id
    bubble_id: Id


class TradeUnlink(Body):
    trade_id: Id


class NoteBody(Body):
    """Create, or full replace on PUT (absent optional fields become null)."""

    bubble_id: id_text(blank_is_none=True) | None = None
    title: required_text(NOTE_TITLE_LEN)
    content: required_text(NOTE_CONTENT_LEN)
    tags: NoteTags | None = None
    lesson_learned: Annotated[str, Field(max_length=LESSON_LEN)] | None = None
    emotion: bounded_text(NOTE_EMOTION_LEN, description="lower-cased") | None = None


class ManualPositionBody(Body):
    """A partial update: absent fields stay; an empty symbol, asset_class, position_side or
    status keeps the stored value; an empty number, text or time clears it."""

    symbol: _position_symbol(required=False) | None = None
    asset_class: _position_choice(("crypto", "stock"), required=False) | None = None
    venue: bounded_text(POSITION_VENUE_LEN) | None = None
    position_side: _position_choice(("long", "short"), required=False) | None = None
    size: PositionNumber | None = None
    entry_price: PositionNumber | None = None
    stop_loss: PositionNumber | None = None
    take_profit: PositionNumber | None = None
    leverage: Leverage | None = None
    strategy: bounded_text(STRATEGY_LEN) | None = None
    memo: bounded_text(MEMO_LEN) | None = None
    status: _position_choice(("open", "closed"), required=False) | None = None
    opened_at: PositionTime | None = None
    closed_at: PositionTime | None = None


class ManualPositionCreate(ManualPositionBody):
    """A new position: symbol, asset_class and position_side are required; status defaults to
    ``open`` (a closed one without ``closed_at`` is closed now)."""

    symbol: _position_symbol(required=True)
    asset_class: _position_choice(("crypto", "stock"), required=True)
    position_side: _position_choice(("long", "short"), required=True)


# -- responses -------------------------------------------------------------------------------------


class Bubble(OmitNull):
    # left out when null, as the reference did (kit.fields.OmitNull)
    omit_when_null = frozenset({"asset_class", "venue_name", "memo"})

    id: uuid.UUID
    symbol: str
    timeframe: str
    candle_time: Timestamp
    price: DecimalText
    bubble_type: str = Field(description="manual or auto")
    asset_class: str | None
    venue_name: str | None
    memo: str | None
    tags: list[str]
    created_at: Timestamp
    updated_at: Timestamp


class BubblePage(BaseModel):
    page: int
    limit: int
    total: int
    items: list[Bubble]


class OutcomeOfPeriod(BaseModel):
    period: str
    pnl_percent: DecimalText


class TaggedBubble(OmitNull):
    """A bubble found by its tags, with its outcome for the asked period when there is one."""

    # left out when null, as the reference did (kit.fields.OmitNull)
    omit_when_null = frozenset({"memo", "outcome"})

    id: uuid.UUID
    symbol: str
    timeframe: str
    candle_time: Timestamp
    price: DecimalText
    bubble_type: str
    memo: str | None
    tags: list[str]
    outcome: OutcomeOfPeriod | None = Field(
        default=None, description="absent until the outcome of the period is computed"
    )


class OutcomeSummary(BaseModel):
    period: str
    wins: int
    losses: int
    avg_pnl: DecimalText | None = Field(description="mean pnl_percent, null without outcomes")


class BubbleSearch(BaseModel):
    page: int
    limit: int
    total: int
    items: list[TaggedBubble]
    summary: OutcomeSummary


class SimilarBubbles(BaseModel):
    similar_count: int
    summary: OutcomeSummary
    bubbles: list[TaggedBubble]


class OutcomeView(BaseModel):
    period: str
    reference_price: DecimalText
    outcome_price: DecimalText | None
    pnl_percent: DecimalText | None


class BubbleOutcomes(BaseModel):
    outcomes: list[OutcomeView] = Field(description="always 1h, 4h and 1d, in that order")


class LinkedTrade(OmitNull):
    # left out when null, as the reference did (kit.fields.OmitNull)
    omit_when_null = frozenset({"bubble_id", "realized_pnl"})

    id: uuid.UUID
    bubble_id: uuid.UUID | None
    exchange: str
    symbol: str
    side: str
    quantity: DecimalText
    price: DecimalText
    realized_pnl: DecimalText | None
    trade_time: Timestamp
    binance_trade_id: int


class BubbleTrades(BaseModel):
    trades: list[LinkedTrade]


class Linked(BaseModel):
    success: bool
    trade_id: uuid.UUID
    bubble_id: uuid.UUID


class Unlinked(BaseModel):
    success: bool
    trade_id: uuid.UUID


class Converted(BaseModel):
    created: int
    skipped: int = Field(description="trades that cannot have a bubble (no price or symbol)")


class BubblesUpdated(BaseModel):
    updated: int


class BubblesCreated(BaseModel):
    created: int


class Updated(BaseModel):
    updated: bool


class Deleted(BaseModel):
    deleted: bool


class Note(OmitNull):
    # left out when null, as the reference did (kit.fields.OmitNull)
    omit_when_null = frozenset({"bubble_id", "lesson_learned", "emotion"})

    id: uuid.UUID
    bubble_id: uuid.UUID | None
    title: str
    content: str
    tags: list[str]
    lesson_learned: str | None
    emotion: str | None
    created_at: Timestamp
    updated_at: Timestamp


class BubbleNotes(BaseModel):
    notes: list[Note]


class NotePage(BaseModel):
    notes: list[Note]
    total: int
    page: int
    limit: int
    total_pages: int


class ManualPosition(OmitNull):
    # left out when null, as the reference did (kit.fields.OmitNull)
    omit_when_null = frozenset(
        {
            "venue",
            "strategy",
            "memo",
            "size",
            "entry_price",
            "stop_loss",
            "take_profit",
            "leverage",
            "opened_at",
            "closed_at",
        }
    )

    id: uuid.UUID
    symbol: str
    asset_class: str
    venue: str | None
    position_side: str
    strategy: str | None
    memo: str | None
    status: str
    size: DecimalText | None
    entry_price: DecimalText | None
    stop_loss: DecimalText | None
    take_profit: DecimalText | None
    leverage: DecimalText | None
    opened_at: Timestamp | None
    closed_at: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp


class ManualPositions(BaseModel):
    positions: list[ManualPosition]
