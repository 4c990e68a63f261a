"""FIFO position rules: hand-checked cases and properties."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from kifu.ledger.positions import Fill, compute

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def f(i, side, qty, price, fee=None, fee_asset=None, ev="spot_trade"):
    return Fill(
        T0 + timedelta(minutes=i), side, D(qty), D(price), D(fee) if fee else None, fee_asset, ev
    )


def test_partial_close_fifo():
    p = compute(
        "USDT", [f(0, "buy", "1", "100"), f(1, "buy", "1", "200"), f(2, "sell", "1.5", "300")]
    )
    # closes 1 @100 and 0.5 @200
    assert p.realized_pnl == D("200") + D("50")
    assert p.size == D("0.5") and p.status == "open"
    assert p.avg_entry == D("200")
    assert p.avg_exit == D("300")
    assert p.opened_at == T0 and p.closed_at is None


def test_flip_long_to_short_in_one_fill():
    p = compute("USDT", [f(0, "buy", "1", "100"), f(1, "sell", "3", "110")])
    assert p.realized_pnl == D("10")
    assert p.size == D("-2")
    assert p.avg_entry == D("110")
    assert p.opened_at == T0 + timedelta(minutes=1)
    # then cover the short at a lower price
    p = compute(
        "USDT", [f(0, "buy", "1", "100"), f(1, "sell", "3", "110"), f(2, "buy", "2", "100")]
    )
    assert p.realized_pnl == D("10") + D("20")
    assert p.size == 0 and p.status == "closed"
    assert p.closed_at == T0 + timedelta(minutes=2)
    assert p.opened_at == T0 + timedelta(minutes=1)


def test_short_first_and_flip_short_to_long():
    p = compute("USDT", [f(0, "sell", "2", "50"), f(1, "buy", "3", "40")])
    assert p.realized_pnl == D("20")
    assert p.size == D("1")
    assert p.avg_entry == D("40")


def test_quote_fees_reduce_pnl_other_fees_are_listed():
    p = compute(
        "USDT",
        [
            f(0, "buy", "1", "100", "0.1", "USDT"),
            f(1, "sell", "1", "120", "0.002", "BNB"),
            f(2, "buy", "1", "100", "0.5", None),  # no asset: quote
            f(3, "sell", "1", "90", "0.001", "eth"),
        ],
    )
    assert p.fees == D("0.6")
    assert p.realized_pnl == D("20") - D("10") - D("0.6")
    assert p.unconverted_fees == {"BNB": D("0.002"), "ETH": D("0.001")}
    assert p.realized_pnl_usdt == p.realized_pnl and p.realized_pnl_krw == 0
    assert p.fees_usdt == D("0.6") and p.fees_krw == 0


def test_krw_quote_goes_to_krw_columns():
    p = compute("KRW", [f(0, "buy", "1", "1000", "5", "KRW"), f(1, "sell", "1", "1100")])
    assert p.realized_pnl_krw == D("95") and p.realized_pnl_usdt == 0
    assert p.fees_krw == D("5")


def test_non_trades_are_ignored_and_aggregates_filled():
    p = compute(
        "USDT",
        [
            f(0, "buy", "2", "10"),
            Fill(T0, "buy", D("5"), D("1"), event_type="transfer"),
            f(1, "sell", "1", "12"),
        ],
    )
    assert (p.buy_qty, p.sell_qty, p.buy_notional, p.sell_notional) == (
        D("2"),
        D("1"),
        D("20"),
        D("12"),
    )
    assert p.event_count == 2
    assert p.last_executed_at == T0 + timedelta(minutes=1)


def test_closed_position_avg_entry_is_over_closed_units():
    p = compute(
        "USDT", [f(0, "buy", "1", "100"), f(1, "buy", "1", "300"), f(2, "sell", "2", "250")]
    )
    assert p.status == "closed"
    assert p.avg_entry == D("200") and p.avg_exit == D("250")
    assert p.realized_pnl == D("100")


def test_empty():
    p = compute("USDT", [])
    assert p.status == "closed" and p.size == 0 and p.avg_entry is None and p.avg_exit is None


def reference_fifo(fills):
    """An independent FIFO: expand into unit-less (qty, price) queues per direction."""
    longs, shorts, pnl = [], [], D(0)
    for x in fills:
        q = x.qty
        book, other = (longs, shorts) if x.side == "buy" else (shorts, longs)
        while q and other:
            lot_q, lot_p = other[0]
            m = min(q, lot_q)
            pnl += (lot_p - x.price) * m if x.side == "buy" else (x.price - lot_p) * m
            q -= m
            if m == lot_q:
                other.pop(0)
            else:
                other[0] = (lot_q - m, lot_p)
        if q:
            book.append((q, x.price))
    return pnl, sum(q for q, _ in longs) - sum(q for q, _ in shorts)


qty = st.decimals(min_value=D("0.001"), max_value=D("50"), places=3)
price = st.decimals(min_value=D("0.01"), max_value=D("1000"), places=2)
fee = st.one_of(st.none(), st.decimals(min_value=D("0"), max_value=D("2"), places=4))
legs = st.lists(st.tuples(st.sampled_from(["buy", "sell"]), qty, price, fee), max_size=25)


@settings(max_examples=300, deadline=None)
@given(legs, price)
def test_closed_history_pnl_equals_notional_difference_minus_fees(legs, close_price):
    fills = [f(i, s, q, p, fe, "USDT") for i, (s, q, p, fe) in enumerate(legs)]
    net = sum((x.qty if x.side == "buy" else -x.qty) for x in fills)
    if net:  # close the rest so the history is flat
        fills.append(f(len(fills), "sell" if net > 0 else "buy", abs(net), close_price))
    p = compute("USDT", fills)
    assert p.status == "closed" and p.size == 0
    fees = sum((x.fee or 0) for x in fills)
    assert p.realized_pnl == p.sell_notional - p.buy_notional - fees


@settings(max_examples=300, deadline=None)
@given(legs)
def test_matches_an_independent_fifo(legs):
    fills = [f(i, s, q, p) for i, (s, q, p, _) in enumerate(legs)]
    p = compute("USDT", fills)
    pnl, size = reference_fifo(fills)
    assert p.realized_pnl == pnl
    assert p.size == size
    assert p.buy_qty - p.sell_qty == p.size
