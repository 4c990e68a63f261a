"""Files built to stall, crash or mislead the importer: each is a row issue or a 400 naming
the problem, answered quickly, with nothing half-written."""

import time

HEADER = "executed_at,symbol,side,qty,price,fee,fee_asset\n"
ROW = "2026-01-02T03:04:05Z,BTC/USDT,buy,1.50,100,0.1,USDT\n"


def _issues(body):
    return {i["row"]: i["reason"] for i in body["issues"]}


def test_exponent_and_long_numbers_are_row_issues_before_expansion(upload, sql):
    data = (
        HEADER
        + "2026-01-02T03:04:05Z,BTC/USDT,buy,1e1000000000,100,,\n"
        + f"2026-01-02T03:04:05Z,BTC/USDT,buy,1,{'9' * 5000},,\n"
        + "2026-01-02T03:04:05Z,BTC/USDT,buy,1,100,1e-999999999,USDT\n"
        + ROW
    ).encode()
    started = time.perf_counter()
    r = upload(data, venue="binance_futures")
    assert time.perf_counter() - started < 5
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["imported"], body["rejected"]) == (1, 3)
    issues = _issues(body)
    assert "qty" in issues[2] and "10^40" in issues[2]
    assert "price" in issues[3] and "characters" in issues[3]
    assert "fee" in issues[4] and "decimal places" in issues[4]


def test_dates_outside_what_python_and_postgresql_hold_are_row_issues(upload):
    data = (
        HEADER
        + "0001-01-01T00:00:00-05:00,BTC/USDT,buy,1,100,,\n"
        + "9999-12-31T23:00:00+09:00,BTC/USDT,buy,1,100,,\n"
        + "9999-12-31T23:00:00-09:00,BTC/USDT,buy,1,100,,\n"
        + "0001-01-01 00:00:00,BTC/USDT,buy,1,100,,\n"
        + ROW
    ).encode()
    r = upload(data, venue="binance_futures")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["imported"], body["rejected"]) == (1, 4)
    assert all("executed_at" in reason for reason in _issues(body).values())


def test_duplicated_header_column_is_a_400_naming_it(upload, sql):
    data = b"executed_at,symbol,side,qty,price,QTY\n2026-01-02T03:04:05Z,BTCUSDT,buy,1,2,3\n"
    r = upload(data, venue="binance_futures")
    assert r.status_code == 400
    assert r.json()["code"] == "DUPLICATE_COLUMN"
    assert "QTY" in r.json()["message"]
    assert sql("SELECT count(*) FROM trade_events")[0][0] == 0


def test_unterminated_quote_is_a_row_issue_naming_its_row(upload):
    data = (HEADER + ROW + '2026-01-03T03:04:05Z,"BTC/USDT,buy,1,100,,\n' + ROW + ROW).encode()
    r = upload(data, venue="binance_futures")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["rejected"] == 1
    assert "line 3" in _issues(body)[3] and "not closed" in _issues(body)[3]


def test_nul_in_a_cell_is_a_row_issue(upload):
    pad = HEADER + ROW * 1500  # the NUL is past the sniffed head
    data = (pad + "2026-01-02T03:04:06Z,BTC/USDT,buy,1\x00,100,,\n" + ROW).encode()
    r = upload(data, venue="binance_futures")
    assert r.status_code == 200, r.text
    reasons = list(_issues(r.json()).values())
    assert any("NUL" in reason for reason in reasons)


def test_cp949_is_recognised_when_the_first_64kb_are_ascii(upload):
    rows = ROW * 2000  # > 64 KB of ASCII before the first Hangul
    assert len(HEADER + rows) > 64 * 1024
    text = HEADER + rows + "2026-01-04T03:04:05Z,BTC/USDT,매수,1,100,,\n"
    r = upload(text.encode("cp949"), venue="binance_futures")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["encoding"] == "cp949"
    assert body["rejected"] == 0
