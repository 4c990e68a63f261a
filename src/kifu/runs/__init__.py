"""Runs: one row per import or sync (``runs`` table), ``running`` → ``completed`` | ``failed``,
and their liveness. Used by ingest, exchanges and packs; ``service`` is the way in, ``store`` its
SQL."""

from __future__ import annotations

from kifu.runs.service import INTERRUPTED, complete, fail, fail_orphans, list_runs, start

__all__ = ["INTERRUPTED", "complete", "fail", "fail_orphans", "list_runs", "start"]
