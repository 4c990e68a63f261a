"""The alert monitor and the delivery job as ``kifu worker`` runs them: settings from the
environment only, two burst workers racing over two monitor jobs, one alert, one message."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from kifu.alerts import tasks as alert_tasks
from kifu.config import get_settings
from kifu.notify import tasks as notify_tasks
from kifu.worker.queue import connected, queue
from tests.alerts.planted_market import PlantedExchange
from tests.helpers import TEST_ENC_KEY, TEST_JWT_SECRET, ApiUser
from tests.notify.fake_services import FakeServices


@pytest.fixture
def worker_env(
    monkeypatch: pytest.MonkeyPatch, db: str, exchange: PlantedExchange, services: FakeServices
) -> Iterator[None]:
    for name, value in {
        "DATABASE_URL": db,
        "JWT_SECRET": TEST_JWT_SECRET,
        "KIFU_ENC_KEY": TEST_ENC_KEY,
        "KIFU_BINANCE_SPOT_URL": exchange.url,
        "KIFU_BINANCE_FUTURES_URL": exchange.url,
        "KIFU_UPBIT_URL": exchange.url,
        "KIFU_TELEGRAM_API_URL": services.url,
        "TELEGRAM_BOT_TOKEN": services.bot_token,
        "KIFU_NOTIFY_RETRY_BASE_SECONDS": "0",
    }.items():
        monkeypatch.setenv(name, value)
    queue.perform_import_paths()
    monkeypatch.setattr(queue.periodic_registry, "periodic_tasks", {})  # only our jobs
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _work(db: str, jobs: list[tuple[object, dict[str, object]]], workers: int) -> None:
    async def go() -> None:
        async with connected(db) as app:
            for n, (task, kwargs) in enumerate(jobs):  # as two ticks' jobs left waiting
                job = task.configure(queueing_lock=f"test-job-{n}")  # type: ignore[attr-defined]
                await job.defer_async(**kwargs)
            await asyncio.gather(
                *(
                    app.run_worker_async(
                        concurrency=1,
                        wait=False,
                        name=f"test-worker-{n}",
                        additional_context={"conninfo": db},
                        install_signal_handlers=False,
                    )
                    for n in range(workers)
                )
            )

    asyncio.run(go())


def test_two_workers_one_alert_one_message(
    worker_env: None,
    db: str,
    client: TestClient,
    user: ApiUser,
    exchange: PlantedExchange,
    services: FakeServices,
) -> None:
    with psycopg.connect(db) as conn:
        conn.execute(
            "INSERT INTO notification_channels (user_id, channel_type, config, verified)"
            " VALUES (%s, 'telegram', '{\"chat_id\": 42}', true)",
            (user.id,),
        )
    exchange.set_price("BTCUSDT", "71000")
    r = client.post(
        "/api/v1/alert-rules",
        json={
            "name": "70k",
            "symbol": "BTCUSDT",
            "rule_type": "price_level",
            "config": {"price": "70000", "direction": "gte"},
        },
        headers=user.headers,
    )
    assert r.status_code == 201
    services.fail("/bot", 502)  # the monitor's own try fails; the delivery job retries
    now = int(time.time())
    _work(db, [(alert_tasks.monitor, {"timestamp": now})] * 2, workers=2)
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*), min(status) FROM alerts").fetchone() == (
            1,
            "briefed",
        )
        assert conn.execute("SELECT status FROM notification_outbox").fetchall() == [("pending",)]
    _work(db, [(notify_tasks.deliver_outbox, {"timestamp": now})] * 2, workers=2)
    (sent,) = services.got("/bot")
    assert sent.json()["chat_id"] == 42 and "BTCUSDT" in sent.json()["text"]
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT status, attempts FROM notification_outbox").fetchall() == [
            ("sent", 2)
        ]
