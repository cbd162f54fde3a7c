"""`warroom export` / `warroom import`: a versioned JSON dump of every table, restorable into an
empty database of either kind (SQLite <-> PostgreSQL)."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from warroom.core.clock import as_utc, utcnow
from warroom.core.db import PRIVATE
from warroom.models import Base

FORMAT = "warroom-export"
VERSION = 1
BATCH = 1000
Progress = Callable[[str, int], None]


def _tables() -> list[sa.Table]:
    return list(Base.metadata.sorted_tables)


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, bytes):
        return {"$b64": base64.b64encode(value).decode()}
    return value


def _decode(column: sa.Column[Any], value: Any) -> Any:
    if value is None:
        return None
    if isinstance(column.type, sa.DateTime | sa.types.TypeDecorator) and isinstance(value, str):
        try:
            return as_utc(datetime.fromisoformat(value))
        except ValueError:
            return value
    if isinstance(value, dict) and set(value) == {"$b64"}:
        return base64.b64decode(value["$b64"])
    return value


def _rows(conn: sa.Connection, table: sa.Table) -> Iterator[dict[str, Any]]:
    order = list(table.primary_key.columns) or list(table.columns)[:1]
    result = conn.execution_options(stream_results=True).execute(sa.select(table).order_by(*order))
    for row in result.mappings():
        yield {k: _encode(v) for k, v in row.items()}


def private_text(path: Path) -> IO[str]:
    """A dump for writing, its owner's only (0600, even over an older file): it holds password and
    token hashes."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
    os.fchmod(fd, PRIVATE)
    return os.fdopen(fd, "w", encoding="utf-8")


def export(engine: Engine, out: IO[str], *, schema: list[str], progress: Progress | None = None) -> dict[str, int]:
    """Stream every table as JSON; returns the row count per table."""
    counts: dict[str, int] = {}
    out.write(
        json.dumps({"format": FORMAT, "version": VERSION, "schema": schema, "exported_at": utcnow().isoformat()})[:-1]
    )
    out.write(', "tables": {')
    with engine.connect() as conn:
        for i, table in enumerate(_tables()):
            out.write(("," if i else "") + json.dumps(table.name) + ": [")
            n = 0
            for row in _rows(conn, table):
                out.write(("," if n else "") + json.dumps(row, default=str))
                n += 1
                if progress and n % 10_000 == 0:
                    progress(table.name, n)
            out.write("]")
            counts[table.name] = n
            if progress:
                progress(table.name, n)
    out.write("}}\n")
    return counts


class ImportError_(Exception):
    """The dump cannot be restored here; the message says why."""


def restore(engine: Engine, data: dict[str, Any], *, progress: Progress | None = None) -> dict[str, int]:
    """Insert a dump into an empty, migrated database in one transaction."""
    if data.get("format") != FORMAT:
        raise ImportError_("not a warroom export (missing format marker)")
    if data.get("version") != VERSION:
        raise ImportError_(f"export version {data.get('version')} is not supported (this warroom reads {VERSION})")
    tables = data.get("tables") or {}
    known = {t.name: t for t in _tables()}
    unknown = sorted(set(tables) - set(known))
    if unknown:
        raise ImportError_(f"the dump has tables this version does not know: {unknown}; upgrade warroom first")
    counts: dict[str, int] = {}
    with engine.begin() as conn:
        for table in _tables():
            if conn.execute(sa.select(sa.func.count()).select_from(table)).scalar():
                raise ImportError_(f"the target database is not empty (table {table.name} has rows)")
        for table in _tables():
            rows = tables.get(table.name, [])
            cols = {c.name: c for c in table.columns}
            for start in range(0, len(rows), BATCH):
                batch = [
                    {k: _decode(cols[k], v) for k, v in r.items() if k in cols} for r in rows[start : start + BATCH]
                ]
                conn.execute(table.insert(), batch)
                if progress:
                    progress(table.name, start + len(batch))
            counts[table.name] = len(rows)
        if engine.dialect.name == "postgresql":
            _reset_sequences(conn)
    return counts


def _reset_sequences(conn: sa.Connection) -> None:
    """Identity sequences must continue after the restored ids (INC-n keeps counting)."""
    for table in _tables():
        pk = list(table.primary_key.columns)
        if len(pk) == 1 and isinstance(pk[0].type, sa.Integer) and pk[0].autoincrement in (True, "auto"):
            conn.execute(
                sa.text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', '{pk[0].name}'), "
                    f"COALESCE((SELECT MAX({pk[0].name}) FROM {table.name}), 0) + 1, false)"
                )
            )
