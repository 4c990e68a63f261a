"""Request bodies of the journal endpoints (unknown fields are 400; values are checked in the
service so each error names its field and carries the reference's code)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class BubbleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    symbol: Any = None
    timeframe: Any = None
    candle_time: Any = None
    price: Any = None
    asset_class: Any = None
    venue_name: Any = None
    memo: str | None = None
    tags: list[Any] | None = None


class BubbleUpdate(BaseModel):
    """Absent fields stay unchanged."""

    model_config = ConfigDict(extra="forbid")
    memo: str | None = None
    tags: list[Any] | None = None
    asset_class: Any = None
    venue_name: Any = None


class TradeLink(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trade_id: Any = None
    bubble_id: Any = None


class TradeUnlink(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trade_id: Any = None


class NoteBody(BaseModel):
    """Create, or full replace on PUT (absent optional fields become null)."""

    model_config = ConfigDict(extra="forbid")
    bubble_id: Any = None
    title: Any = None
    content: Any = None
    tags: list[Any] | None = None
    lesson_learned: str | None = None
    emotion: str | None = None


class ManualPositionBody(BaseModel):
    """Create (symbol, asset_class, position_side required) or partial update."""

    model_config = ConfigDict(extra="forbid")
    symbol: Any = None
    asset_class: Any = None
    venue: Any = None
    position_side: Any = None
    size: Any = None
    entry_price: Any = None
    stop_loss: Any = None
    take_profit: Any = None
    leverage: Any = None
    strategy: Any = None
    memo: Any = None
    status: Any = None
    opened_at: Any = None
    closed_at: Any = None
