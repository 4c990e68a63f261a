"""Settings from the environment, in one place.

Every setting kifu reads is declared here; nothing else calls ``os.environ``. Names follow the
reference system where it had one (``DATABASE_URL``, ``JWT_SECRET``, ``KIFU_ENC_KEY``,
``CORS_ALLOWED_ORIGINS``, ``PORT``) and are prefixed ``KIFU_`` otherwise.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    return Path(platformdirs.user_data_dir("kifu", appauthor=False))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="", case_sensitive=False, extra="ignore", populate_by_name=True
    )

    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    home: Path = Field(default_factory=_default_home, validation_alias="KIFU_HOME")

    host: str = Field(default="127.0.0.1", validation_alias="KIFU_HOST")
    # The KIFU web client defaults to http://127.0.0.1:8080/api, so 8080 lets it run unchanged.
    port: int = Field(default=8080, validation_alias=AliasChoices("PORT", "KIFU_PORT"))

    jwt_secret: str | None = Field(default=None, validation_alias="JWT_SECRET")
    enc_key: str | None = Field(default=None, validation_alias="KIFU_ENC_KEY")

    cors_allowed_origins: str = Field(
        default="http://localhost:5173,http://localhost:3000",
        validation_alias="CORS_ALLOWED_ORIGINS",
    )
    max_body_bytes: int = Field(default=200 * 1024 * 1024, validation_alias="KIFU_MAX_BODY_BYTES")
    # JSON (every body but a multipart upload): small, so a huge note is refused before it is read.
    max_json_bytes: int = Field(default=1024 * 1024, validation_alias="KIFU_MAX_JSON_BYTES")
    db_pool_size: int = Field(default=10, validation_alias="KIFU_DB_POOL_SIZE")
    # API processes of `kifu serve` (uvicorn workers; each has its own pool of db_pool_size).
    workers: int = Field(default=1, ge=1, validation_alias="KIFU_WORKERS")
    # Kept answers (kit.answers: review reads, bubble, note, trade and alert pages, the summary,
    # the timeline, positions, alert rules) per API process, in MB of JSON; 0 keeps none.
    answer_cache_mb: int = Field(default=8, ge=0, validation_alias="KIFU_ANSWER_CACHE_MB")
    # One line per request on stdout (kit.accesslog), written in batches; off behind a proxy that
    # logs them already.
    access_log: bool = Field(default=True, validation_alias="KIFU_ACCESS_LOG")
    # GET /api/v1/_floor, the benchmarks' constant-answer route (bench/api.py); off by default.
    floor_route: bool = Field(default=False, validation_alias="KIFU_FLOOR_ROUTE")
    ai_allowlist_required: bool = Field(
        default=True,
        validation_alias=AliasChoices("KIFU_AI_ALLOWLIST_REQUIRED", "AI_REQUIRE_ALLOWLIST"),
    )

    # Exchange base URLs (market data and exchange sync); tests point them at local stand-ins.
    binance_spot_url: str = Field(
        default="https://api.binance.com", validation_alias="KIFU_BINANCE_SPOT_URL"
    )
    binance_futures_url: str = Field(
        default="https://fapi.binance.com", validation_alias="KIFU_BINANCE_FUTURES_URL"
    )
    upbit_url: str = Field(default="https://api.upbit.com", validation_alias="KIFU_UPBIT_URL")
    # Exchange sync: poll interval per credential (0 turns the poller off), HTTP timeout, the
    # first retry delay (doubled per retry) and the longest exchange-requested wait slept through.
    sync_interval_seconds: int = Field(
        default=300, ge=0, validation_alias="KIFU_SYNC_INTERVAL_SECONDS"
    )
    exchange_timeout_seconds: float = Field(
        default=15.0, gt=0, validation_alias="KIFU_EXCHANGE_TIMEOUT_SECONDS"
    )
    exchange_retry_base_seconds: float = Field(
        default=0.5, ge=0, validation_alias="KIFU_EXCHANGE_RETRY_BASE_SECONDS"
    )
    exchange_max_wait_seconds: float = Field(
        default=60.0, ge=0, validation_alias="KIFU_EXCHANGE_MAX_WAIT_SECONDS"
    )
    # Time zone whose calendar days a summary pack range covers when the request names none.
    default_tz: str = Field(default="UTC", validation_alias="KIFU_DEFAULT_TZ")
    # Login rate limit (accounts): attempts per email and per client address in each window.
    login_max_per_email: int = Field(default=10, ge=1, validation_alias="KIFU_LOGIN_MAX_PER_EMAIL")
    login_max_per_address: int = Field(
        default=100, ge=1, validation_alias="KIFU_LOGIN_MAX_PER_ADDRESS"
    )
    login_window_seconds: int = Field(
        default=900, ge=1, validation_alias="KIFU_LOGIN_WINDOW_SECONDS"
    )

    # AI providers (kifu.ai): base URLs (a trailing /v1 or /v1beta is accepted too), service keys
    # (the reference's names), and an OpenAI-compatible server of the operator's own (Ollama,
    # LM Studio, vLLM, llama.cpp), enabled when KIFU_LOCAL_AI_URL is set.
    openai_url: str = Field(default="https://api.openai.com", validation_alias="KIFU_OPENAI_URL")
    anthropic_url: str = Field(
        default="https://api.anthropic.com", validation_alias="KIFU_ANTHROPIC_URL"
    )
    gemini_url: str = Field(
        default="https://generativelanguage.googleapis.com", validation_alias="KIFU_GEMINI_URL"
    )
    openai_api_key: SecretStr | None = Field(default=None, validation_alias="OPENAI_API_KEY")
    anthropic_api_key: SecretStr | None = Field(default=None, validation_alias="ANTHROPIC_API_KEY")
    gemini_api_key: SecretStr | None = Field(default=None, validation_alias="GEMINI_API_KEY")
    local_ai_url: str | None = Field(default=None, validation_alias="KIFU_LOCAL_AI_URL")
    local_ai_model: str = Field(default="llama3.1", validation_alias="KIFU_LOCAL_AI_MODEL")
    local_ai_key: SecretStr | None = Field(default=None, validation_alias="KIFU_LOCAL_AI_KEY")
    ai_timeout_seconds: float = Field(
        default=20.0, gt=0, validation_alias="KIFU_AI_TIMEOUT_SECONDS"
    )
    ai_retry_delay_seconds: float = Field(
        default=0.8, ge=0, validation_alias="KIFU_AI_RETRY_DELAY_SECONDS"
    )
    # Per-user token bucket of the two AI POSTs, shared by every API process (reference 3/min,
    # burst 2), and the optional monthly cap on service-key calls per user (0 = off).
    ai_rate_limit_rpm: float = Field(
        default=3, validation_alias=AliasChoices("KIFU_AI_RATE_LIMIT_RPM", "AI_RATE_LIMIT_RPM")
    )
    ai_rate_limit_burst: int = Field(
        default=2,
        validation_alias=AliasChoices("KIFU_AI_RATE_LIMIT_BURST", "AI_RATE_LIMIT_BURST"),
    )
    ai_service_monthly_cap: int = Field(
        default=0,
        ge=0,
        validation_alias=AliasChoices("KIFU_AI_SERVICE_MONTHLY_CAP", "AI_SERVICE_MONTHLY_CAP"),
    )
    # Alerts and notifications. The Telegram Bot API and ntfy base URLs are settings so tests (and
    # self-hosted Bot API / ntfy servers) can point them elsewhere.
    telegram_api_url: str = Field(
        default="https://api.telegram.org", validation_alias="KIFU_TELEGRAM_API_URL"
    )
    telegram_bot_token: str | None = Field(default=None, validation_alias="TELEGRAM_BOT_TOKEN")
    telegram_bot_username: str | None = Field(
        default=None, validation_alias="TELEGRAM_BOT_USERNAME"
    )
    # Telegram sends it in X-Telegram-Bot-Api-Secret-Token (setWebhook secret_token); unset, the
    # bot webhook refuses every call.
    telegram_webhook_secret: str | None = Field(
        default=None, validation_alias="TELEGRAM_WEBHOOK_SECRET"
    )
    ntfy_url: str = Field(default="https://ntfy.sh", validation_alias="KIFU_NTFY_URL")
    app_base_url: str = Field(default="http://localhost:5173", validation_alias="APP_BASE_URL")
    notify_timeout_seconds: float = Field(
        default=10.0, gt=0, validation_alias="KIFU_NOTIFY_TIMEOUT_SECONDS"
    )
    # Delivery tries per message, and the first retry delay (doubled per try, at most an hour):
    # 8 tries span about 40 minutes.
    notify_max_attempts: int = Field(default=8, ge=1, validation_alias="KIFU_NOTIFY_MAX_ATTEMPTS")
    notify_retry_base_seconds: float = Field(
        default=20.0, ge=0, validation_alias="KIFU_NOTIFY_RETRY_BASE_SECONDS"
    )
    # Try a message queued by a request (a bot reply, a channel test) right after answering,
    # instead of waiting for the delivery job's next tick; still claimed through the outbox.
    notify_deliver_inline: bool = Field(default=True, validation_alias="KIFU_NOTIFY_DELIVER_INLINE")

    @field_validator("port")
    @classmethod
    def _port_range(cls, v: int) -> int:
        if not 0 < v < 65536:
            raise ValueError("PORT must be between 1 and 65535")
        return v

    @property
    def embedded(self) -> bool:
        """True when kifu owns its PostgreSQL (no DATABASE_URL given)."""
        return not self.database_url

    @property
    def cors_origins(self) -> list[str]:
        return [o.strip() for o in self.cors_allowed_origins.split(",") if o.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
