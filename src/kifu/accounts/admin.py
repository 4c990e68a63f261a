"""The admin gate for routes: ``AdminUser`` is the caller's id when the caller holds the admin
role (``users.is_admin``, granted with ``kifu user admin``), else 403 ``FORBIDDEN``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from kifu.accounts import service
from kifu.kit.auth import CurrentUser
from kifu.kit.db import Conn


async def admin_user_id(user_id: CurrentUser, conn: Conn) -> uuid.UUID:
    await service.require_admin(conn, user_id)
    return user_id


AdminUser = Annotated[uuid.UUID, Depends(admin_user_id)]
