from tests.ingest.conftest import upload  # noqa: F401  (shared fixture; sql is in tests/conftest.py)
