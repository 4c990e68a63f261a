"""Constants and small helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

TEST_JWT_SECRET = "test-jwt-secret-not-for-production-0123456789"
TEST_ENC_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # base64 of 32 bytes


@dataclass
class ApiUser:
    """A user made by the ``make_user`` fixture, with a valid access token."""

    id: uuid.UUID
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}
