"""The journal's declared request types refuse exactly what its services refuse: their limits
are the services' own (a type that drifted would answer differently from the service)."""

from __future__ import annotations

from kifu.journal import notes, positions, schemas


def test_note_limits_are_the_services() -> None:
    assert (schemas.NOTE_MAX_TAGS, schemas.NOTE_TAG_LEN) == (notes.MAX_TAGS, notes.MAX_TAG_LEN)


def test_manual_position_limits_are_the_services() -> None:
    assert positions.TEXTS["venue"] == schemas.POSITION_VENUE_LEN
    props = schemas.ManualPositionBody.model_json_schema()["properties"]
    assert set(props) == {
        *positions.NUMBERS,
        *positions.TEXTS,
        "symbol",
        "asset_class",
        "position_side",
        "status",
        "opened_at",
        "closed_at",
    }
    choices = {
        name: props[name]["anyOf"][0]["enum"] for name in ("asset_class", "position_side", "status")
    }
    assert choices == {
        "asset_class": list(positions.ASSET_CLASSES),
        "position_side": list(positions.SIDES),
        "status": list(positions.STATUSES),
    }
