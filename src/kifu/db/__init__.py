"""The database: embedded server, migration runner, connection pool."""
