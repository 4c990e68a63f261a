"""The demo journal: ``kifu demo`` and the admin simulation report (one simulation)."""
