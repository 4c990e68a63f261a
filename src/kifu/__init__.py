"""kifu: a self-hostable trading journal and AI review backend."""

__version__ = "0.1.0"
