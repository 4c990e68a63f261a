"""Bringing trades in: CSV export formats, the unified and legacy importers, exchange clients."""
