"""A fingerprint of the whole database content: proves that a refused import changed nothing.

``passerelle checksum`` prints it; tests compare it before and after an operation.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, select

from matching.store.models import Base


def _cell(v: Any) -> Any:
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, bytes):
        return v.hex()
    return v


def database_checksum(engine: Engine, *, tables: list[str] | None = None) -> str:
    """SHA-256 over the rows of every table of the model, in primary-key order.

    Every table of :mod:`matching.store.models` counts (business entities, accounts, audit log,
    runs), so two equal checksums mean the database content is the same. Values are serialised
    as JSON (dates in ISO format, floats by ``repr``), tables in dependency order.

    Parameters
    ----------
    engine : sqlalchemy.Engine
    tables : list of str, optional
        Only these tables (default: all).

    Returns
    -------
    str
        64 hexadecimal characters.
    """
    digest = hashlib.sha256()
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if tables is not None and table.name not in tables:
                continue
            digest.update(f"\x00table:{table.name}\x00".encode())
            order = list(table.primary_key.columns) or list(table.columns)
            result = conn.execution_options(yield_per=5_000).execute(select(table).order_by(*order))
            for row in result:
                line = json.dumps([_cell(v) for v in row], default=str, ensure_ascii=False)
                digest.update(line.encode())
                digest.update(b"\n")
    return digest.hexdigest()
