"""Expected ``public`` catalog of a kifu database after migrations 001-022 (filename order).

Every fact comes from shared/reference/kifu-schema.md: §4 (final columns, keys and indexes),
§2 (constraint and index names, ON DELETE actions, partial/DESC/GIN index details) and §3 (seed
rows). Constraints the original files leave unnamed carry PostgreSQL's default names, as the
document's conventions say.

Strings are exactly what PostgreSQL 15 prints: format_type() for column types, pg_get_expr() for
defaults, pg_get_constraintdef() for constraints and pg_get_indexdef() for indexes. The helpers
below only assemble those strings; their output was checked against a scratch PostgreSQL 15.

TABLES maps table name -> {
    "columns": [(name, type, not_null, default_or_None), ...] in attnum order,
    "constraints": {name: (contype, definition)},
    "indexes": {name: definition},  # includes the indexes behind PRIMARY KEY and UNIQUE
}
"""

UUID = "uuid"
TEXT = "text"
TEXT_ARRAY = "text[]"
TSTZ = "timestamp with time zone"
DATE = "date"
INT = "integer"
BIGINT = "bigint"
BOOL = "boolean"
JSONB = "jsonb"
NUMERIC = "numeric"
N18_8 = "numeric(18,8)"
N30_10 = "numeric(30,10)"

NOW = "now()"
GEN_UUID = "gen_random_uuid()"
NN = True  # NOT NULL
NULL = False  # nullable

ID = ("id", UUID, NN, GEN_UUID)
CREATED_AT = ("created_at", TSTZ, NN, NOW)
UPDATED_AT = ("updated_at", TSTZ, NN, NOW)
PK = ("p", "PRIMARY KEY (id)")

CASCADE = "CASCADE"
SET_NULL = "SET NULL"
RESTRICT = "RESTRICT"
NO_ACTION = None  # PostgreSQL prints no ON DELETE clause for NO ACTION


def vc(length: int) -> str:
    return f"character varying({length})"


def vc_default(value: str) -> str:
    return f"'{value}'::character varying"


def _fk(column: str, target: str, on_delete: str | None, target_column: str = "id"):
    action = f" ON DELETE {on_delete}" if on_delete else ""
    return "f", f"FOREIGN KEY ({column}) REFERENCES {target}({target_column}){action}"


def _unique(*columns: str):
    return "u", f"UNIQUE ({', '.join(columns)})"


def _check_in(column: str, *values: str):
    """CHECK (column IN (...)) on a VARCHAR column, as pg_get_constraintdef() prints it."""
    array = ", ".join(f"'{value}'::character varying" for value in values)
    return "c", f"CHECK ((({column})::text = ANY ((ARRAY[{array}])::text[])))"


def _table(name: str, columns: list, constraints: dict, indexes: dict | None = None):
    """Index specs read "[UNIQUE ]<method> (<keys>)[ WHERE (<predicate>)]".

    The unique btree indexes behind PRIMARY KEY / UNIQUE constraints are added automatically.
    """
    specs = {
        con_name: "UNIQUE btree " + definition[definition.index("(") :]
        for con_name, (contype, definition) in constraints.items()
        if contype in ("p", "u")
    }
    specs.update(indexes or {})
    index_defs = {}
    for index_name, spec in specs.items():
        unique = "UNIQUE " if spec.startswith("UNIQUE ") else ""
        using = spec.removeprefix("UNIQUE ")
        index_defs[index_name] = f"CREATE {unique}INDEX {index_name} ON public.{name} USING {using}"
    return name, {"columns": columns, "constraints": constraints, "indexes": index_defs}


_PERIODS = ("1h", "4h", "1d")
_ASSET_CLASSES = ("crypto", "stock")
_VENUE_TYPES = ("cex", "dex", "broker")
_SOURCES = ("csv", "api", "wallet")
_OPEN_CLOSED = ("open", "closed")

_TABLE_LIST = [
    # --- 001_init (+ 003, 004, 010, 012, 013_widen, 014, 015, 021) ---
    _table(
        "users",
        [
            ID,
            ("email", vc(255), NN, None),
            ("password_hash", TEXT, NN, None),
            ("name", vc(255), NN, None),
            CREATED_AT,
            UPDATED_AT,
            ("ai_allowlisted", BOOL, NN, "false"),  # 021
        ],
        {"users_pkey": PK, "users_email_key": _unique("email")},
        {"idx_users_ai_allowlisted_true": "btree (ai_allowlisted) WHERE (ai_allowlisted = true)"},
    ),
    _table(
        "ai_providers",
        [
            ID,
            ("name", vc(50), NN, None),
            ("model", vc(100), NN, None),
            ("enabled", BOOL, NN, "true"),
            ("is_default", BOOL, NN, "false"),
            CREATED_AT,
        ],
        {"ai_providers_pkey": PK, "ai_providers_name_model_key": _unique("name", "model")},
    ),
    _table(
        "refresh_tokens",
        [
            ID,
            ("user_id", UUID, NN, None),
            ("token_hash", vc(64), NN, None),
            ("expires_at", TSTZ, NN, None),
            CREATED_AT,
            ("revoked_at", TSTZ, NULL, None),
            ("last_used_at", TSTZ, NULL, None),
            ("replaced_by", UUID, NULL, None),
            ("revoked_reason", vc(50), NULL, None),
        ],
        {
            "refresh_tokens_pkey": PK,
            "refresh_tokens_user_id_fkey": _fk("user_id", "users", CASCADE),
            "refresh_tokens_replaced_by_fkey": _fk("replaced_by", "refresh_tokens", NO_ACTION),
            "refresh_tokens_token_hash_key": _unique("token_hash"),
        },
    ),
    _table(
        "exchange_credentials",
        [
            ID,
            ("user_id", UUID, NN, None),
            ("exchange", vc(50), NN, None),
            ("api_key_enc", TEXT, NN, None),
            ("api_secret_enc", TEXT, NN, None),
            ("api_key_last4", vc(4), NN, None),
            ("is_valid", BOOL, NN, "true"),
            CREATED_AT,
        ],
        {
            "exchange_credentials_pkey": PK,
            "exchange_credentials_user_id_fkey": _fk("user_id", "users", CASCADE),
            "exchange_credentials_user_id_exchange_key": _unique("user_id", "exchange"),
        },
    ),
    _table(
        "user_symbols",
        [
            ID,
            ("user_id", UUID, NN, None),
            ("symbol", vc(20), NN, None),
            ("timeframe_default", vc(10), NN, vc_default("1h")),
            CREATED_AT,
        ],
        {
            "user_symbols_pkey": PK,
            "user_symbols_user_id_fkey": _fk("user_id", "users", CASCADE),
            "user_symbols_user_id_symbol_key": _unique("user_id", "symbol"),
        },
    ),
    _table(
        "bubbles",
        [
            ID,
            ("user_id", UUID, NN, None),
            ("symbol", vc(20), NN, None),
            ("timeframe", vc(10), NN, None),
            ("candle_time", TSTZ, NN, None),
            ("price", NUMERIC, NN, None),  # 014 removed (18,8)
            ("bubble_type", vc(10), NN, None),
            ("memo", TEXT, NULL, None),
            ("tags", TEXT_ARRAY, NULL, None),
            CREATED_AT,
            ("asset_class", vc(20), NULL, None),  # 010
            ("venue_name", vc(50), NULL, None),  # 010
        ],
        {
            "bubbles_pkey": PK,
            "bubbles_user_id_fkey": _fk("user_id", "users", CASCADE),
            "bubbles_bubble_type_check": _check_in("bubble_type", "manual", "auto"),
        },
        {
            "idx_bubbles_tags": "gin (tags)",
            "idx_bubbles_asset_class": "btree (asset_class)",
            "idx_bubbles_venue_name": "btree (venue_name)",
        },
    ),
    _table(
        "trades",
        [
            ID,
            ("user_id", UUID, NN, None),
            ("bubble_id", UUID, NULL, None),
            ("binance_trade_id", BIGINT, NN, None),
            ("symbol", vc(20), NN, None),
            ("side", vc(10), NN, None),
            ("quantity", NUMERIC, NN, None),  # 18,8 -> 30,10 (013_widen) -> unconstrained (014)
            ("price", NUMERIC, NN, None),
            ("realized_pnl", NUMERIC, NULL, None),
            ("trade_time", TSTZ, NN, None),
            ("exchange", vc(30), NN, vc_default("binance_futures")),  # 003
            ("position_side", vc(10), NULL, None),  # 012
            ("open_close", vc(10), NULL, None),  # 012
            ("reduce_only", BOOL, NULL, None),  # 012
        ],
        {
            # 003 dropped trades_user_id_symbol_binance_trade_id_key.
            "trades_pkey": PK,
            "trades_user_id_fkey": _fk("user_id", "users", CASCADE),
            "trades_bubble_id_fkey": _fk("bubble_id", "bubbles", SET_NULL),
        },
        {
            "idx_trades_exchange": "btree (exchange)",
            "idx_trades_unique_exchange": (
                "UNIQUE btree (user_id, exchange, symbol, binance_trade_id)"
            ),
            "idx_trades_position_side": "btree (position_side)",
            "idx_trades_open_close": "btree (open_close)",
        },
    ),
    _table(
        "trade_sync_state",
        [
            ID,
            ("user_id", UUID, NN, None),
            ("symbol", vc(20), NN, None),
            ("last_trade_id", BIGINT, NN, None),
            ("last_sync_at", TSTZ, NN, NOW),
            ("exchange", vc(30), NN, vc_default("binance_futures")),  # 004
        ],
        {
            # 004 dropped trade_sync_state_user_id_symbol_key.
            "trade_sync_state_pkey": PK,
            "trade_sync_state_user_id_fkey": _fk("user_id", "users", CASCADE),
        },
        {"idx_trade_sync_state_unique": "UNIQUE btree (user_id, exchange, symbol)"},
    ),
    _table(
        "ai_opinions",
        [
            ID,
            ("bubble_id", UUID, NN, None),
            ("provider", vc(50), NN, None),
            ("model", vc(100), NN, None),
            ("prompt_template", TEXT, NN, None),
            ("response", TEXT, NN, None),
            ("tokens_used", INT, NULL, None),
            CREATED_AT,
        ],
        {
            "ai_opinions_pkey": PK,
            "ai_opinions_bubble_id_fkey": _fk("bubble_id", "bubbles", CASCADE),
        },
    ),
    _table(
        "user_ai_keys",
        [
            ID,
            ("user_id", UUID, NN, None),
            ("provider", vc(50), NN, None),
            ("api_key_enc", TEXT, NN, None),
            ("api_key_last4", vc(4), NN, None),
            CREATED_AT,
        ],
        {
            "user_ai_keys_pkey": PK,
            "user_ai_keys_user_id_fkey": _fk("user_id", "users", CASCADE),
            "user_ai_keys_user_id_provider_key": _unique("user_id", "provider"),
        },
    ),
    _table(
        "outcomes",
        [
            ID,
            ("bubble_id", UUID, NN, None),
            ("period", vc(10), NN, None),
            ("reference_price", N18_8, NN, None),
            ("outcome_price", N18_8, NN, None),
            ("pnl_percent", N18_8, NN, None),
            ("calculated_at", TSTZ, NN, NOW),
        ],
        {
            "outcomes_pkey": PK,
            "outcomes_bubble_id_fkey": _fk("bubble_id", "bubbles", CASCADE),
            "outcomes_period_check": _check_in("period", *_PERIODS),
            "outcomes_bubble_id_period_key": _unique("bubble_id", "period"),
        },
    ),
    _table(
        "subscriptions",
        [
            ID,
            ("user_id", UUID, NN, None),
            ("tier", vc(20), NN, None),
            ("ai_quota_remaining", INT, NN, None),
            ("last_reset_at", TSTZ, NN, NOW),
            ("expires_at", TSTZ, NULL, None),
            ("ai_quota_limit", INT, NN, "200"),  # 015
        ],
        {
            "subscriptions_pkey": PK,
            "subscriptions_user_id_fkey": _fk("user_id", "users", CASCADE),
            "subscriptions_tier_check": _check_in("tier", "free", "silver", "gold", "vip"),
            "subscriptions_user_id_key": _unique("user_id"),
        },
    ),
    # --- 005_ai_opinion_accuracies ---
    _table(
        "ai_opinion_accuracies",
        [
            ID,
            ("opinion_id", UUID, NN, None),
            ("outcome_id", UUID, NN, None),
            ("bubble_id", UUID, NN, None),
            ("provider", vc(50), NN, None),
            ("period", vc(10), NN, None),
            ("predicted_direction", vc(10), NN, None),
            ("actual_direction", vc(10), NN, None),
            ("is_correct", BOOL, NN, None),
            CREATED_AT,
        ],
        {
            "ai_opinion_accuracies_pkey": PK,
            "ai_opinion_accuracies_opinion_id_fkey": _fk("opinion_id", "ai_opinions", CASCADE),
            "ai_opinion_accuracies_outcome_id_fkey": _fk("outcome_id", "outcomes", CASCADE),
            "ai_opinion_accuracies_bubble_id_fkey": _fk("bubble_id", "bubbles", CASCADE),
            "ai_opinion_accuracies_opinion_id_outcome_id_key": _unique("opinion_id", "outcome_id"),
        },
        {
            "idx_ai_opinion_accuracies_bubble_id": "btree (bubble_id)",
            "idx_ai_opinion_accuracies_provider": "btree (provider)",
            "idx_ai_opinion_accuracies_period": "btree (period)",
            "idx_ai_opinion_accuracies_is_correct": "btree (is_correct)",
            "idx_ai_opinion_accuracies_created_at": "btree (created_at)",
        },
    ),
    # --- 006_review_notes ---
    _table(
        "review_notes",
        [
            ID,
            ("user_id", UUID, NN, None),
            ("bubble_id", UUID, NULL, None),
            ("title", vc(200), NN, None),
            ("content", TEXT, NN, None),
            ("tags", TEXT_ARRAY, NULL, None),
            ("lesson_learned", TEXT, NULL, None),
            ("emotion", vc(20), NULL, None),
            CREATED_AT,
            UPDATED_AT,
        ],
        {
            "review_notes_pkey": PK,
            "review_notes_user_id_fkey": _fk("user_id", "users", CASCADE),
            "review_notes_bubble_id_fkey": _fk("bubble_id", "bubbles", SET_NULL),
        },
        {
            "idx_review_notes_user_id": "btree (user_id)",
            "idx_review_notes_bubble_id": "btree (bubble_id)",
            "idx_review_notes_created_at": "btree (created_at DESC)",
            "idx_review_notes_tags": "gin (tags)",
        },
    ),
    # --- 007_alert_notification ---
    _table(
        "alert_rules",
        [
            ID,
            ("user_id", UUID, NN, None),
            ("name", vc(100), NN, None),
            ("symbol", vc(20), NN, None),
            ("rule_type", vc(30), NN, None),
            ("config", JSONB, NN, None),
            ("cooldown_minutes", INT, NN, "60"),
            ("enabled", BOOL, NN, "true"),
            ("last_triggered_at", TSTZ, NULL, None),
            ("last_check_state", JSONB, NULL, None),
            CREATED_AT,
            UPDATED_AT,
        ],
        {
            "alert_rules_pkey": PK,
            "alert_rules_user_id_fkey": _fk("user_id", "users", CASCADE),
            "alert_rules_rule_type_check": _check_in(
                "rule_type", "price_change", "ma_cross", "price_level", "volatility_spike"
            ),
        },
        {
            "idx_alert_rules_user": "btree (user_id)",
            "idx_alert_rules_active": "btree (user_id, enabled) WHERE (enabled = true)",
        },
    ),
    _table(
        "alerts",
        [
            ID,
            ("user_id", UUID, NN, None),
            ("rule_id", UUID, NN, None),
            ("symbol", vc(20), NN, None),
            ("trigger_price", N18_8, NN, None),
            ("trigger_reason", TEXT, NN, None),
            ("severity", vc(10), NN, vc_default("normal")),
            ("status", vc(20), NN, vc_default("pending")),
            ("notified_at", TSTZ, NULL, None),
            CREATED_AT,
        ],
        {
            "alerts_pkey": PK,
            "alerts_user_id_fkey": _fk("user_id", "users", CASCADE),
            "alerts_rule_id_fkey": _fk("rule_id", "alert_rules", CASCADE),
            "alerts_severity_check": _check_in("severity", "normal", "urgent"),
            "alerts_status_check": _check_in("status", "pending", "briefed", "decided", "expired"),
        },
        {
            "idx_alerts_user_status": "btree (user_id, status)",
            "idx_alerts_created": "btree (created_at DESC)",
        },
    ),
    _table(
        "alert_briefings",
        [
            ID,
            ("alert_id", UUID, NN, None),
            ("provider", vc(50), NN, None),
            ("model", vc(100), NN, None),
            ("prompt", TEXT, NN, None),
            ("response", TEXT, NN, None),
            ("tokens_used", INT, NULL, None),
            CREATED_AT,
        ],
        {
            "alert_briefings_pkey": PK,
            "alert_briefings_alert_id_fkey": _fk("alert_id", "alerts", CASCADE),
        },
        {"idx_alert_briefings_alert": "btree (alert_id)"},
    ),
    _table(
        "alert_decisions",
        [
            ID,
            ("alert_id", UUID, NN, None),
            ("user_id", UUID, NN, None),
            ("action", vc(20), NN, None),
            ("memo", TEXT, NULL, None),
            ("confidence", vc(10), NULL, None),
            ("executed_at", TSTZ, NULL, None),
            CREATED_AT,
        ],
        {
            "alert_decisions_pkey": PK,
            "alert_decisions_alert_id_fkey": _fk("alert_id", "alerts", CASCADE),
            "alert_decisions_user_id_fkey": _fk("user_id", "users", CASCADE),
            "alert_decisions_action_check": _check_in(
                "action", "buy", "sell", "hold", "close", "reduce", "add", "ignore"
            ),
            "alert_decisions_confidence_check": _check_in("confidence", "high", "medium", "low"),
            "alert_decisions_alert_id_key": _unique("alert_id"),
        },
    ),
    _table(
        "alert_outcomes",
        [
            ID,
            ("alert_id", UUID, NN, None),
            ("decision_id", UUID, NN, None),
            ("period", vc(10), NN, None),
            ("reference_price", N18_8, NN, None),
            ("outcome_price", N18_8, NN, None),
            ("pnl_percent", N18_8, NN, None),
            ("calculated_at", TSTZ, NN, NOW),
        ],
        {
            "alert_outcomes_pkey": PK,
            "alert_outcomes_alert_id_fkey": _fk("alert_id", "alerts", CASCADE),
            "alert_outcomes_decision_id_fkey": _fk("decision_id", "alert_decisions", CASCADE),
            "alert_outcomes_period_check": _check_in("period", *_PERIODS),
            "alert_outcomes_alert_id_period_key": _unique("alert_id", "period"),
        },
    ),
    _table(
        "notification_channels",
        [
            ID,
            ("user_id", UUID, NN, None),
            ("channel_type", vc(20), NN, None),
            ("config", JSONB, NN, "'{}'::jsonb"),
            ("enabled", BOOL, NN, "true"),
            ("verified", BOOL, NN, "false"),
            CREATED_AT,
        ],
        {
            "notification_channels_pkey": PK,
            "notification_channels_user_id_fkey": _fk("user_id", "users", CASCADE),
            "notification_channels_channel_type_check": _check_in(
                "channel_type", "telegram", "web_push"
            ),
            "notification_channels_user_id_channel_type_key": _unique("user_id", "channel_type"),
        },
    ),
    _table(
        "telegram_verify_codes",
        [
            ID,
            ("user_id", UUID, NN, None),
            ("code", vc(6), NN, None),
            ("expires_at", TSTZ, NN, None),
            ("used", BOOL, NN, "false"),
            CREATED_AT,
        ],
        {
            "telegram_verify_codes_pkey": PK,
            "telegram_verify_codes_user_id_fkey": _fk("user_id", "users", CASCADE),
        },
        {"idx_telegram_verify_code": "btree (code) WHERE (used = false)"},
    ),
    # --- 007_unified_portfolio (+ 008, 009) ---
    _table(
        "venues",
        [
            ID,
            ("code", vc(30), NN, None),
            ("venue_type", vc(10), NN, None),
            ("display_name", vc(60), NN, None),
            ("chain", vc(30), NULL, None),
            CREATED_AT,
        ],
        {
            "venues_pkey": PK,
            "venues_venue_type_check": _check_in("venue_type", *_VENUE_TYPES),
            "venues_code_key": _unique("code"),
        },
    ),
    _table(
        "accounts",
        [
            ID,
            ("user_id", UUID, NN, None),
            ("venue_id", UUID, NN, None),
            ("label", vc(60), NN, None),
            ("address", vc(120), NULL, None),
            ("source", vc(10), NN, None),
            CREATED_AT,
        ],
        {
            "accounts_pkey": PK,
            "accounts_user_id_fkey": _fk("user_id", "users", CASCADE),
            "accounts_venue_id_fkey": _fk("venue_id", "venues", RESTRICT),
            "accounts_source_check": _check_in("source", *_SOURCES),
            "accounts_user_id_venue_id_label_key": _unique("user_id", "venue_id", "label"),
        },
        {
            "idx_accounts_user": "btree (user_id)",
            "idx_accounts_venue": "btree (venue_id)",
        },
    ),
    _table(
        "instruments",
        [
            ID,
            ("asset_class", vc(10), NN, None),
            ("base_asset", vc(20), NN, None),
            ("quote_asset", vc(20), NN, None),
            ("symbol", vc(40), NN, None),
            CREATED_AT,
        ],
        {
            "instruments_pkey": PK,
            "instruments_asset_class_check": _check_in("asset_class", *_ASSET_CLASSES),
            "instruments_asset_class_symbol_key": _unique("asset_class", "symbol"),
        },
        {"idx_instruments_asset_class": "btree (asset_class)"},
    ),
    _table(
        "instrument_mappings",
        [
            ID,
            ("instrument_id", UUID, NN, None),
            ("venue_id", UUID, NN, None),
            ("venue_symbol", vc(40), NN, None),
            CREATED_AT,
        ],
        {
            "instrument_mappings_pkey": PK,
            "instrument_mappings_instrument_id_fkey": _fk("instrument_id", "instruments", CASCADE),
            "instrument_mappings_venue_id_fkey": _fk("venue_id", "venues", CASCADE),
            "instrument_mappings_venue_id_venue_symbol_key": _unique("venue_id", "venue_symbol"),
        },
        {
            "idx_instrument_mappings_instrument": "btree (instrument_id)",
            "idx_instrument_mappings_venue": "btree (venue_id)",
        },
    ),
    _table(
        "trade_events",
        [
            ID,
            ("user_id", UUID, NN, None),
            ("account_id", UUID, NULL, None),
            ("venue_id", UUID, NULL, None),
            ("instrument_id", UUID, NULL, None),
            ("asset_class", vc(10), NN, None),
            ("venue_type", vc(10), NN, None),
            ("event_type", vc(20), NN, None),
            ("side", vc(10), NULL, None),
            ("qty", N30_10, NULL, None),
            ("price", N30_10, NULL, None),
            ("fee", N30_10, NULL, None),
            ("fee_asset", vc(20), NULL, None),
            ("executed_at", TSTZ, NN, None),
            ("source", vc(10), NN, None),
            ("external_id", vc(120), NULL, None),
            ("metadata", JSONB, NULL, None),
            CREATED_AT,
            ("dedupe_key", vc(64), NULL, None),  # 008
        ],
        {
            "trade_events_pkey": PK,
            "trade_events_user_id_fkey": _fk("user_id", "users", CASCADE),
            "trade_events_account_id_fkey": _fk("account_id", "accounts", SET_NULL),
            "trade_events_venue_id_fkey": _fk("venue_id", "venues", SET_NULL),
            "trade_events_instrument_id_fkey": _fk("instrument_id", "instruments", SET_NULL),
            "trade_events_asset_class_check": _check_in("asset_class", *_ASSET_CLASSES),
            "trade_events_venue_type_check": _check_in("venue_type", *_VENUE_TYPES),
            "trade_events_event_type_check": _check_in(
                "event_type",
                "spot_trade",
                "perp_trade",
                "dex_swap",
                "lp_add",
                "lp_remove",
                "transfer",
                "fee",
            ),
            "trade_events_side_check": _check_in("side", "buy", "sell"),
            "trade_events_source_check": _check_in("source", *_SOURCES),
        },
        {
            "idx_trade_events_user_time": "btree (user_id, executed_at DESC)",
            "idx_trade_events_user_asset": "btree (user_id, asset_class)",
            "idx_trade_events_user_venue": "btree (user_id, venue_id)",
            "idx_trade_events_instrument": "btree (instrument_id)",
            "idx_trade_events_external_id": "btree (venue_id, external_id)",
            "idx_trade_events_dedupe": (  # 008
                "UNIQUE btree (user_id, dedupe_key) WHERE (dedupe_key IS NOT NULL)"
            ),
        },
    ),
    _table(
        "positions",
        [
            ID,
            ("user_id", UUID, NN, None),
            ("venue_id", UUID, NULL, None),
            ("instrument_id", UUID, NULL, None),
            ("status", vc(10), NN, None),
            ("size", N30_10, NN, "0"),
            ("avg_entry", N30_10, NULL, None),
            ("avg_exit", N30_10, NULL, None),
            ("opened_at", TSTZ, NULL, None),
            ("closed_at", TSTZ, NULL, None),
            ("realized_pnl_usdt", N30_10, NULL, None),
            ("realized_pnl_krw", N30_10, NULL, None),
            ("fees_usdt", N30_10, NULL, None),
            ("fees_krw", N30_10, NULL, None),
            CREATED_AT,
            UPDATED_AT,
            ("buy_qty", N30_10, NULL, None),  # 009
            ("sell_qty", N30_10, NULL, None),  # 009
            ("buy_notional", N30_10, NULL, None),  # 009
            ("sell_notional", N30_10, NULL, None),  # 009
            ("last_executed_at", TSTZ, NULL, None),  # 009
        ],
        {
            "positions_pkey": PK,
            "positions_user_id_fkey": _fk("user_id", "users", CASCADE),
            "positions_venue_id_fkey": _fk("venue_id", "venues", SET_NULL),
            "positions_instrument_id_fkey": _fk("instrument_id", "instruments", SET_NULL),
            "positions_status_check": _check_in("status", *_OPEN_CLOSED),
        },
        {
            "idx_positions_user_status": "btree (user_id, status)",
            "idx_positions_instrument": "btree (instrument_id)",
            "idx_positions_user_last_executed": "btree (user_id, last_executed_at DESC)",  # 009
        },
    ),
    _table(
        "position_events",
        [
            ID,
            ("position_id", UUID, NN, None),
            ("trade_event_id", UUID, NN, None),
            ("role", vc(20), NN, None),
            CREATED_AT,
        ],
        {
            "position_events_pkey": PK,
            "position_events_position_id_fkey": _fk("position_id", "positions", CASCADE),
            "position_events_trade_event_id_fkey": _fk("trade_event_id", "trade_events", CASCADE),
            "position_events_role_check": _check_in("role", "open", "add", "reduce", "close"),
            "position_events_position_id_trade_event_id_key": _unique(
                "position_id", "trade_event_id"
            ),
        },
    ),
    _table(
        "fx_rates",
        [
            ID,
            ("base", vc(10), NN, None),
            ("quote", vc(10), NN, None),
            ("rate", "numeric(20,8)", NN, None),
            ("captured_at", TSTZ, NN, None),
            CREATED_AT,
        ],
        {
            "fx_rates_pkey": PK,
            "fx_rates_base_quote_captured_at_key": _unique("base", "quote", "captured_at"),
        },
        {"idx_fx_rates_pair_time": "btree (base, quote, captured_at DESC)"},
    ),
    # --- 011_trade_safety_reviews ---
    _table(
        "trade_safety_reviews",
        [
            ID,
            ("user_id", UUID, NN, None),
            ("trade_id", UUID, NULL, None),
            ("trade_event_id", UUID, NULL, None),
            ("verdict", vc(20), NN, None),
            ("note", TEXT, NULL, None),
            CREATED_AT,
            UPDATED_AT,
        ],
        {
            "trade_safety_reviews_pkey": PK,
            "trade_safety_reviews_user_id_fkey": _fk("user_id", "users", CASCADE),
            "trade_safety_reviews_trade_id_fkey": _fk("trade_id", "trades", CASCADE),
            "trade_safety_reviews_trade_event_id_fkey": _fk(
                "trade_event_id", "trade_events", CASCADE
            ),
            "trade_safety_reviews_verdict_check": _check_in(
                "verdict", "intended", "mistake", "unsure"
            ),
            # "Exactly one of trade_id and trade_event_id is non-null". The document gives only
            # the meaning, so CHECK_TRUTH_TABLES below lets an equivalent expression pass.
            "trade_safety_reviews_check": (
                "c",
                "CHECK ((((trade_id IS NOT NULL) AND (trade_event_id IS NULL))"
                " OR ((trade_id IS NULL) AND (trade_event_id IS NOT NULL))))",
            ),
        },
        {
            "ux_trade_safety_reviews_trade": (
                "UNIQUE btree (user_id, trade_id) WHERE (trade_id IS NOT NULL)"
            ),
            "ux_trade_safety_reviews_trade_event": (
                "UNIQUE btree (user_id, trade_event_id) WHERE (trade_event_id IS NOT NULL)"
            ),
            "idx_trade_safety_reviews_user_updated": "btree (user_id, updated_at DESC)",
        },
    ),
    # --- 013_manual_positions ---
    _table(
        "manual_positions",
        [
            ID,
            ("user_id", UUID, NN, None),
            ("symbol", vc(40), NN, None),
            ("asset_class", vc(10), NN, None),
            ("venue", vc(30), NULL, None),
            ("position_side", vc(10), NN, None),
            ("size", N30_10, NULL, None),
            ("entry_price", N30_10, NULL, None),
            ("stop_loss", N30_10, NULL, None),
            ("take_profit", N30_10, NULL, None),
            ("leverage", "numeric(10,2)", NULL, None),
            ("strategy", TEXT, NULL, None),
            ("memo", TEXT, NULL, None),
            ("status", vc(10), NN, vc_default("open")),
            ("opened_at", TSTZ, NULL, None),
            ("closed_at", TSTZ, NULL, None),
            CREATED_AT,
            UPDATED_AT,
        ],
        {
            "manual_positions_pkey": PK,
            "manual_positions_user_id_fkey": _fk("user_id", "users", CASCADE),
            "manual_positions_asset_class_check": _check_in("asset_class", *_ASSET_CLASSES),
            "manual_positions_position_side_check": _check_in("position_side", "long", "short"),
            "manual_positions_status_check": _check_in("status", *_OPEN_CLOSED),
        },
        {
            "idx_manual_positions_user_status": "btree (user_id, status)",
            "idx_manual_positions_user_symbol": "btree (user_id, symbol)",
        },
    ),
    # --- 020_guided_review ---
    _table(
        "guided_reviews",
        [
            ID,
            ("user_id", UUID, NN, None),
            ("review_date", DATE, NN, None),
            ("status", vc(20), NN, vc_default("pending")),
            ("completed_at", TSTZ, NULL, None),
            CREATED_AT,
        ],
        {
            "guided_reviews_pkey": PK,
            "guided_reviews_user_id_fkey": _fk("user_id", "users", CASCADE),
            "guided_reviews_user_id_review_date_key": _unique("user_id", "review_date"),
        },
        {"idx_guided_reviews_user_date": "btree (user_id, review_date DESC)"},
    ),
    _table(
        "guided_review_items",
        [
            ID,
            ("review_id", UUID, NN, None),
            ("trade_id", UUID, NULL, None),
            ("bundle_key", vc(100), NULL, None),
            ("symbol", vc(50), NN, None),
            ("side", vc(10), NULL, None),
            ("pnl", NUMERIC, NULL, None),
            ("trade_count", INT, NN, "1"),
            ("intent", vc(50), NULL, None),
            ("emotions", JSONB, NULL, None),
            ("pattern_match", vc(50), NULL, None),
            ("memo", TEXT, NULL, None),
            ("order_index", INT, NN, "0"),
            CREATED_AT,
        ],
        {
            "guided_review_items_pkey": PK,
            "guided_review_items_review_id_fkey": _fk("review_id", "guided_reviews", CASCADE),
            "guided_review_items_trade_id_fkey": _fk("trade_id", "trades", SET_NULL),
        },
        {"idx_guided_review_items_review": "btree (review_id)"},
    ),
    _table(
        "user_streaks",
        [
            ("user_id", UUID, NN, None),
            ("current_streak", INT, NN, "0"),
            ("longest_streak", INT, NN, "0"),
            ("last_review_date", DATE, NULL, None),
            UPDATED_AT,
        ],
        {
            "user_streaks_pkey": ("p", "PRIMARY KEY (user_id)"),
            "user_streaks_user_id_fkey": _fk("user_id", "users", CASCADE),
        },
    ),
    # --- 022_create_runs_and_summary_packs ---
    _table(
        "runs",
        [
            ("run_id", UUID, NN, GEN_UUID),
            ("user_id", UUID, NN, None),
            ("run_type", vc(50), NN, None),
            ("status", vc(40), NN, None),
            ("started_at", TSTZ, NN, NOW),
            ("finished_at", TSTZ, NULL, None),
            ("meta", JSONB, NULL, None),
            CREATED_AT,
        ],
        {
            "runs_pkey": ("p", "PRIMARY KEY (run_id)"),
            "runs_user_id_fkey": _fk("user_id", "users", CASCADE),
        },
        {
            "idx_runs_user_started_at": "btree (user_id, started_at DESC)",
            "idx_runs_user_status": "btree (user_id, status)",
        },
    ),
    _table(
        "summary_packs",
        [
            ("pack_id", UUID, NN, GEN_UUID),
            ("user_id", UUID, NN, None),
            ("source_run_id", UUID, NN, None),
            ("range", vc(20), NN, None),
            ("schema_version", vc(30), NN, None),
            ("calc_version", vc(30), NN, None),
            ("content_hash", vc(64), NN, None),
            ("reconciliation_status", vc(20), NN, None),
            ("missing_suspects_count", INT, NN, "0"),
            ("duplicate_suspects_count", INT, NN, "0"),
            # "empty text array": DEFAULT_EQUIVALENTS accepts the ARRAY[] spelling too.
            ("normalization_warnings", TEXT_ARRAY, NN, "'{}'::text[]"),
            ("payload", JSONB, NN, None),
            CREATED_AT,
        ],
        {
            "summary_packs_pkey": ("p", "PRIMARY KEY (pack_id)"),
            "summary_packs_user_id_fkey": _fk("user_id", "users", CASCADE),
            "summary_packs_source_run_id_fkey": _fk("source_run_id", "runs", CASCADE, "run_id"),
            "summary_packs_reconciliation_status_check": _check_in(
                "reconciliation_status", "ok", "warning", "error"
            ),
        },
        {
            "idx_summary_packs_user_created_at": "btree (user_id, created_at DESC)",
            "idx_summary_packs_user_range_created_at": "btree (user_id, range, created_at DESC)",
            "idx_summary_packs_user_source_run": "btree (user_id, source_run_id)",
        },
    ),
]

TABLES: dict[str, dict] = dict(_TABLE_LIST)

EXTENSIONS = ("pgcrypto",)  # 001

# §4 totals: the named (non-constraint) indexes.
NAMED_INDEX_COUNT = 51

# §3: ai_providers rows from 002_seed as (name, model, enabled, is_default). No other migration
# inserts data.
AI_PROVIDER_SEED = (
    ("openai", "gpt-4o", True, True),
    ("claude", "claude-3-5-sonnet-latest", True, True),
    ("gemini", "gemini-1.5-pro", True, True),
)

# Defaults the document describes only by value; these spellings print differently but are the
# same value. {(table, column): other accepted pg_get_expr() texts}
DEFAULT_EQUIVALENTS = {
    ("summary_packs", "normalization_warnings"): ("ARRAY[]::text[]",),
}

# CHECKs the document describes only by meaning. A live expression that prints differently from
# TABLES is accepted when it gives the same verdict on every row here: (column values, passes).
_A = "00000000-0000-0000-0000-00000000000a"
_B = "00000000-0000-0000-0000-00000000000b"
CHECK_TRUTH_TABLES = {
    ("trade_safety_reviews", "trade_safety_reviews_check"): {
        "columns": ("trade_id", "trade_event_id"),
        "cases": (
            ((None, None), False),
            ((_A, None), True),
            ((None, _B), True),
            ((_A, _B), False),
        ),
    },
}

# §7.2 item 6: tables whose fixed-precision numeric columns 014 left capped. kifu's fix
# migrations (023+) must make every numeric(p,s) column of these tables unconstrained.
CAPPED_BY_014 = ("outcomes", "alerts", "alert_outcomes", "trade_events", "positions")

# §7.4 item 16: FK columns with no index that leads with them after 022 (cross-checked against
# §5 and TABLES by a test). kifu's fix migrations must give each one such an index.
FK_COLUMNS_WITHOUT_INDEX = (
    ("refresh_tokens", "user_id"),
    ("refresh_tokens", "replaced_by"),
    ("bubbles", "user_id"),
    ("trades", "bubble_id"),
    ("ai_opinions", "bubble_id"),
    ("ai_opinion_accuracies", "outcome_id"),
    ("alerts", "rule_id"),
    ("alert_decisions", "user_id"),
    ("alert_outcomes", "decision_id"),
    ("telegram_verify_codes", "user_id"),
    ("trade_events", "account_id"),
    ("positions", "venue_id"),
    ("position_events", "trade_event_id"),
    ("trade_safety_reviews", "trade_id"),
    ("trade_safety_reviews", "trade_event_id"),
    ("guided_review_items", "trade_id"),
    ("summary_packs", "source_run_id"),
)
