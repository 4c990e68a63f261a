"""The candle stand-in of ``bench/outcomes.py`` in a process of its own, as an exchange is.

    python bench/_candle_server.py

Prints the server's URL, then answers commands on stdin, one a line: ``stats`` prints the
answering time, its CPU time and the request count as JSON; ``reset`` zeroes them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.market.fake_exchange import FakeExchange, serve


def main() -> None:
    fake = FakeExchange(futures={"BTCUSDT", "ETHUSDT"}, spot={"ETHBTC"})
    serve(fake)
    print(fake.url, flush=True)
    for line in sys.stdin:
        with fake.lock:
            if line.strip() == "reset":
                fake.seconds = fake.cpu_seconds = 0.0
                fake.requests.clear()
            stats = {
                "seconds": fake.seconds,
                "cpu_seconds": fake.cpu_seconds,
                "requests": len(fake.requests),
            }
        print(json.dumps(stats), flush=True)


if __name__ == "__main__":
    main()
