from tests.ingest.conftest import sql, upload  # noqa: F401  (shared fixtures)
