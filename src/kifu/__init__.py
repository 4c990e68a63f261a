"""kifu: a self-hostable trading journal and AI review backend."""

import sys

__version__ = "0.1.0"

# httpx imports its command-line client (httpx._main: click, rich's syntax highlighting and
# pygments, about 2 MB in every process) whenever those are installed, and typer installs them.
# kifu never runs httpx's CLI; a None entry makes that import fail, which httpx handles by
# leaving its `httpx` console script to print how to install it.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
