"""``kifu keys rotate``: re-encrypt every stored secret under a new ``KIFU_ENC_KEY``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import psycopg
import typer
from rich.console import Console

from kifu import runtime
from kifu.config import get_settings
from kifu.db.embedded import EmbeddedError
from kifu.kit import crypto

app = typer.Typer(no_args_is_help=True, help="Encryption keys of stored secrets.")
console = Console(stderr=True)
out = Console()

# (table, primary key, encrypted columns): every column kifu encrypts with KIFU_ENC_KEY.
ENCRYPTED = (
    ("exchange_credentials", "id", ("api_key_enc", "api_secret_enc")),
    ("user_ai_keys", "id", ("api_key_enc",)),
)


class RotateError(RuntimeError):
    pass


def rotate(conninfo: str, old_b64: str, new_b64: str) -> dict[str, int]:
    """Re-encrypt in one transaction; values already under the new key (an interrupted earlier
    rotation) are left alone; any value readable by neither key aborts everything."""
    old, new = crypto.load_key(old_b64), crypto.load_key(new_b64)
    counts: dict[str, int] = {}
    with psycopg.connect(conninfo) as conn, conn.transaction():
        for table, pk, cols in ENCRYPTED:
            exists = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
            if not exists or exists[0] is None:
                continue
            rows = conn.execute(
                f"SELECT {pk}, {', '.join(cols)} FROM {table} FOR UPDATE"
            ).fetchall()
            n = 0
            for row in rows:
                values = []
                for value in row[1:]:
                    try:
                        plain = crypto.decrypt(old, value)
                    except crypto.CryptoError:
                        try:
                            crypto.decrypt(new, value)
                        except crypto.CryptoError:
                            raise RotateError(
                                f"{table} {row[0]}: a value cannot be decrypted with the current"
                                " key; nothing was changed"
                            ) from None
                        values.append(value)
                        continue
                    values.append(crypto.encrypt(new, plain))
                sets = ", ".join(f"{c} = %s" for c in cols)
                conn.execute(f"UPDATE {table} SET {sets} WHERE {pk} = %s", (*values, row[0]))
                n += 1
            counts[table] = n
    return counts


def _write_secret_file(path: Path, key_b64: str) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key_b64 + "\n")
    os.replace(tmp, path)


@app.command("rotate")
def rotate_command(
    new_key_file: Path = typer.Option(
        None,
        help="File holding the new base64 key; default KIFU_NEW_ENC_KEY, else a new random key.",
    ),
) -> None:
    """Re-encrypt every stored API key and secret under a new key.

    Embedded mode with a generated key: the new key replaces it in KIFU_HOME/secrets.json.
    Otherwise set KIFU_ENC_KEY to the new key (written to KIFU_HOME/enc_key.new when kifu
    generated it) before the next start. The key itself is never printed."""
    settings = get_settings()
    env_key_given = bool(settings.enc_key)
    try:
        settings = runtime.with_secrets(settings)
        if new_key_file:
            new_b64 = new_key_file.read_text().strip()
        else:
            new_b64 = os.environ.get("KIFU_NEW_ENC_KEY", "").strip() or crypto.new_key()
        crypto.load_key(new_b64)
        with runtime.database(settings) as conninfo:
            counts = rotate(conninfo, settings.enc_key or "", new_b64)
    except (runtime.ConfigError, EmbeddedError, crypto.CryptoError, RotateError, OSError) as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(code=1) from exc
    except psycopg.OperationalError as exc:
        console.print("[bold red]error:[/] cannot connect to the database; check DATABASE_URL")
        raise typer.Exit(code=1) from exc
    total = sum(counts.values())
    out.print(f"re-encrypted {total} row(s): " + ", ".join(f"{t} {n}" for t, n in counts.items()))
    secrets_path = settings.home / "secrets.json"
    if settings.embedded and not env_key_given and secrets_path.exists():
        stored = json.loads(secrets_path.read_text())
        stored["enc_key"] = new_b64
        tmp = secrets_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(stored, fh, indent=2)
        os.replace(tmp, secrets_path)
        out.print(f"the new key is stored in {secrets_path}")
    elif not new_key_file and not os.environ.get("KIFU_NEW_ENC_KEY"):
        path = settings.home / "enc_key.new"
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_secret_file(path, new_b64)
        out.print(f"set KIFU_ENC_KEY to the key in {path} before restarting kifu")
    else:
        out.print("set KIFU_ENC_KEY to the new key before restarting kifu")
