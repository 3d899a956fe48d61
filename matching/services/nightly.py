"""The nightly run as a use case: run rows, liveness, bulk writes, atomic publication, pruning.

One call of :func:`run_nightly`:

1. **starts a run** (``runs`` row with status ``running``, pid, host, heartbeat) inside one
   exclusive transaction that also inspects the other ``running`` runs: one whose process is
   gone (same host and dead pid) or whose heartbeat is older than ``stale_after`` is marked
   ``abandoned``; a live one makes this call fail with
   :class:`~matching.exceptions.RunInProgressError`. Exclusivity: a PostgreSQL advisory lock,
   or SQLite's single writer (the transaction starts with the insert). A heartbeat thread then
   refreshes ``heartbeat_at`` every few seconds;
2. removes the rows of abandoned or failed runs, runs the GDPR purge when
   :mod:`matching.fairness.gdpr` is installed, reads the snapshot, fits the engine;
3. computes the results (:func:`matching.batch.compute_results`, incremental when possible),
   the training paths, and writes them with bulk inserts (``COPY`` on PostgreSQL,
   ``executemany`` on SQLite) while readers keep reading the run named by ``publication``.
   Result rows are shared by the runs of a generation (revision 0604,
   :class:`matching.store.models.RunShortlist`): a full run inserts every row under its id; an
   incremental run inserts the rows that changed and *closes* (``to_run``) the ones it drops,
   which the published run still shows, since it is older;
4. builds the report (counts, stage durations, model, what changed and why) and **publishes in
   one transaction**: run status ``complete`` + report, and the ``publication`` pointer moved;
5. prunes: complete runs beyond the ``keep`` most recent lose their result rows.

A run killed at any point (even ``kill -9``) leaves the published run untouched: its rows are
under an unpublished id, the rows it closed stay visible to older runs, and the next run marks
it abandoned, deletes its rows and opens again the rows it had closed.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, or_, select, text, update
from sqlalchemy.exc import DBAPIError, OperationalError

from matching.batch import (
    BatchOptions,
    BlockFrames,
    EngineSource,
    PreviousRun,
    compute_results,
    incremental_scope,
    scoped_engine,
)
from matching.batch.changes import context_fingerprint, entity_fingerprints, shortlist_changes
from matching.batch.compute import release_workers, remove_stale_files
from matching.batch.incremental import _group_starts, reusable_pairs
from matching.batch.paths import compute_paths, compute_paths_parallel, path_pairs
from matching.config import Settings
from matching.exceptions import (
    ConfigurationError,
    DatabaseUnavailableError,
    RunError,
    RunInProgressError,
)
from matching.store import models as m
from matching.store.db import make_engine, upgrade
from matching.store.snapshot import load_snapshot

#: Events sent to ``on_event``: dicts with at least ``event`` (run_start, stage_start,
#: stage_end, progress, recovered, run_end) and ``run_id``.
EventFn = Callable[[dict], None]
#: ``(settings, referential) -> unfitted engine`` honouring the engine contract.
EngineFactory = Callable[[Settings, Any], Any]

STAGES = (
    "recover",
    "purge",
    "snapshot",
    "changes",
    "fit",
    "match",
    "paths",
    "write",
    "report",
    "publish",
    "prune",
)
ADVISORY_LOCK_KEY = 60_601


def utcnow() -> datetime:
    """Naive UTC timestamp (the columns are timezone-less; every host writes UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class NightlyResult:
    """Outcome of :func:`run_nightly`."""

    run_id: int
    report: dict
    published: bool = True
    abandoned: list[int] = field(default_factory=list)


# --- liveness --------------------------------------------------------------------------------
def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host (zombies count as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped) is dead for our purpose
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def run_is_dead(run: m.Run, *, now: datetime, host: str, stale_after: timedelta) -> str | None:
    """French reason why a ``running`` run is dead, or ``None`` if it may still be alive."""
    if run.host == host and run.pid is not None and not pid_alive(run.pid):
        return f"processus {run.pid} absent sur {host}"
    beat = run.heartbeat_at or run.started_at
    if beat is not None and now - beat > stale_after:
        return f"dernier signe de vie le {beat:%Y-%m-%d %H:%M:%S} UTC (délai {stale_after})"
    if run.pid is None and run.host is None:
        return "exécution sans identifiant de processus"
    return None


def _lock(conn) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK_KEY})


def start_run(
    store: Engine, *, stale_after: timedelta, kind: str | None = None
) -> tuple[int, list[tuple[int, str]]]:
    """Insert a ``running`` run for this process; mark dead running runs ``abandoned``.

    Returns the new run id and the (id, reason) of runs marked abandoned. Raises
    :class:`RunInProgressError` when another run is alive.
    """
    host = socket.gethostname()
    now = utcnow()
    abandoned: list[tuple[int, str]] = []
    with store.begin() as conn:
        _lock(conn)
        run_id = conn.execute(
            m.Run.__table__.insert()
            .values(
                status="running",
                started_at=now,
                pid=os.getpid(),
                host=host,
                heartbeat_at=now,
                stage="recover",
                kind=kind,
                model_name="",
            )
            .returning(m.Run.__table__.c.id)
        ).scalar_one()
        others = conn.execute(
            select(m.Run.__table__).where(m.Run.status == "running", m.Run.id != run_id)
        ).all()
        for row in others:
            reason = run_is_dead(row, now=now, host=host, stale_after=stale_after)
            if reason is None:
                raise RunInProgressError(
                    f"une exécution nocturne est déjà en cours (n° {row.id}, processus {row.pid} "
                    f"sur {row.host}, dernier signe de vie le {row.heartbeat_at:%Y-%m-%d %H:%M:%S} "
                    "UTC) : attendre sa fin ou, si elle est bloquée, l'arrêter"
                )
            conn.execute(
                update(m.Run)
                .where(m.Run.id == row.id)
                .values(
                    status="abandoned",
                    finished_at=now,
                    report={"abandoned": reason, "stage": row.stage},
                )
            )
            abandoned.append((int(row.id), reason))
    return int(run_id), abandoned


class Heartbeat:
    """Background thread refreshing ``runs.heartbeat_at`` (and the current stage)."""

    def __init__(self, store: Engine, run_id: int, interval_s: float) -> None:
        self.store, self.run_id, self.interval = store, run_id, interval_s
        self.stage: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="nightly-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def beat(self, stage: str | None = None) -> None:
        if stage is not None:
            self.stage = stage
        values: dict[str, Any] = {"heartbeat_at": utcnow()}
        if self.stage is not None:
            values["stage"] = self.stage
        with self.store.begin() as conn:
            conn.execute(update(m.Run).where(m.Run.id == self.run_id).values(**values))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.beat()
            except Exception:
                continue


# --- reading ---------------------------------------------------------------------------------
def published_run_id(store: Engine) -> int | None:
    """Id of the published run (the one readers see), or ``None``."""
    with store.connect() as conn:
        return conn.execute(select(m.Publication.run_id).where(m.Publication.id == 1)).scalar()


def _read(conn, sql: str, params: dict, columns: list[str]) -> pd.DataFrame:
    rows = conn.execute(text(sql), params).fetchall()
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    # Row objects are tuples: build the columns directly (from_records inspects every row)
    cols = list(zip(*rows, strict=True))
    return pd.DataFrame(dict(zip(columns, cols, strict=True)))


def ranked(df: pd.DataFrame, *, group: str, member: str, first: str | None = None) -> pd.DataFrame:
    """``df`` sorted into its lists (score descending, ties by ``member`` ascending: the order of
    :func:`matching.batch.compute.top_k`) with the 1-based ``rank`` that order gives; ``first``:
    a column ordered before the score within a list (the shortlist before the reserve)."""
    if df.empty:
        return df.assign(rank=pd.Series(dtype=np.int64))
    keys = [df[member].to_numpy(np.int64), -df["score"].to_numpy(np.float64)]
    if first is not None:
        keys.append(df[first].to_numpy())
    order = np.lexsort((*keys, df[group].to_numpy(np.int64)))
    df = df.iloc[order].reset_index(drop=True)
    _, position = _group_starts(df[group].to_numpy(np.int64))
    return df.assign(rank=position + 1)


def read_results(
    store: Engine, run_id: int, *, texts: bool = True
) -> tuple[BlockFrames, pd.DataFrame]:
    """Shortlists, matches and paths a run shows (JSON kept as stored text on SQLite), ranked.

    ``texts=False`` leaves explanations and paths out (``None``).
    """
    expl = "s.explanation" if texts else "NULL"
    path = "s.path" if texts else "NULL"
    r = ":r"  # text() parameters
    with store.connect() as conn:
        sl = _read(
            conn,
            f"SELECT s.need_id, s.jobseeker_id, s.score, {expl} FROM run_shortlists s "
            f"WHERE {m.visible_sql('s', r)}",
            {"r": run_id},
            ["need_id", "jobseeker_id", "score", "explanation"],
        )
        mt = _read(
            conn,
            f"SELECT s.jobseeker_id, s.need_id, s.score FROM run_matches s "
            f"WHERE {m.visible_sql('s', r)}",
            {"r": run_id},
            ["jobseeker_id", "need_id", "score"],
        )
        paths = _read(
            conn,
            f"SELECT s.jobseeker_id, s.need_id, s.feasible, {path} FROM run_paths s "
            f"WHERE {m.visible_sql('s', r)}",
            {"r": run_id},
            ["jobseeker_id", "need_id", "feasible", "path"],
        )
    for df in (sl, mt):
        for c in ("need_id", "jobseeker_id"):
            df[c] = df[c].astype(np.int64)
        df["score"] = df["score"].astype(np.float64)
    sl = ranked(sl, group="need_id", member="jobseeker_id")
    mt = ranked(mt, group="jobseeker_id", member="need_id")
    sl = sl[["need_id", "jobseeker_id", "score", "explanation", "rank"]]
    mt = mt[["jobseeker_id", "need_id", "score", "rank"]]
    for c in ("jobseeker_id", "need_id"):
        paths[c] = paths[c].astype(np.int64)
    paths["feasible"] = paths["feasible"].astype(bool)
    paths = paths.sort_values(["jobseeker_id", "need_id"], ignore_index=True)
    return BlockFrames(shortlists=sl, matches=mt), paths


def read_fingerprints(store: Engine, run_id: int) -> pd.DataFrame:
    return _raw_rows(
        store,
        f"SELECT kind, entity_id, fingerprint FROM run_fingerprints WHERE run_id = {_param(store)}",
        {"r": run_id},
        ["kind", "entity_id", "fingerprint"],
        {"kind": object, "entity_id": np.int64, "fingerprint": np.int64},
    )


def _raw_rows(
    store: Engine, sql: str, params: dict, columns: list[str], dtypes: dict
) -> pd.DataFrame:
    """Many rows of plain numbers, read with the driver's cursor into typed numpy columns."""
    with store.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None  # a checked-out connection always has its driver connection
        cur = raw.cursor()  # plain tuples, no Row objects
        try:
            cur.execute(sql, params)
            rows = cur.fetchall()
        finally:
            cur.close()
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=dtypes.get(c, object)) for c in columns})
    if all(dtypes.get(c) in (np.int64, np.float64, bool) for c in columns):
        # ids, ranks and scores: exact in float64 (ids < 2**53), one C conversion
        table = np.array(rows, dtype=np.float64)
        return pd.DataFrame({c: table[:, i].astype(dtypes[c]) for i, c in enumerate(columns)})
    cols = list(zip(*rows, strict=True))
    return pd.DataFrame(
        {c: np.asarray(v, dtype=dtypes.get(c, object)) for c, v in zip(columns, cols, strict=True)}
    )


def _param(conn_or_store: Any) -> str:
    return "%(r)s" if conn_or_store.dialect.name == "postgresql" else ":r"


def read_lists(store: Engine, run_id: int) -> pd.DataFrame:
    """Each need's shortlist and reserve in a run (need_id, jobseeker_id, score, rank,
    reserve): the reserve's ranks follow the shortlist's."""
    r = _param(store)
    cols = ["need_id", "jobseeker_id", "score", "part"]
    dtypes = {"need_id": np.int64, "jobseeker_id": np.int64, "score": np.float64, "part": np.int64}
    df = _raw_rows(
        store,
        f"SELECT s.need_id, s.jobseeker_id, s.score, 0 FROM run_shortlists s "
        f"WHERE {m.visible_sql('s', r)} UNION ALL "
        f"SELECT s.need_id, s.jobseeker_id, s.score, 1 FROM run_reserves s "
        f"WHERE {m.visible_sql('s', r)}",
        {"r": run_id},
        cols,
        dtypes,
    )
    df = ranked(df, group="need_id", member="jobseeker_id", first="part")
    return df.assign(reserve=df["part"].to_numpy() == 1).drop(columns="part")


def read_matches(
    store: Engine,
    run_id: int,
    *,
    jobseeker_ids: np.ndarray | None = None,
    need_ids: np.ndarray | None = None,
) -> pd.DataFrame:
    """Per-jobseeker rows a run shows: of ``jobseeker_ids``, or holding one of ``need_ids``."""
    cols = ["jobseeker_id", "need_id", "score", "rank"]
    dtypes = {"jobseeker_id": np.int64, "need_id": np.int64, "score": np.float64, "rank": np.int64}
    key, ids = (
        ("jobseeker_id", jobseeker_ids) if jobseeker_ids is not None else ("need_id", need_ids)
    )
    ids = np.unique(np.asarray(ids if ids is not None else [], dtype=np.int64))
    if not len(ids):
        return pd.DataFrame({c: pd.Series(dtype=dtypes[c]) for c in cols})
    with store.connect() as conn:
        tmp = "tmp_read_ids"
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {tmp}")
        conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {tmp} (id INTEGER PRIMARY KEY)")
        _insert_rows(conn, tmp, ["id"], ((int(i),) for i in ids))
        r = _param(conn)
        # the whole lists of the jobseekers concerned (their ranks count every row)
        who = (
            f"SELECT id FROM {tmp}"
            if key == "jobseeker_id"
            else f"SELECT DISTINCT h.jobseeker_id FROM run_matches h JOIN {tmp} t "
            f"ON h.need_id = t.id WHERE {m.visible_sql('h', r)}"
        )
        rows = conn.exec_driver_sql(
            f"SELECT s.jobseeker_id, s.need_id, s.score FROM run_matches s "
            f"WHERE s.jobseeker_id IN ({who}) AND {m.visible_sql('s', r)}",
            {"r": run_id},
        ).fetchall()
        conn.exec_driver_sql(f"DROP TABLE {tmp}")
        conn.commit()
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=dtypes[c]) for c in cols})
    data = list(zip(*rows, strict=True))
    df = pd.DataFrame(
        {c: np.asarray(v, dtype=dtypes[c]) for c, v in zip(cols[:3], data, strict=True)}
    )
    df = ranked(df, group="jobseeker_id", member="need_id")
    if key == "need_id":  # the rows holding those needs, ranked within their whole lists
        df = df[df["need_id"].isin(ids)].reset_index(drop=True)
    return df[cols]


def load_previous(store: Engine) -> PreviousRun | None:
    """The published run, if complete and fingerprinted (the incremental baseline).

    Only what an incremental run needs is read: fingerprints, the needs' lists (shortlists and
    reserves, without explanations) and the keys of the paths; per-jobseeker rows are read on
    demand for the few jobseekers concerned (``PreviousRun.read_matches``).
    """
    rid = published_run_id(store)
    if rid is None:
        return None
    with store.connect() as conn:
        run = conn.execute(select(m.Run).where(m.Run.id == rid)).first()
    if run is None or run.status != "complete":
        return None
    fps = read_fingerprints(store, rid)
    if fps.empty:
        return None
    paths = _raw_rows(
        store,
        f"SELECT s.jobseeker_id, s.need_id, s.feasible FROM run_paths s "
        f"WHERE {m.visible_sql('s', _param(store))}",
        {"r": rid},
        ["jobseeker_id", "need_id", "feasible"],
        {"jobseeker_id": np.int64, "need_id": np.int64, "feasible": bool},
    )
    context = (run.report or {}).get("context")
    return PreviousRun(
        run_id=rid,
        context=context,
        fingerprints=fps,
        lists=read_lists(store, rid),
        paths=paths,
        read_matches=lambda **kw: read_matches(store, rid, **kw),
    )


# --- writing ---------------------------------------------------------------------------------
def _json_text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _insert_rows(conn, table: str, columns: list[str], rows: Any) -> None:
    """Bulk insert on an open connection: ``COPY`` on PostgreSQL, ``executemany`` on SQLite."""
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with raw.cursor() as cur, cur.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
    else:
        marks = ", ".join("?" for _ in columns)
        # the sqlite3 cursor directly: SQLAlchemy's executemany would materialise the rows
        cur = conn.connection.driver_connection.cursor()
        try:
            cur.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
        finally:
            cur.close()


def bulk_insert(store: Engine, table: str, columns: list[str], rows: list[tuple]) -> None:
    """Insert many rows in one transaction: ``COPY`` on PostgreSQL, ``executemany`` on SQLite."""
    if not rows:
        return
    with store.begin() as conn:
        _insert_rows(conn, table, columns, rows)


@contextlib.contextmanager
def _write_transaction(store: Engine):
    """One transaction for a run's bulk writes; on SQLite with write-friendly pragmas.

    ``synchronous=NORMAL`` in WAL mode keeps the database consistent on a crash or ``kill -9``
    (only durability of the last commits on power loss is relaxed, and an unpublished run is
    worthless anyway); a large page cache and in-memory temporary tables avoid spilling, and
    memory-mapped reads speed up the copies of kept rows.
    """
    with store.connect() as conn:
        if conn.dialect.name == "sqlite":
            for pragma in (
                "PRAGMA synchronous=NORMAL",
                "PRAGMA cache_size=-262144",
                "PRAGMA temp_store=MEMORY",
                # rows copied from the previous run are read through the OS page cache instead
                # of SQLite's own reads: copying 450,000 shortlist rows with their explanations
                # (550 MB at 100k jobseekers) takes half the time
                "PRAGMA mmap_size=2147418112",
            ):
                conn.exec_driver_sql(pragma)
            conn.commit()  # ends SQLAlchemy's autobegun transaction (no BEGIN for PRAGMA)
        with conn.begin():
            yield conn


def _ints(series: pd.Series) -> list[int]:
    return series.to_numpy(dtype=np.int64).tolist()


#: Rows turned into Python tuples at a time when writing (bounds the write's memory).
WRITE_CHUNK = 100_000


def _rows(run_id: int, columns: list[tuple[str, np.ndarray]], *, texts=None) -> Any:
    """Row tuples ``(run_id, *columns[, text])`` built chunk by chunk from numpy columns.

    ``kind`` of each column: ``"i"`` int, ``"f"`` float, ``"b"`` bool, ``"o"`` as is. ``texts``
    is an iterator consumed in row order (one value per row) when given.
    """
    n = len(columns[0][1]) if columns else 0
    for a in range(0, n, WRITE_CHUNK):
        b = min(a + WRITE_CHUNK, n)
        parts = []
        for kind, values in columns:
            part = values[a:b]
            if kind == "i":
                parts.append(np.asarray(part, dtype=np.int64).tolist())
            elif kind == "f":
                parts.append(np.asarray(part, dtype=np.float64).tolist())
            elif kind == "b":
                parts.append(np.asarray(part, dtype=bool).tolist())
            else:
                parts.append(list(part))
        if texts is not None:
            parts.append(list(itertools.islice(texts, b - a)))
        yield from zip(itertools.repeat(run_id, b - a), *parts, strict=True)


def _explanation_texts(shortlists: pd.DataFrame, spool: Any) -> Any:
    """Stored text of each row's explanation, in row order: from the spool for spooled rows."""
    spooled = (
        shortlists["spooled"].to_numpy(dtype=bool)
        if spool is not None and "spooled" in shortlists
        else np.zeros(len(shortlists), bool)
    )
    it = iter(spool) if spool is not None and spooled.any() else iter(())
    for e, from_spool in zip(shortlists["explanation"].tolist(), spooled.tolist(), strict=True):
        yield next(it) if from_spool else _json_text(e)


def _ids_or_empty(ids: np.ndarray | None) -> np.ndarray:
    return np.unique(np.asarray(ids, dtype=np.int64)) if ids is not None else np.zeros(0, np.int64)


def _temp_table(conn, name: str, columns: dict[str, str], rows: Any) -> str:
    """A temporary table filled with ``rows``; a ``"PRIMARY KEY"`` entry of ``columns`` is a
    table constraint, not a column."""
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
    decl = ", ".join(f"{c} {t}" for c, t in columns.items())
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {name} ({decl})")
    _insert_rows(conn, name, [c for c in columns if c != "PRIMARY KEY"], rows)
    return name


def _open_rows(alias: str) -> str:
    """SQL: rows of the generation still shown (``:b`` the generation, ``:p`` the last run)."""
    return f"{alias}.from_run >= :b AND {alias}.from_run <= :p AND {alias}.to_run IS NULL"


def _close_rows(
    conn,
    table: str,
    *,
    groups: np.ndarray | None,
    keep: Any,
    by_score: bool,
    params: dict,
) -> int:
    """Close (``to_run = :r``) the rows shown by the last run that this run does not keep.

    ``groups``: the lists concerned (``None``: all); ``keep``: rows ``(group, member)`` kept as
    they are, or ``(group, member, score)`` kept when identical (``by_score``).
    """
    group, member = m.RUN_ROW_TABLES[table]
    cols = {"g": "INTEGER", "m": "INTEGER", **({"score": "FLOAT"} if by_score else {})}
    # keyed: both statements probe it once per row of the lists concerned
    tmp = _temp_table(conn, f"tmp_keep_{table}", {**cols, "PRIMARY KEY": "(g, m)"}, keep)
    same = f"k.g = {table}.{group} AND k.m = {table}.{member}"
    if by_score:
        same += f" AND k.score = {table}.score"
    where = _open_rows(table)
    if groups is not None:
        _temp_table(conn, f"tmp_groups_{table}", {"id": "INTEGER PRIMARY KEY"}, groups)
        where += f" AND {table}.{group} IN (SELECT id FROM tmp_groups_{table})"
    closed = conn.execute(
        text(
            f"UPDATE {table} SET to_run = :r WHERE {where} "
            f"AND NOT EXISTS (SELECT 1 FROM {tmp} k WHERE {same})"
        ),
        params,
    ).rowcount
    if groups is not None:
        conn.exec_driver_sql(f"DROP TABLE tmp_groups_{table}")
    return max(closed, 0)


def _anti(left: pd.DataFrame, right: pd.DataFrame, on: list[str]) -> pd.DataFrame:
    """The rows of ``left`` that no row of ``right`` equals on ``on``."""
    if not len(left) or not len(right):
        return left
    hit = left[on].merge(right[on].drop_duplicates(), how="left", on=on, indicator=True)
    return left[(hit["_merge"] != "both").to_numpy()]


def _close_keys(conn, table: str, keys: pd.DataFrame, params: dict) -> int:
    """Close (``to_run = :r``) the open rows of the generation with these (list, member) keys."""
    if not len(keys):
        return 0
    group, member = m.RUN_ROW_TABLES[table]
    tmp = _temp_table(
        conn,
        f"tmp_close_{table}",
        {"g": "INTEGER", "m": "INTEGER", "PRIMARY KEY": "(g, m)"},
        zip(_ints(keys[group]), _ints(keys[member]), strict=True),
    )
    closed = conn.execute(
        text(
            f"UPDATE {table} SET to_run = :r WHERE {table}.{group} IN (SELECT g FROM {tmp}) "
            f"AND {_open_rows(table)} AND EXISTS (SELECT 1 FROM {tmp} k "
            f"WHERE k.g = {table}.{group} AND k.m = {table}.{member})"
        ),
        params,
    ).rowcount
    conn.exec_driver_sql(f"DROP TABLE {tmp}")
    return max(closed, 0)


def _insert_changed(conn, table: str, *, params: dict) -> int:
    """Insert the rows of ``tmp_keep_<table>`` (group, member, score) that no open row of the
    generation holds identically; then drop that temporary table."""
    group, member = m.RUN_ROW_TABLES[table]
    tmp = f"tmp_keep_{table}"
    added = conn.execute(
        text(
            f"INSERT INTO {table} ({group}, {member}, score, from_run) "
            f"SELECT k.g, k.m, k.score, :r FROM {tmp} k WHERE NOT EXISTS ("
            f"SELECT 1 FROM {table} p WHERE p.{group} = k.g AND p.{member} = k.m "
            f"AND p.score = k.score AND {_open_rows('p')})"
        ),
        params,
    ).rowcount
    conn.exec_driver_sql(f"DROP TABLE {tmp}")
    return max(added, 0)


def _generation(store: Engine, run_id: int | None) -> int | None:
    if run_id is None:
        return None
    with store.connect() as conn:
        return conn.execute(select(m.Run.base_run_id).where(m.Run.id == run_id)).scalar()


def write_results(
    store: Engine,
    run_id: int,
    results: BlockFrames,
    paths: pd.DataFrame,
    fingerprints: pd.DataFrame,
    *,
    previous: PreviousRun | None = None,
    on_table: Callable[[str], None] | None = None,
    durations: dict[str, float] | None = None,
    row_changes: dict[str, dict[str, int]] | None = None,
) -> dict[str, int]:
    """Write a run's rows, one transaction per table (invisible to readers until publication).

    A full run starts a new generation (``runs.base_run_id`` = its id) and inserts every row.
    An incremental run (``results.copied_needs`` set, ``previous`` the run it starts from, as
    :func:`load_previous` read it) joins that run's generation and writes only what changed (see
    :class:`matching.store.models.RunShortlist`): the lists it copies are left alone; in the
    others, the rows it keeps (shortlist rows with ``prev_rank``, paths marked ``reused``,
    identical reserve and per-jobseeker rows) stay, the previous run's other rows are closed
    (``to_run``) and the new rows inserted. Rows are built column-wise from numpy arrays and
    inserted with ``COPY`` or ``executemany``; explanation texts come from the spool.

    Returns the number of rows the run shows per table (and of fingerprints written);
    ``row_changes`` receives, per table, the rows closed and inserted by an incremental run.
    """
    incremental = previous is not None and results.copied_needs is not None
    previous_run_id = previous.run_id if previous is not None else None
    base = _generation(store, previous_run_id) if incremental else run_id
    if base is None:
        raise RunError(f"exécution n° {previous_run_id} sans génération : reprise impossible")
    with store.begin() as conn:
        conn.execute(update(m.Run).where(m.Run.id == run_id).values(base_run_id=base))
    params = {"r": run_id, "b": base, "p": previous_run_id if incremental else run_id}
    previous_counts = _previous_counts(store, previous_run_id) if incremental else {}

    sl, mt = results.shortlists, results.matches
    reserves = results.reserves if results.reserves is not None else sl.iloc[0:0]
    copied_needs = _ids_or_empty(results.copied_needs if incremental else None)
    uncopied_needs = _ids_or_empty(results.uncopied_needs if incremental else None)
    uncopied_js = _ids_or_empty(results.uncopied_jobseekers if incremental else None)
    shown = len(sl)  # copied needs' rows included
    if len(copied_needs):
        sl = sl[~sl["need_id"].isin(copied_needs).to_numpy()]
    keep_sl = (
        sl["prev_rank"].notna().to_numpy()
        if incremental and "prev_rank" in sl
        else np.zeros(len(sl), bool)
    )
    keep_pt = (
        paths["reused"].fillna(False).astype(bool).to_numpy()
        if incremental and "reused" in paths
        else np.zeros(len(paths), bool)
    )
    fresh_sl, kept_sl = sl[~keep_sl], sl[keep_sl]
    fresh_pt, kept_pt = paths[~keep_pt], paths[keep_pt]
    counts = {
        "run_shortlists": shown,
        "run_matches": len(mt),
        "run_reserves": len(reserves),
        "run_paths": len(paths),
        "run_fingerprints": len(fingerprints),
    }
    changed: dict[str, dict[str, int]] = {}

    # the previous run's rows in the lists this run rewrites (incremental runs)
    if incremental:
        assert previous is not None
        old = previous.lists[previous.lists["need_id"].isin(uncopied_needs).to_numpy()]
        in_reserve = old["reserve"].to_numpy(bool)
        old_sl, old_res = old[~in_reserve], old[in_reserve]
        old_pt = previous.paths

    def _write_shortlists(conn) -> None:
        if incremental:
            gone = _anti(old_sl, kept_sl, ["need_id", "jobseeker_id"])
            changed["run_shortlists"] = {
                "closed": _close_keys(conn, "run_shortlists", gone, params)
            }
        _insert_rows(
            conn,
            "run_shortlists",
            ["from_run", "need_id", "jobseeker_id", "score", "explanation"],
            _rows(
                run_id,
                [
                    ("i", fresh_sl["need_id"].to_numpy()),
                    ("i", fresh_sl["jobseeker_id"].to_numpy()),
                    ("f", fresh_sl["score"].to_numpy()),
                ],
                texts=_explanation_texts(fresh_sl, results.explanations),
            ),
        )
        if incremental:
            changed["run_shortlists"]["inserted"] = len(fresh_sl)

    def _write_reserves(conn) -> None:
        rows = reserves
        if incremental:  # identical rows stay (a reserve row has no text)
            key = ["need_id", "jobseeker_id", "score"]
            gone = _anti(old_res, reserves, key)
            rows = _anti(reserves, old_res, key)
            changed["run_reserves"] = {
                "closed": _close_keys(conn, "run_reserves", gone, params),
                "inserted": len(rows),
            }
        _insert_rows(
            conn,
            "run_reserves",
            ["from_run", "need_id", "jobseeker_id", "score"],
            _rows(
                run_id,
                [
                    ("i", rows["need_id"].to_numpy()),
                    ("i", rows["jobseeker_id"].to_numpy()),
                    ("f", rows["score"].to_numpy()),
                ],
            ),
        )

    def _write_matches(conn) -> None:
        """Per-jobseeker lists: the previous rows of the people concerned are not in memory
        (read on demand): kept when identical, in SQL."""
        rows = zip(
            _ints(mt["jobseeker_id"]),
            _ints(mt["need_id"]),
            mt["score"].to_numpy(dtype=np.float64).tolist(),
            strict=True,
        )
        if not incremental:
            _insert_rows(
                conn,
                "run_matches",
                ["from_run", "jobseeker_id", "need_id", "score"],
                ((run_id, *row) for row in rows),
            )
            return
        closed = _close_rows(
            conn,
            "run_matches",
            groups=((i,) for i in uncopied_js.tolist()),
            keep=rows,
            by_score=True,
            params=params,
        )
        added = _insert_changed(conn, "run_matches", params=params)
        changed["run_matches"] = {"closed": closed, "inserted": added}
        # the lists copied whole are not in the frame
        counts["run_matches"] = previous_counts.get("match_rows", 0) - closed + added

    def _write_paths(conn) -> None:
        if incremental:
            gone = _anti(old_pt, kept_pt, ["jobseeker_id", "need_id"])
            changed["run_paths"] = {"closed": _close_keys(conn, "run_paths", gone, params)}
        _insert_rows(
            conn,
            "run_paths",
            ["from_run", "jobseeker_id", "need_id", "feasible", "path"],
            zip(
                itertools.repeat(run_id, len(fresh_pt)),
                _ints(fresh_pt["jobseeker_id"]),
                _ints(fresh_pt["need_id"]),
                fresh_pt["feasible"].astype(bool).tolist(),
                [_json_text(p) for p in fresh_pt["path"]],
                strict=True,
            ),
        )
        if incremental:
            changed["run_paths"]["inserted"] = len(fresh_pt)

    def _write_fingerprints(conn) -> None:
        _insert_rows(
            conn,
            "run_fingerprints",
            ["run_id", "kind", "entity_id", "fingerprint"],
            _rows(
                run_id,
                [
                    ("o", fingerprints["kind"].to_numpy(dtype=object)),
                    ("i", fingerprints["entity_id"].to_numpy()),
                    ("i", fingerprints["fingerprint"].to_numpy()),
                ],
            ),
        )

    # One transaction per table: the heartbeat (another connection) can write in between.
    for name, step in (
        ("run_shortlists", _write_shortlists),
        ("run_matches", _write_matches),
        ("run_reserves", _write_reserves),
        ("run_paths", _write_paths),
        ("run_fingerprints", _write_fingerprints),
    ):
        if on_table:
            on_table(name)
        t = time.perf_counter()
        with _write_transaction(store) as conn:
            step(conn)
        if durations is not None:
            durations[name] = round(time.perf_counter() - t, 3)
    if incremental:
        _check_shown(store, params, expected=shown)
    if row_changes is not None:
        row_changes.update(changed)
    return counts


def _check_shown(store: Engine, params: dict, *, expected: int) -> None:
    """The new run shows exactly the shortlist rows it computed (its kept rows were found)."""
    with store.connect() as conn:
        found = conn.execute(
            text(
                "SELECT count(*) FROM run_shortlists s "
                "WHERE s.from_run >= :b AND s.from_run <= :r AND s.to_run IS NULL"
            ),
            params,
        ).scalar()
    if found != expected:
        raise RunError(
            f"écriture incohérente des listes : {found} lignes visibles pour l'exécution "
            f"n° {params['r']}, {expected} attendues (lignes reprises de l'exécution "
            f"n° {params['p']} introuvables)"
        )


def _previous_counts(store: Engine, run_id: int | None) -> dict:
    with store.connect() as conn:
        report = conn.execute(select(m.Run.report).where(m.Run.id == run_id)).scalar()
    if isinstance(report, str):
        report = json.loads(report)
    return dict((report or {}).get("counts") or {})


#: Stage names marking a run whose rows were removed (kept in ``runs.stage``), so that later
#: runs do not look for them again.
DISCARDED, PRUNED = "discarded", "pruned"


def discard_runs(store: Engine, run_ids: list[int]) -> None:
    """Undo what broken (abandoned or failed) runs wrote: their rows are deleted and the rows
    they had closed are open again (one transaction per table). Run rows are kept."""
    if not run_ids:
        return
    ids = sorted(int(r) for r in run_ids)
    for table in m.RUN_ROW_TABLES:
        with store.begin() as conn:
            model = m.Base.metadata.tables[table]
            conn.execute(delete(model).where(model.c.from_run.in_(ids)))
            conn.execute(update(model).where(model.c.to_run.in_(ids)).values(to_run=None))
    with store.begin() as conn:
        conn.execute(delete(m.RunFingerprint).where(m.RunFingerprint.run_id.in_(ids)))
        conn.execute(update(m.Run).where(m.Run.id.in_(ids)).values(stage=DISCARDED))


def prune_runs(store: Engine, *, keep: int) -> list[int]:
    """Forget the complete runs beyond the ``keep`` newest (the published one is always kept):
    the rows no kept run shows are deleted. Returns the runs pruned now."""
    with store.connect() as conn:
        pub = conn.execute(select(m.Publication.run_id).where(m.Publication.id == 1)).scalar()
        complete = conn.execute(
            select(m.Run.id, m.Run.base_run_id, m.Run.stage)
            .where(m.Run.status == "complete")
            .order_by(m.Run.id.desc())
        ).all()
    kept = [r for r in complete[: max(keep, 1)]] + [r for r in complete if r.id == pub]
    old = [r for r in complete[max(keep, 1) :] if r.id != pub and r.stage != PRUNED]
    if not old or not kept:
        return []
    first = min(r.id for r in kept)
    first_base = min(r.base_run_id if r.base_run_id is not None else r.id for r in kept)
    older_generation = any((r.base_run_id or r.id) < first_base for r in old)
    for table in m.RUN_ROW_TABLES:
        model = m.Base.metadata.tables[table]
        with store.begin() as conn:
            # closed before the oldest kept run: shown by none of them (indexed: closed rows)
            conn.execute(delete(model).where(model.c.to_run.is_not(None), model.c.to_run <= first))
            if older_generation:  # a full run since: the generations before it go
                conn.execute(delete(model).where(model.c.from_run < first_base))
    ids = [r.id for r in old]
    with store.begin() as conn:
        conn.execute(delete(m.RunFingerprint).where(m.RunFingerprint.run_id.in_(ids)))
        conn.execute(update(m.Run).where(m.Run.id.in_(ids)).values(stage=PRUNED))
    return ids


def broken_runs(store: Engine) -> list[int]:
    """Abandoned or failed runs whose rows were not discarded yet."""
    with store.connect() as conn:
        return sorted(
            conn.execute(
                select(m.Run.id).where(
                    m.Run.status.in_(("abandoned", "failed")),
                    or_(m.Run.stage.is_(None), m.Run.stage != DISCARDED),
                )
            )
            .scalars()
            .all()
        )


def publish(store: Engine, run_id: int, *, report: dict, model_name: str, kind: str) -> None:
    """THE atomic switch: the run becomes complete and the publication pointer names it."""
    now = utcnow()
    with store.begin() as conn:
        _lock(conn)
        conn.execute(
            update(m.Run)
            .where(m.Run.id == run_id)
            .values(
                status="complete",
                finished_at=now,
                heartbeat_at=now,
                stage="published",
                report=report,
                kind=kind,
                model_name=model_name[:200],
            )
        )
        moved = conn.execute(
            update(m.Publication)
            .where(m.Publication.id == 1)
            .values(run_id=run_id, published_at=now)
        ).rowcount
        if not moved:
            conn.execute(
                m.Publication.__table__.insert().values(id=1, run_id=run_id, published_at=now)
            )


def mark_failed(store: Engine, run_id: int, message: str, stage: str | None) -> None:
    with store.begin() as conn:
        conn.execute(
            update(m.Run)
            .where(m.Run.id == run_id, m.Run.status == "running")
            .values(
                status="failed",
                finished_at=utcnow(),
                report={"error": message[:2000], "stage": stage},
            )
        )


# --- the engine -----------------------------------------------------------------------------
def default_engine_factory(settings: Settings, referential: Any) -> Any:
    """The current matching engine (trained ranker when one is installed)."""
    try:
        from matching.services import matching as matching_service
    except ImportError:
        matching_service = None
    if matching_service is not None:
        for name in ("load_engine", "make_engine", "current_engine", "build_engine"):
            fn = getattr(matching_service, name, None)
            if callable(fn):
                return (
                    fn(settings, referential=referential)
                    if _accepts(fn, "referential")
                    else fn(settings)
                )
    try:
        from matching.ranking.engine import MatchingEngine
    except ImportError as exc:
        raise ConfigurationError(
            "moteur de rapprochement indisponible : le module matching.ranking.engine est "
            "attendu pour l'exécution nocturne"
        ) from exc
    return MatchingEngine(referential=referential, n_jobs=1)


def _accepts(fn: Callable, name: str) -> bool:
    import inspect

    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def load_engine_factory(spec: str) -> EngineFactory:
    """``"package.module:callable"`` -> the callable (alternative engines, tests)."""
    import importlib

    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ConfigurationError(
            f"fabrique de moteur invalide : « module:fonction » attendu, reçu « {spec} »"
        )
    return getattr(importlib.import_module(module), attr)


def model_name_of(engine: Any) -> str:
    for attr in ("model_name", "ranker_name", "name"):
        value = getattr(engine, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(engine).__name__


def referential_version(referential: Any) -> str:
    manifest = getattr(referential, "manifest", None)
    if isinstance(manifest, dict):
        return json.dumps(manifest.get("tables", manifest), sort_keys=True, default=str)
    from matching.config import REFERENTIAL_DIR

    path = getattr(referential, "directory", REFERENTIAL_DIR)
    try:
        return os.fspath(path) and open(os.path.join(path, "manifest.json")).read()
    except OSError:
        return "inconnu"


# --- the use case ---------------------------------------------------------------------------
def connect(settings: Settings, *, migrate: bool = True) -> Engine:
    """Migrated engine on the configured database; unreachable -> DatabaseUnavailableError."""
    url = settings.effective_database_url
    store = make_engine(url)
    try:
        with store.connect() as conn:
            conn.execute(text("SELECT 1"))
        if migrate:
            upgrade(store)
    except (OperationalError, DBAPIError) as exc:
        raise DatabaseUnavailableError(
            f"base de données injoignable ({store.url.render_as_string(hide_password=True)}) : "
            f"{str(exc.orig if hasattr(exc, 'orig') else exc).strip().splitlines()[0]}"
        ) from exc
    return store


def run_nightly(
    settings: Settings,
    *,
    options: BatchOptions | None = None,
    today: date | None = None,
    keep: int = 3,
    stale_after: timedelta = timedelta(minutes=15),
    heartbeat_s: float = 5.0,
    engine_factory: EngineFactory | None = None,
    store: Engine | None = None,
    client: Any = None,
    on_event: EventFn | None = None,
) -> NightlyResult:
    """Run the nightly matching and publish it atomically (see the module docstring).

    Parameters
    ----------
    settings : Settings (database, referential, models).
    options : :class:`~matching.batch.BatchOptions` (sizes, blocks, backend, n_jobs...).
    today : the date the run describes (default: today).
    keep : complete runs whose rows are kept (the published one always is).
    stale_after : a ``running`` run without heartbeat for this long is considered dead.
    heartbeat_s : heartbeat period.
    engine_factory : ``(settings, referential) -> engine``; default the current engine.
    store : an existing SQLAlchemy engine (default: the configured database).
    client : an existing ``distributed.Client`` for ``backend="dask"``.
    on_event : progress callback (dict events).

    Returns
    -------
    NightlyResult
    """
    options = options or BatchOptions(n_jobs=settings.n_jobs)
    if keep < 1:
        raise ConfigurationError(f"nombre d'exécutions à conserver : ≥ 1 attendu, reçu {keep}")
    today = today or date.today()
    store = store or connect(settings)
    emit = on_event or (lambda _e: None)
    t_run = time.perf_counter()
    run_id, abandoned = start_run(store, stale_after=stale_after)
    emit({"event": "run_start", "run_id": run_id, "as_of": today.isoformat()})
    for rid, reason in abandoned:
        emit({"event": "recovered", "run_id": run_id, "abandoned_run": rid, "reason": reason})
    durations: dict[str, float] = {}
    current: dict[str, Any] = {"stage": None, "t": 0.0}

    with Heartbeat(store, run_id, heartbeat_s) as hb:

        def stage(name: str) -> None:
            if current["stage"] is not None:
                durations[current["stage"]] = round(time.perf_counter() - current["t"], 3)
                emit(
                    {
                        "event": "stage_end",
                        "run_id": run_id,
                        "stage": current["stage"],
                        "seconds": durations[current["stage"]],
                    }
                )
            current.update(stage=name, t=time.perf_counter())
            if name:
                hb.beat(name)
                emit({"event": "stage_start", "run_id": run_id, "stage": name})

        results = None
        try:
            stage("recover")
            discard_runs(store, broken_runs(store))  # old complete runs: after publication
            remove_stale_files()  # temporary files of killed runs (engine dump, explanations)

            stage("purge")
            purge = _purge(store, today)

            stage("snapshot")
            from matching.taxonomy.referential import load_referential

            snapshot = load_snapshot(store, as_of=today)
            referential = load_referential(settings.referential_dir)

            stage("changes")
            fps = entity_fingerprints(snapshot)
            with store.connect() as conn:
                corrections = _read(
                    conn,
                    "SELECT kind, phrase_key, code FROM normalisation_corrections ORDER BY id",
                    {},
                    ["kind", "phrase_key", "code"],
                )
            previous = load_previous(store)
            scope = incremental_scope(previous, fps, snapshot, options)

            stage("fit")
            factory = engine_factory or default_engine_factory

            def make() -> Any:
                engine = factory(settings, referential)
                _fit_threads(engine, options)
                return engine

            engines = EngineSource(make, snapshot)
            # an incremental run fits the engine for the people it ranks again only; the
            # context (model name...) is read from it, and a changed context refits in full
            engine = engines.full() if scope is None else scoped_engine(engines, snapshot, scope[2])
            model = model_name_of(engine)
            context = context_fingerprint(
                model=model,
                referential_version=referential_version(referential),
                corrections=corrections,
                fingerprints=fps,
                as_of=today if getattr(engine, "uses_as_of", True) else None,
                settings=options.result_settings(),
            )
            del engine

            stage("match")

            def progress(done: int, total: int) -> None:
                emit(
                    {
                        "event": "progress",
                        "run_id": run_id,
                        "stage": "match",
                        "done": done,
                        "total": total,
                    }
                )

            outcome = compute_results(
                engines,
                snapshot,
                scope=scope,
                fingerprints=fps,
                context=context,
                previous=previous,
                options=options,
                client=client,
                progress=progress,
            )
            results = outcome.results
            engines.clear()  # the paths and the writes do not need the fitted engines

            stage("paths")
            pairs = path_pairs(results.shortlists, per_need=options.paths_per_need)
            reused_paths = 0
            if outcome.kind == "incremental" and previous is not None:
                ok = reusable_pairs(
                    previous.shortlists(options.top_per_need),
                    jobseekers=outcome.changes["jobseeker"],
                    needs=outcome.changes["need"],
                    per_need=options.paths_per_need,
                )
                reuse = pairs.merge(ok, how="inner")
                pairs = pairs.merge(ok, how="left", indicator=True)
                pairs = pairs[pairs["_merge"] == "left_only"][["need_id", "jobseeker_id"]]
                # reused rows are copied from the previous run in SQL (path text not read)
                old = previous.paths.merge(reuse, how="inner").assign(reused=True)
                reused_paths = len(old)
            else:
                old = None
            fresh_paths = (
                compute_paths_parallel(snapshot, referential, pairs, n_jobs=options.n_jobs)
                if options.backend == "local"
                else compute_paths(snapshot, referential, pairs)
            )
            paths = (
                pd.concat([fresh_paths, old], ignore_index=True)
                if old is not None and len(old)
                else fresh_paths
            )

            if options.backend == "local":
                release_workers()  # idle workers would keep their memory through the writes

            stage("write")
            write_detail: dict[str, float] = {}
            row_changes: dict[str, dict[str, int]] = {}
            written = write_results(
                store,
                run_id,
                results,
                paths,
                fps,
                previous=previous,
                on_table=lambda name: hb.beat(f"write:{name}"[:40]),
                durations=write_detail,
                row_changes=row_changes,
            )
            if results.explanations is not None:
                results.explanations.close()
                results.explanations = None

            stage("report")
            prev_sl = previous.shortlists(options.top_per_need) if previous is not None else None
            if prev_sl is None:
                pub = published_run_id(store)
                if pub is not None:
                    prev_sl = read_lists(store, pub)
                    prev_sl = prev_sl[prev_sl["rank"] <= options.top_per_need]
            changes_report = (
                shortlist_changes(
                    prev_sl,
                    results.shortlists,
                    snapshot,
                    changed_jobseekers=outcome.changes.get("jobseeker").changed
                    if outcome.changes
                    else None,
                )
                if prev_sl is not None
                else None
            )
            durations[current["stage"]] = round(time.perf_counter() - current["t"], 3)
            report = {
                "run_id": run_id,
                "kind": outcome.kind,
                "why_full": outcome.reason_full or None,
                "as_of": today.isoformat(),
                "model": model,
                "context": context,
                "previous_run_id": previous.run_id
                if previous is not None
                else published_run_id(store),
                "options": {
                    **options.result_settings(),
                    "block_size": options.block_size,
                    "backend": options.backend,
                    "n_jobs": options.n_jobs,
                    "blocks": outcome.blocks,
                },
                "counts": {
                    "open_needs": int((snapshot.needs["status"] == "open").sum())
                    if len(snapshot.needs)
                    else 0,
                    "active_jobseekers": int((snapshot.jobseekers["status"] == "active").sum())
                    if len(snapshot.jobseekers)
                    else 0,
                    "courses": len(snapshot.courses),
                    "shortlist_rows": written["run_shortlists"],
                    "needs_with_shortlist": int(results.shortlists["need_id"].nunique()),
                    "match_rows": written["run_matches"],
                    "paths": written["run_paths"],
                    "paths_feasible": int(paths["feasible"].astype(bool).sum())
                    if len(paths)
                    else 0,
                    "paths_computed": len(fresh_paths),
                    "explanations_computed": outcome.explained,
                    "paths_reused": reused_paths,
                    **outcome.plan_counts,
                },
                "entities": {k: v.counts() for k, v in outcome.changes.items()},
                "changes": changes_report,
                "purge": purge,
                "abandoned_runs": [{"run_id": r, "reason": why} for r, why in abandoned],
                "durations_s": durations,
                # inside "match": scoring the blocks, explaining the final shortlists
                "match_detail_s": outcome.durations,
                "fit_detail_s": [{"scope": k, "s": v} for k, v in engines.fits],
                "write_detail_s": write_detail,
                # incremental runs: rows closed and inserted per table (the others are shared)
                "rows_changed": row_changes or None,
            }

            stage("publish")
            report["durations_s"] = dict(durations)
            report["total_s"] = round(time.perf_counter() - t_run, 3)
            publish(store, run_id, report=report, model_name=model, kind=outcome.kind)

            stage("prune")
            prune_runs(store, keep=keep)
            stage("")
            hb.beat("done")
        except BaseException as exc:
            if results is not None and results.explanations is not None:
                results.explanations.close()
            failed_stage = current["stage"]
            with contextlib.suppress(Exception):
                mark_failed(store, run_id, f"{type(exc).__name__}: {exc}", failed_stage)
            if isinstance(exc, (RunError, KeyboardInterrupt, SystemExit)):
                raise
            raise RunError(
                f"l'exécution nocturne n° {run_id} a échoué à l'étape « {failed_stage} » : {exc}"
            ) from exc
    report["total_s"] = round(time.perf_counter() - t_run, 3)
    emit({"event": "run_end", "run_id": run_id, "report": report})
    return NightlyResult(run_id=run_id, report=report, abandoned=[r for r, _ in abandoned])


def _fit_threads(engine: Any, options: BatchOptions) -> None:
    """Let the engine's fit (vectorising, all-pairs retrieval) use the run's cores.

    The engine's ``n_jobs`` has scikit-learn's meaning and does not change its results; the
    factory builds it with ``n_jobs=1`` for serving. Locally the fit runs before the block
    processes start, so the cores are free; on Dask only this machine's cores are used.
    """
    if options.n_jobs == 1 or not hasattr(engine, "n_jobs"):
        return
    import joblib

    engine.n_jobs = joblib.effective_n_jobs(options.n_jobs)


def _purge(store: Engine, today: date) -> Any:
    """GDPR purge of expired profiles when the fairness package provides it."""
    try:
        from matching.fairness.gdpr import purge_expired
    except ImportError:
        return {"skipped": "module matching.fairness.gdpr absent"}
    out = purge_expired(store, today)
    if hasattr(out, "to_dict"):
        out = out.to_dict()
    elif hasattr(out, "__dataclass_fields__"):
        from dataclasses import asdict

        out = asdict(out)
    try:
        json.dumps(out, default=str)
        return json.loads(json.dumps(out, default=str))
    except (TypeError, ValueError):
        return {"result": repr(out)}


def run_history(store: Engine, *, limit: int = 10) -> list[dict]:
    """Recent runs (id, status, kind, stage, started, finished, model) for ``nightly --status``,
    with the shortlist rows each still shows (0 once pruned or discarded)."""
    with store.connect() as conn:
        rows = conn.execute(
            select(
                m.Run.id,
                m.Run.status,
                m.Run.kind,
                m.Run.stage,
                m.Run.started_at,
                m.Run.finished_at,
                m.Run.model_name,
                m.Run.host,
                m.Run.pid,
                m.Run.report,
            )
            .order_by(m.Run.id.desc())
            .limit(limit)
        ).all()
        pub = conn.execute(select(m.Publication.run_id).where(m.Publication.id == 1)).scalar()
    out = []
    for r in rows:
        row = r._asdict()
        report = row.pop("report")
        if isinstance(report, str):
            report = json.loads(report)
        shown = (
            int(((report or {}).get("counts") or {}).get("shortlist_rows", 0))
            if r.status == "complete" and r.stage != PRUNED
            else 0
        )
        out.append({**row, "published": r.id == pub, "shortlist_rows": shown})
    return out


# --- synthetic territories (tests, benchmarks) -----------------------------------------------
TERRITORY_ORDER = (
    "employers",
    "needs",
    "need_skills",
    "jobseekers",
    "jobseeker_skills",
    "jobseeker_experiences",
    "providers",
    "courses",
    "course_skills",
    "course_sessions",
)


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, date):
        return value.isoformat()
    return value


def load_territory(store: Engine, territory: Any, *, chunk: int = 100_000) -> dict[str, int]:
    """Bulk-insert a :class:`matching.batch.synthetic.Territory` into an empty store."""
    counts = {}
    for name in TERRITORY_ORDER:
        df = territory.tables.get(name)
        if df is None or df.empty:
            continue
        cols = list(df.columns)
        rows = [tuple(_plain(v) for v in row) for row in df.itertuples(index=False, name=None)]
        for i in range(0, len(rows), chunk):
            bulk_insert(store, name, cols, rows[i : i + chunk])
        counts[name] = len(rows)
        if store.dialect.name == "postgresql" and "id" in cols:
            with store.begin() as conn:
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"(SELECT max(id) FROM {name}))"
                    )
                )
    return counts
