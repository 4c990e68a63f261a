"""Background jobs on a PostgreSQL-backed queue (procrastinate)."""
