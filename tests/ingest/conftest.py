from pathlib import Path

import pytest

FILES = Path(__file__).parent / "files"


@pytest.fixture
def upload(client, user):
    """POST a file to the unified import as ``user``."""

    def post(data: bytes, name: str = "trades.csv", query: str = "", headers=None, **form):
        return client.post(
            "/api/v1/imports/trades" + query,
            headers=headers or user.headers,
            files={"file": (name, data, "text/csv")},
            data=form,
        )

    return post
