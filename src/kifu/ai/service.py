"""AI use cases: the gates, one provider call (``complete``), opinions on a bubble, one-shot
advice (personal keys are in ``keys``).

Gating order of the two AI POSTs (reference §2.8): per-user rate limit → allowlist → validation →
quota and monthly cap → provider calls → quota. Credits are taken for the service-key calls
*before* the calls, all or none in one transaction (429 with nothing spent when short), and the
credits of calls that failed are given back with the opinions' insert, so in the end exactly the
successful service-key calls are paid for, and concurrent requests can never overspend.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from psycopg import AsyncConnection

from kifu.accounts import quota
from kifu.accounts import service as accounts
from kifu.ai import keys, prompts, providers, rules, store
from kifu.ai.keys import KeyChoice
from kifu.ai.providers import Completion, Limits, ProviderError
from kifu.ai.schemas import OneShotRequest, OpinionRequest
from kifu.config import Settings
from kifu.journal import queries as journal
from kifu.kit.errors import BadGateway, BadRequest, DomainError, NotFound, TooManyRequests
from kifu.kit.ids import parse_id
from kifu.kit.timeutil import TIMEFRAME_SECONDS, rfc3339, utc_now
from kifu.market import MarketError, open_market

log = logging.getLogger("kifu.ai")

MISSING_API_KEY = "MISSING_API_KEY"
PROVIDER_ERROR = "PROVIDER_ERROR"
CANDLES = 50
ONE_SHOT_TTL = timedelta(seconds=60)
MAX_EVIDENCE = 20000
MAX_FIELD = 64

# -- small parsing helpers -----------------------------------------------------------------------


# Other names an operator may use for the local OpenAI-compatible server.
LOCAL_ALIASES = frozenset(
    {
        "openai-compatible",
        "openai_compatible",
        "ollama",
        "lmstudio",
        "lm-studio",
        "vllm",
        "llama.cpp",
        "llamacpp",
    }
)


def _provider_name(raw: object, field: str = "provider") -> str:
    name = raw.strip().lower() if isinstance(raw, str) else None
    if name in LOCAL_ALIASES:
        name = providers.LOCAL
    if not name or name not in providers.ALL:
        raise BadRequest(
            "INVALID_REQUEST",
            f"{field}: unsupported provider {raw!r} (one of {', '.join(providers.ALL)})",
        )
    return name


async def models(conn: AsyncConnection, settings: Settings) -> dict[str, str]:
    """Enabled provider → model: ``ai_providers`` rows, plus the local server when configured."""
    found = {k: v for k, v in (await store.enabled_models(conn)).items() if k in providers.KEYED}
    if providers.local_enabled(settings):
        found[providers.LOCAL] = settings.local_ai_model
    return found


# -- gates ---------------------------------------------------------------------------------------


async def rate_limit(
    conn: AsyncConnection, user_id: uuid.UUID, settings: Settings, now: datetime
) -> None:
    """429 ``RATE_LIMITED`` when the user's bucket is empty (AI_RATE_LIMIT_RPM/BURST; values
    below 1 fall back to the reference's 3 per minute, burst 2)."""
    rpm = settings.ai_rate_limit_rpm if settings.ai_rate_limit_rpm >= 1 else 3
    burst = settings.ai_rate_limit_burst if settings.ai_rate_limit_burst >= 1 else 2
    rate = rpm / 60.0
    if await store.take_token(conn, user_id, now, rate, burst) is not None:
        return
    level = await store.bucket_level(conn, user_id, now, rate, burst)
    wait = max(1, math.ceil((1 - level) / rate))
    raise TooManyRequests("RATE_LIMITED", "too many requests", headers={"Retry-After": str(wait)})


async def reserve_credits(
    conn: AsyncConnection, user_id: uuid.UUID, n: int, settings: Settings, *, allowlist: bool
) -> None:
    """Take ``n`` credits, all or none: 429 ``QUOTA_EXCEEDED`` / ``BETA_CAP_EXCEEDED``, 404
    ``SUBSCRIPTION_NOT_FOUND``, with nothing spent."""
    if n <= 0:
        return
    required = allowlist and settings.ai_allowlist_required
    async with conn.transaction():
        for _ in range(n):
            await quota.spend_ai_credit(conn, user_id, allowlist_required=required)
        cap = settings.ai_service_monthly_cap
        if cap > 0:
            sub = await accounts.subscription(conn, user_id)
            if sub.ai_quota_limit - sub.ai_quota_remaining > cap:
                raise TooManyRequests(
                    "BETA_CAP_EXCEEDED",
                    f"the monthly cap of {cap} AI calls on this server is used up",
                )


async def _refund(conn: AsyncConnection, user_id: uuid.UUID, n: int) -> None:
    for _ in range(n):
        await quota.refund_ai_credit(conn, user_id)


# -- one call ------------------------------------------------------------------------------------


def limits(settings: Settings) -> Limits:
    return Limits(timeout=settings.ai_timeout_seconds)


async def call_provider(
    http: httpx.AsyncClient,
    provider: str,
    key: str | None,
    model: str,
    prompt: str,
    settings: Settings,
    *,
    retries: int = 0,
    answer_limits: Limits | None = None,
) -> Completion:
    """One provider call (retried ``retries`` times after a 502/503/504) under ``answer_limits``
    (default: the AI-review limits); any failure at all is a ``ProviderError`` with a message
    safe to show."""
    client = providers.build(provider, settings)
    for attempt in range(retries + 1):
        try:
            return await client.complete(
                http,
                api_key=key,
                model=model,
                prompt=prompt,
                limits=answer_limits or limits(settings),
            )
        except ProviderError as exc:
            if attempt < retries and exc.retryable:
                await asyncio.sleep(settings.ai_retry_delay_seconds)
                continue
            raise
        except Exception as exc:  # a provider bug must never become a 500
            log.exception("%s client failed", provider)
            raise ProviderError(
                f"{provider}: unexpected failure ({exc.__class__.__name__})"
            ) from None
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Answer:
    provider: str
    model: str
    text: str
    tokens_used: int | None
    service_key: bool


async def _paid_choice(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    name: str,
    settings: Settings,
    *,
    allowlist: bool,
) -> tuple[str, KeyChoice]:
    """The model and key of one call, with its credit taken when it uses the service key."""
    model = (await models(conn, settings)).get(name)
    if model is None:
        raise BadRequest("INVALID_REQUEST", f"provider: {name} is not enabled")
    choice = await keys.key_for(conn, user_id, name, settings)
    if choice.key is None and name != providers.LOCAL:
        raise BadRequest(MISSING_API_KEY, f"no API key for {name}: add one in settings")
    await reserve_credits(conn, user_id, 1 if choice.service else 0, settings, allowlist=allowlist)
    return model, choice


async def complete(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    provider: str,
    prompt: str,
    *,
    settings: Settings,
    http: httpx.AsyncClient | None = None,
    retries: int = 0,
    allowlist: bool = True,
) -> Answer:
    """Ask one provider for one user, paying like the AI endpoints do: a service-key call takes
    one credit first and gives it back if the call fails; a personal key is free.

    400 ``INVALID_REQUEST`` (unknown or disabled provider) or ``MISSING_API_KEY``; 429/403/404
    from the quota guard (``allowlist=False`` skips the allowlist); 502 ``PROVIDER_ERROR`` when
    the provider fails."""
    name = _provider_name(provider)
    model, choice = await _paid_choice(conn, user_id, name, settings, allowlist=allowlist)
    try:
        if http is None:
            async with httpx.AsyncClient() as own:
                done = await call_provider(
                    own, name, choice.key, model, prompt, settings, retries=retries
                )
        else:
            done = await call_provider(
                http, name, choice.key, model, prompt, settings, retries=retries
            )
    except ProviderError as exc:
        if choice.service:
            await _refund(conn, user_id, 1)
        raise BadGateway(PROVIDER_ERROR, exc.message) from None
    return Answer(name, model, done.text, done.tokens_used, choice.service)


@dataclass(frozen=True)
class Failure:
    provider: str
    code: str
    message: str


async def available(conn: AsyncConnection, user_id: uuid.UUID, settings: Settings) -> list[str]:
    """The enabled providers this user can be answered by (a personal or service key, or the
    operator's local server), by name: the reference's choice for alert briefings."""
    names = []
    for name in sorted(await models(conn, settings)):
        choice = await keys.key_for(conn, user_id, name, settings)
        if choice.key is not None or name == providers.LOCAL:
            names.append(name)
    return names


async def complete_each(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    names: list[str],
    prompt: str,
    *,
    settings: Settings,
    allowlist: bool = True,
    answer_limits: Limits | None = None,
) -> list[Answer | Failure]:
    """Ask several providers the same prompt, concurrently, each call paid like ``complete``:
    credits are taken one call at a time before any is asked (a call the quota, the monthly cap
    or the allowlist refuses is a ``Failure`` and costs nothing), and given back for the calls
    that fail. One result per name, in order; never raises for a provider or quota failure."""
    results: list[Answer | Failure | None] = []
    planned: list[tuple[int, str, str, KeyChoice]] = []
    for name in names:
        try:
            model, choice = await _paid_choice(conn, user_id, name, settings, allowlist=allowlist)
        except DomainError as exc:
            results.append(Failure(name, exc.code, exc.message))
            continue
        planned.append((len(results), name, model, choice))
        results.append(None)
    async with httpx.AsyncClient() as http:
        done = await asyncio.gather(
            *(
                call_provider(http, n, c.key, m, prompt, settings, answer_limits=answer_limits)
                for _, n, m, c in planned
            ),
            return_exceptions=True,
        )
    refunds = 0
    for (i, name, model, choice), got in zip(planned, done, strict=True):
        if isinstance(got, BaseException):
            message = got.message if isinstance(got, ProviderError) else "provider failed"
            results[i] = Failure(name, PROVIDER_ERROR, message)
            refunds += 1 if choice.service else 0
        else:
            results[i] = Answer(name, model, got.text, got.tokens_used, choice.service)
    await _refund(conn, user_id, refunds)
    return [r for r in results if r is not None]


# -- opinions ------------------------------------------------------------------------------------


def verdict_json(direction: str | None, probability: Decimal | None) -> dict[str, Any] | None:
    if not direction:
        return None
    return {
        "direction": direction,
        "probability": float(probability) if probability is not None else None,
    }


def opinion_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "provider": row["provider"],
        "model": row["model"],
        "response": row["response"],
        "tokens_used": row["tokens_used"],
        "created_at": rfc3339(row["created_at"]),
        "verdict": verdict_json(row["verdict_direction"], row["verdict_probability"]),
    }


async def own_bubble(conn: AsyncConnection, user_id: uuid.UUID, raw_id: str) -> dict[str, Any]:
    bubble = await journal.bubble_of(conn, user_id, parse_id(raw_id))
    if bubble is None:
        raise NotFound("BUBBLE_NOT_FOUND", "bubble not found")
    return bubble


def _requested(raw: list[Any] | None) -> list[str]:
    names: list[str] = []
    for i, item in enumerate(raw or []):
        name = _provider_name(item, f"providers.{i}")
        if name not in names:
            names.append(name)
    return names


async def _prompt_candles(
    conn: AsyncConnection, settings: Settings, bubble: dict[str, Any]
) -> list[prompts.CandleLine]:
    """Up to 50 candles of the bubble's timeframe that closed at or before its time (none of
    what came after can leak into the prompt); [] when the market cannot say."""
    timeframe = bubble["timeframe"] if bubble["timeframe"] in TIMEFRAME_SECONDS else "1h"
    step = timedelta(seconds=TIMEFRAME_SECONDS[timeframe])
    cutoff = min(bubble["candle_time"], utc_now())
    try:
        async with open_market(settings) as market:
            candles = await market.klines(
                conn, bubble["symbol"], timeframe, CANDLES, end_time=cutoff - step
            )
    except MarketError as exc:
        log.info("no candles for an opinion prompt on %s: %s", bubble["symbol"], exc.message)
        return []
    return [
        prompts.CandleLine(c.open_time, c.open, c.high, c.low, c.close, c.volume)
        for c in candles
        if c.open_time + step <= cutoff
    ][-CANDLES:]


@dataclass
class _Planned:
    provider: str
    model: str
    key: KeyChoice


async def ask_opinions(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    raw_bubble_id: str,
    body: OpinionRequest,
    settings: Settings,
) -> dict[str, Any]:
    """Ask each requested (else every enabled) provider about the bubble, concurrently; store
    each answer; report the failures per provider."""
    await rate_limit(conn, user_id, settings, utc_now())
    await quota.check_ai_allowed(conn, user_id, allowlist_required=settings.ai_allowlist_required)
    bubble_id = parse_id(raw_bubble_id)
    requested = _requested(body.providers)
    bubble = await journal.bubble_of(conn, user_id, bubble_id)
    if bubble is None:
        raise NotFound("BUBBLE_NOT_FOUND", "bubble not found")
    enabled = await models(conn, settings)
    names = requested or sorted(enabled)
    if not names:
        raise BadRequest("INVALID_REQUEST", "no providers available")

    errors: list[dict[str, str]] = []
    planned: list[_Planned] = []
    for name in names:
        if name not in enabled:
            errors.append(
                {"provider": name, "code": PROVIDER_ERROR, "message": "provider not enabled"}
            )
            continue
        choice = await keys.key_for(conn, user_id, name, settings)
        if choice.key is None and name != providers.LOCAL:
            errors.append(
                {"provider": name, "code": MISSING_API_KEY, "message": f"no API key for {name}"}
            )
            continue
        planned.append(_Planned(name, enabled[name], choice))

    candles = await _prompt_candles(conn, settings, bubble)
    prompt = prompts.opinion_prompt(
        symbol=bubble["symbol"],
        timeframe=bubble["timeframe"],
        candle_time=bubble["candle_time"],
        price=bubble["price"],
        memo=bubble["memo"],
        candles=candles,
    )
    momentum = rules.momentum_direction(candles[-1].open, candles[-1].close) if candles else None

    n_service = sum(1 for p in planned if p.key.service)
    await reserve_credits(conn, user_id, n_service, settings, allowlist=True)

    async with httpx.AsyncClient() as http:
        results = await asyncio.gather(
            *(
                call_provider(http, p.provider, p.key.key, p.model, prompt, settings)
                for p in planned
            ),
            return_exceptions=True,
        )

    opinions: list[dict[str, Any]] = []
    refunds = 0
    async with conn.transaction():
        for p, result in zip(planned, results, strict=True):
            if isinstance(result, BaseException):
                message = result.message if isinstance(result, ProviderError) else "provider failed"
                errors.append({"provider": p.provider, "code": PROVIDER_ERROR, "message": message})
                refunds += 1 if p.key.service else 0
                continue
            verdict = rules.parse_verdict(result.text)
            row = await store.insert_opinion(
                conn,
                bubble_id,
                store.NewOpinion(
                    provider=p.provider,
                    model=p.model,
                    prompt=prompt,
                    response=result.text,
                    tokens_used=result.tokens_used,
                    verdict_direction=verdict.direction if verdict else None,
                    verdict_probability=verdict.probability if verdict else None,
                    momentum_direction=momentum,
                ),
            )
            opinions.append(opinion_json(row))
        await _refund(conn, user_id, refunds)
    order = {name: i for i, name in enumerate(names)}
    errors.sort(key=lambda e: order.get(e["provider"], len(order)))
    return {"opinions": opinions, "errors": errors, "data_incomplete": len(candles) < CANDLES}


async def list_opinions(
    conn: AsyncConnection, user_id: uuid.UUID, raw_bubble_id: str
) -> dict[str, Any]:
    bubble = await own_bubble(conn, user_id, raw_bubble_id)
    return {"opinions": [opinion_json(r) for r in await store.opinions_of(conn, bubble["id"])]}


# -- one-shot ------------------------------------------------------------------------------------


def _required_text(raw: object, field: str, limit: int = MAX_FIELD) -> str:
    if isinstance(raw, int | float) and not isinstance(raw, bool) and field == "price":
        raw = str(raw)
    if not isinstance(raw, str) or not raw.strip():
        raise BadRequest("INVALID_REQUEST", f"{field}: required")
    value = raw.strip()
    if len(value) > limit:
        raise BadRequest("INVALID_REQUEST", f"{field}: at most {limit} characters")
    return value


def one_shot_key(
    user_id: uuid.UUID,
    provider: str,
    prompt_type: str,
    symbol: str,
    timeframe: str,
    price: str,
    evidence: str,
) -> str:
    text = "|".join(
        [str(user_id), provider, prompt_type, symbol.upper(), timeframe, price, evidence]
    )
    return hashlib.sha256(text.encode()).hexdigest()


async def one_shot(
    conn: AsyncConnection, user_id: uuid.UUID, body: OneShotRequest, settings: Settings
) -> dict[str, Any]:
    """Stateless advice for the bubble-creation modal; the same request within 60 s is answered
    from the cache (kept in PostgreSQL, so every API process shares it) without spending quota."""
    now = utc_now()
    await rate_limit(conn, user_id, settings, now)
    await quota.check_ai_allowed(conn, user_id, allowlist_required=settings.ai_allowlist_required)
    provider = _provider_name(body.provider if body.provider is not None else "openai")
    prompt_type = body.prompt_type if body.prompt_type is not None else "brief"
    if not isinstance(prompt_type, str) or prompt_type.strip().lower() not in prompts.PROMPT_TYPES:
        raise BadRequest("INVALID_REQUEST", "prompt_type: one of brief, detailed, technical")
    prompt_type = prompt_type.strip().lower()
    symbol = _required_text(body.symbol, "symbol").upper()
    timeframe = _required_text(body.timeframe, "timeframe")
    price = _required_text(body.price, "price")
    evidence = body.evidence_text if body.evidence_text is not None else ""
    if not isinstance(evidence, str):
        raise BadRequest("INVALID_REQUEST", "evidence_text: must be text")
    if len(evidence) > MAX_EVIDENCE:
        raise BadRequest("INVALID_REQUEST", f"evidence_text: at most {MAX_EVIDENCE} characters")

    key = one_shot_key(user_id, provider, prompt_type, symbol, timeframe, price, evidence)
    hit = await store.cached_answer(conn, key, now)
    if hit is not None:
        return {**hit, "cached": True}
    prompt = prompts.one_shot_prompt(
        prompt_type=prompt_type, symbol=symbol, timeframe=timeframe, price=price, evidence=evidence
    )
    answer = await complete(conn, user_id, provider, prompt, settings=settings, retries=1)
    result = {
        "provider": answer.provider,
        "model": answer.model,
        "prompt_type": prompt_type,
        "response": answer.text,
        "tokens_used": answer.tokens_used,
        "created_at": rfc3339(utc_now().replace(microsecond=0)),
    }
    await store.cache_answer(conn, key, user_id, result, utc_now() + ONE_SHOT_TTL)
    return {**result, "cached": False}


# -- simulated opinions (the sandbox user of ``kifu demo`` only) --------------------------------

SIMULATED = "simulated"  # provider and model name of every simulated opinion


async def record_simulated_opinion(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    bubble_id: uuid.UUID,
    text: str,
    *,
    asked_at: datetime,
) -> dict[str, Any]:
    """Store an opinion no provider gave, for a sandbox user's bubble: provider and model are
    ``simulated``, the text is marked, and it is dated when the simulated trader asked, so the
    real accuracy job scores it like any other. No call, no credit."""
    bubble = await journal.bubble_of(conn, user_id, bubble_id)
    if bubble is None:
        raise NotFound("BUBBLE_NOT_FOUND", "bubble not found")
    verdict = rules.parse_verdict(text)
    return await store.insert_opinion(
        conn,
        bubble_id,
        store.NewOpinion(
            provider=SIMULATED,
            model=SIMULATED,
            prompt="[simulated] no prompt was sent: kifu demo writes this opinion offline",
            response=text,
            tokens_used=0,
            verdict_direction=verdict.direction if verdict else None,
            verdict_probability=verdict.probability if verdict else None,
            momentum_direction=None,
            created_at=asked_at,
        ),
    )
