"""Build the schema with ``kifu db upgrade`` and with ``psql -f`` of the same files, in one run.

    .venv/bin/python bench/migrate.py [--rounds 5]

Prints both times (median of the rounds, each on a fresh database of one throw-away embedded
server) and their ratio. The runner does more than psql (a transaction, a checksum row and an
advisory lock per file), so a ratio near 1 means that bookkeeping is cheap.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from _common import fresh_database
from kifu.db import runner
from kifu.db.embedded import EmbeddedPostgres, find_binaries
from kifu.db.files import MIGRATIONS_DIR, discover


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    psql = find_binaries().tool("psql")
    files = [str(MIGRATIONS_DIR / f.filename) for f in discover()]
    runner_times, psql_times = [], []
    with tempfile.TemporaryDirectory() as home, EmbeddedPostgres(Path(home)) as pg:
        admin = pg.conninfo("postgres")
        for _ in range(args.rounds):
            target = fresh_database(admin)
            start = time.perf_counter()
            runner.upgrade(target)
            runner_times.append(time.perf_counter() - start)

            target = fresh_database(admin)
            cmd = [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", target]
            for f in files:
                cmd += ["-f", f]
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            psql_times.append(time.perf_counter() - start)
    r, p = statistics.median(runner_times), statistics.median(psql_times)
    print(f"files:                 {len(files)}")
    print(f"kifu db upgrade:       {r * 1000:8.1f} ms (median of {args.rounds})")
    print(f"psql -f (same files):  {p * 1000:8.1f} ms (median of {args.rounds})")
    print(f"ratio upgrade / psql:  {r / p:8.2f}")


if __name__ == "__main__":
    main()
