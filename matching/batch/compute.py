"""Blocks of jobseekers run through the matching engine, locally (joblib) or on a Dask cluster.

The nightly work is split in blocks of jobseekers. Each block calls the engine contract
``MatchingEngine.block_results(jobseeker_ids, need_ids=..., top_per_need=..., top_per_jobseeker=...)``
(see ``docs/design.md``); the results of the blocks are then merged: per need the best
``top_per_need`` candidates by score, ties broken by jobseeker id; per jobseeker its best
``top_per_jobseeker`` needs, ties broken by need id. Block outputs are converted at once into
:class:`BlockFrames` (plain numpy arrays), which are small to send between processes and merge
with vectorised sorts.

Backends
--------
``backend="local"`` runs the blocks with joblib's ``loky`` process pool (``n_jobs`` processes).
The fitted engine is written **once** to a temporary joblib file (numpy arrays stored raw, loaded
memory-mapped copy-on-write) and each worker process loads it once and keeps it (module-level cache keyed by
the file path): sending the engine with every task would pickle hundreds of megabytes per block.
With ``n_jobs=1`` the blocks run in the calling process and nothing is written.

``backend="dask"`` runs the very same block function on a ``dask.distributed`` cluster. We use
``Client.scatter(engine, broadcast=True)`` (the fitted engine is shipped once to every worker and
referenced by a future) and ``Client.map`` over the blocks, rather than joblib's Dask backend:
``client.map`` gives us the scatter-once of the engine explicitly, per-block retries when a worker
dies, and results streamed back with ``as_completed`` for progress, while joblib's Dask backend
would re-serialise the engine argument with each batch. Results are identical to the local
backend because blocks are pure functions of (engine, block ids) and the merge is deterministic.
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import orjson
import pandas as pd

from matching.exceptions import ConfigurationError, RunError

#: Called after each block with (blocks done, blocks total).
ProgressFn = Callable[[int, int], None]


@dataclass
class BlockFrames:
    """What one block (or a merge of blocks) produced, as flat arrays.

    ``shortlists``: columns need_id, jobseeker_id, score, explanation (JSON text, or None when
    not explained yet or not asked for); incremental runs add ``prev_rank`` to rows carried
    over from the previous run (their explanation is copied in SQL when written).
    ``matches``: columns jobseeker_id, need_id, score.
    Explanations computed after the merge are not held in the frame: the rows flagged
    ``spooled`` take theirs, in order, from ``explanations`` (:class:`TextSpool`).
    """

    shortlists: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            {
                "need_id": pd.Series(dtype="int64"),
                "jobseeker_id": pd.Series(dtype="int64"),
                "score": pd.Series(dtype="float64"),
                "explanation": pd.Series(dtype=object),
            }
        )
    )
    matches: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            {
                "jobseeker_id": pd.Series(dtype="int64"),
                "need_id": pd.Series(dtype="int64"),
                "score": pd.Series(dtype="float64"),
            }
        )
    )
    #: Texts of the shortlist rows flagged ``spooled`` (in row order), kept on disk until written.
    explanations: TextSpool | None = None
    #: Candidates ranked after each need's shortlist (need_id, jobseeker_id, score, rank), kept
    #: for the next incremental run (``run_reserves``).
    reserves: pd.DataFrame | None = None
    #: Needs whose shortlist and reserve rows are the previous run's, copied as they are (their
    #: shortlist rows are also in ``shortlists``, for the report and the paths).
    copied_needs: np.ndarray | None = None
    #: Jobseekers whose list is the previous run's, copied as it is (rows not in ``matches``).
    copied_jobseekers: np.ndarray | None = None
    #: The previous run's needs and jobseekers *not* copied whole (the complements of the two
    #: sets above among the previous run's rows: the smaller key set to send to the database).
    uncopied_needs: np.ndarray | None = None
    uncopied_jobseekers: np.ndarray | None = None


# --- converting the engine's BlockResult ------------------------------------------------------
def _uses_asdict(cls: type) -> bool:
    try:
        from matching.ranking.explain import Explanation
    except ImportError:  # pragma: no cover - the engine is part of the package
        return False
    return getattr(cls, "to_dict", None) is Explanation.to_dict


def explanation_json(expl: Any) -> str | None:
    """An engine explanation as the JSON text stored in ``run_shortlists.explanation``.

    Computed in the workers, so the merge, the incremental bookkeeping and the writes handle
    plain strings. The engine's explanations are encoded by orjson from the dataclasses; any
    other object's ``to_dict`` is honoured.
    """
    if expl is None or isinstance(expl, str):
        return expl
    if isinstance(expl, dict):
        data = expl
    elif is_dataclass(expl) and _uses_asdict(type(expl)):
        # the engine's own explanations: orjson encodes the dataclasses natively, to the same
        # JSON value as ``json.dumps`` of their dict (tested; small floats are written 0.00001
        # instead of 1e-05), at less than half the cost (0.051 -> 0.022 ms per pair, about a
        # third of the explain stage at 100k)
        return orjson.dumps(expl).decode()
    else:
        to_dict = getattr(expl, "to_dict", None)
        if to_dict is None:
            raise RunError(
                "explication de rapprochement inattendue : objet avec to_dict() attendu, "
                f"reçu {type(expl).__name__}"
            )
        data = to_dict()
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)


def _flatten_matches(items: Any) -> list:
    """Matches from a list, a mapping id -> list of matches, or a DataFrame."""
    if items is None:
        return []
    if isinstance(items, dict):
        out: list = []
        for key in sorted(items):
            out.extend(items[key])
        return out
    return list(items)


def _frame_from(items: Any, *, key: str, with_explanation: bool) -> pd.DataFrame:
    if isinstance(items, pd.DataFrame):
        cols = ["need_id", "jobseeker_id", "score"] + (["explanation"] if with_explanation else [])
        df = items.reindex(columns=cols).copy()
        if with_explanation:
            df["explanation"] = [explanation_json(e) for e in df["explanation"]]
    else:
        flat = _flatten_matches(items)
        data: dict[str, Any] = {
            "need_id": np.fromiter((m.need_id for m in flat), dtype=np.int64, count=len(flat)),
            "jobseeker_id": np.fromiter(
                (m.jobseeker_id for m in flat), dtype=np.int64, count=len(flat)
            ),
            "score": np.fromiter((m.score for m in flat), dtype=np.float64, count=len(flat)),
        }
        if with_explanation:
            data["explanation"] = [explanation_json(getattr(m, "explanation", None)) for m in flat]
        df = pd.DataFrame(data)
    df["need_id"] = df["need_id"].astype(np.int64)
    df["jobseeker_id"] = df["jobseeker_id"].astype(np.int64)
    df["score"] = df["score"].astype(np.float64)
    if key == "jobseeker":
        df = df[["jobseeker_id", "need_id", "score"]]
    return df


def to_frames(result: Any) -> BlockFrames:
    """Convert an engine ``BlockResult`` into :class:`BlockFrames`.

    The engine's result carries, per need, the block's best candidates and, per jobseeker of the
    block, its best needs; both as lists of ``Match`` (or mappings id -> list of ``Match``, or
    DataFrames). Attribute names ``shortlists``/``per_need`` and ``matches``/``per_jobseeker``
    are accepted.
    """
    if isinstance(result, BlockFrames):
        return result
    per_need = _first_attr(result, ("shortlists", "per_need", "need_shortlists"))
    per_js = _first_attr(result, ("matches", "per_jobseeker", "jobseeker_matches"))
    return BlockFrames(
        shortlists=_frame_from(per_need, key="need", with_explanation=True),
        matches=_frame_from(per_js, key="jobseeker", with_explanation=False),
    )


def _first_attr(obj: Any, names: Sequence[str]) -> Any:
    for name in names:
        if hasattr(obj, name):
            return getattr(obj, name)
        if isinstance(obj, dict) and name in obj:
            return obj[name]
    raise RunError(
        f"résultat de bloc inattendu ({type(obj).__name__}) : attribut parmi {list(names)} attendu"
    )


# --- merging ----------------------------------------------------------------------------------
def top_k(df: pd.DataFrame, *, group: str, other: str, k: int) -> pd.DataFrame:
    """Best ``k`` rows per ``group`` by score (descending), ties by ``other`` id (ascending).

    Duplicated (group, other) pairs keep their first occurrence, so callers put fresh rows
    before reused ones. Returns the rows sorted by group then rank, with a 1-based ``rank``.
    """
    if df.empty:
        out = df.copy()
        out["rank"] = pd.Series(dtype="int64")
        return out
    df = df.drop_duplicates(subset=[group, other], keep="first")
    order = np.lexsort((df[other].to_numpy(), -df["score"].to_numpy(), df[group].to_numpy()))
    df = df.iloc[order]
    g = df[group].to_numpy()
    starts = np.r_[0, np.flatnonzero(g[1:] != g[:-1]) + 1]
    lengths = np.diff(np.r_[starts, len(g)])
    rank = np.arange(len(g)) - np.repeat(starts, lengths) + 1
    keep = rank <= k
    out = df[keep].copy()
    out["rank"] = rank[keep].astype(np.int64)
    return out.reset_index(drop=True)


def merge_frames(
    parts: Iterable[BlockFrames], *, top_per_need: int, top_per_jobseeker: int
) -> BlockFrames:
    """Merge block outputs (earlier parts win on duplicated pairs) into final top-k tables."""
    parts = list(parts)
    sl = [p.shortlists for p in parts if len(p.shortlists)]
    mt = [p.matches for p in parts if len(p.matches)]
    empty = BlockFrames()
    shortlists = pd.concat(sl, ignore_index=True) if sl else empty.shortlists
    matches = pd.concat(mt, ignore_index=True) if mt else empty.matches
    return BlockFrames(
        shortlists=top_k(shortlists, group="need_id", other="jobseeker_id", k=top_per_need),
        matches=top_k(matches, group="jobseeker_id", other="need_id", k=top_per_jobseeker),
    )


# --- running blocks ---------------------------------------------------------------------------
def split_blocks(ids: Sequence[int] | np.ndarray, block_size: int) -> list[np.ndarray]:
    """Sorted ids cut in consecutive blocks of at most ``block_size``."""
    if block_size < 1:
        raise ConfigurationError(f"taille de bloc invalide : entier ≥ 1 attendu, reçu {block_size}")
    arr = np.unique(np.asarray(ids, dtype=np.int64))
    return [arr[i : i + block_size] for i in range(0, len(arr), block_size)]


@dataclass(frozen=True)
class BlockTask:
    """One unit of work: jobseekers of the block, needs to rank them for (``None``: all)."""

    jobseeker_ids: np.ndarray
    need_ids: np.ndarray | None
    top_per_need: int
    top_per_jobseeker: int
    explain: bool

    def run(self, engine: Any) -> BlockFrames:
        return compute_block(engine, self)


@dataclass(frozen=True)
class ExplainTask:
    """Explanations of given (need, jobseeker) pairs (the final shortlists), as JSON text.

    With ``out`` (a file path on the machine running the task), the texts are written there
    (:class:`TextSpool` chunk) and only their count is returned: the calling process never
    holds them all (450,000 texts weigh about 2 GB as Python strings at 100k jobseekers).
    """

    need_ids: np.ndarray
    jobseeker_ids: np.ndarray
    out: str | None = None

    def run(self, engine: Any) -> list[str | None] | int:
        expl = explain_pairs(engine, self.need_ids, self.jobseeker_ids)
        texts = [explanation_json(e) for e in expl]
        if self.out is None:
            return texts
        TextSpool.write_chunk(self.out, texts)
        return len(texts)


#: Temporary directories of a run (engine dump, explanation texts): ``<prefix><pid>-<random>``.
TEMP_PREFIX = "passerelle-nightly-"


def remove_stale_files(directory: str | None = None) -> list[str]:
    """Remove the temporary directories of runs whose process is gone (killed, even ``-9``).

    A run killed at any point leaves its engine dump and explanation texts (up to a few GB at
    100k jobseekers) in the temporary directory; the next run removes them. Returns the paths
    removed.
    """
    import shutil

    root = Path(directory or tempfile.gettempdir())
    removed = []
    for path in root.glob(f"{TEMP_PREFIX}*"):
        pid = path.name[len(TEMP_PREFIX) :].split("-", 1)[0]
        if not path.is_dir() or not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # alive (or not ours to judge)
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(str(path))
    return removed


class TextSpool:
    """Texts (explanations) kept on disk in row order until they are written to the database.

    One pickle file per chunk, numbered; iterating yields the texts of every chunk in order,
    one chunk in memory at a time. The directory is temporary (``close`` removes it).
    """

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}{os.getpid()}-")
        self.chunks = 0
        self.size = 0

    def chunk_path(self, i: int) -> str:
        return str(Path(self._tmp.name) / f"chunk-{i:06d}.pickle")

    def reserve(self, n_chunks: int) -> list[str]:
        """Paths of the next ``n_chunks`` chunks (to be written by tasks)."""
        paths = [self.chunk_path(self.chunks + i) for i in range(n_chunks)]
        self.chunks += n_chunks
        return paths

    @staticmethod
    def write_chunk(path: str, texts: list[str | None]) -> None:
        tmp = f"{path}.part"
        with open(tmp, "wb") as fh:
            pickle.dump(texts, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)

    def __iter__(self) -> Iterator[str | None]:
        for i in range(self.chunks):
            with open(self.chunk_path(i), "rb") as fh:
                texts = pickle.load(fh)
            yield from texts
            del texts

    def close(self) -> None:
        self._tmp.cleanup()


def compute_block(engine: Any, task: BlockTask) -> BlockFrames:
    """Run one block through the engine contract and convert the result (pure function)."""
    result = engine.block_results(
        [int(i) for i in task.jobseeker_ids],
        need_ids=None if task.need_ids is None else [int(i) for i in task.need_ids],
        top_per_need=task.top_per_need,
        top_per_jobseeker=task.top_per_jobseeker,
        explain=task.explain,
    )
    return to_frames(result)


def explains_pairs(engine: Any) -> bool:
    """Whether the engine can explain arbitrary (need, jobseeker) pairs.

    Then the run scores blocks without explanations and explains only the pairs that made the
    final shortlists: each block would otherwise explain its own top ``top_per_need`` per need,
    up to ``retrieve_k / top_per_need`` times more pairs than are kept (4x at 100k), and
    explaining is the engine's most expensive step per pair. ``explain_pairs(need_ids,
    jobseeker_ids)`` is the method we asked the engine for; until it exists, the fitted
    ``MatchingEngine``'s own pair-feature and explanation functions are used (same per-pair
    computation as inside ``block_results``, so the text is identical).
    """
    if callable(getattr(engine, "explain_pairs", None)):
        return True
    return all(hasattr(engine, a) for a in ("_explain_many", "ctx_", "need_pos_", "js_pos_"))


def explain_pairs(engine: Any, need_ids: np.ndarray, jobseeker_ids: np.ndarray) -> list:
    """Engine explanations of aligned (need, jobseeker) pairs (see :func:`explains_pairs`)."""
    fn = getattr(engine, "explain_pairs", None)
    if callable(fn):
        return list(fn(need_ids, jobseeker_ids))
    from matching.ranking.pair_features import pair_features

    nr = np.fromiter((engine.need_pos_[int(n)] for n in need_ids), np.int64, len(need_ids))
    jr = np.fromiter((engine.js_pos_[int(j)] for j in jobseeker_ids), np.int64, len(jobseeker_ids))
    if not len(nr):
        return []
    return list(engine._explain_many(nr, jr, pair_features(engine.ctx_, nr, jr)))


def run_task(engine: Any, task: Any) -> Any:
    """Run any task (:class:`BlockTask`, :class:`ExplainTask`) against the engine."""
    return task.run(engine)


_WORKER_ENGINES: dict[str, Any] = {}


#: Memory growth a loky worker tolerates before it restarts itself (loky's default, 300 MB,
#: mistakes the engine's pages mapped copy-on-write and its lazily built caches for a leak: the
#: worker then restarts, imports the package and loads the engine again, several times a run).
WORKER_MEMORY_GROWTH = int(4e9)


def _tolerate_engine_memory() -> None:
    try:
        from joblib.externals.loky import process_executor
    except ImportError:  # pragma: no cover - loky ships with joblib
        return
    if getattr(process_executor, "_MAX_MEMORY_LEAK_SIZE", None) is not None:
        process_executor._MAX_MEMORY_LEAK_SIZE = max(
            process_executor._MAX_MEMORY_LEAK_SIZE, WORKER_MEMORY_GROWTH
        )


def _run_task_from_file(path: str, task: Any) -> Any:
    engine = _WORKER_ENGINES.get(path)
    if engine is None:
        _tolerate_engine_memory()
        _WORKER_ENGINES.clear()  # one engine per worker at a time (a new run = a new file)
        # copy-on-write: arrays shared with the other workers until an engine writes to them
        # (e.g. sorting sparse indices in place), which a read-only map would refuse
        engine = _WORKER_ENGINES[path] = joblib.load(path, mmap_mode="c")
    return task.run(engine)


def release_workers() -> None:
    """Stop the idle local worker processes (joblib's reusable loky pool).

    They keep their memory (the mapped engine, planning data, allocator arenas: about 0.8 GB
    each at 100k jobseekers) for minutes after the last task; the run's later stages (writes)
    run in this process only and would otherwise add them to its peak.
    """
    try:
        from joblib.externals.loky import reusable_executor
    except ImportError:  # pragma: no cover - loky ships with joblib
        return
    executor = getattr(reusable_executor, "_executor", None)
    if executor is not None:
        executor.shutdown(wait=True)


class EngineFile:
    """The fitted engine dumped once for the local process pool (shared by the run's stages)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self._tmp: tempfile.TemporaryDirectory | None = None
        self.path: str | None = None

    def get(self) -> str:
        if self.path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}{os.getpid()}-")
            self.path = str(Path(self._tmp.name) / f"engine-{os.getpid()}.joblib")
            joblib.dump(self.engine, self.path)
        return self.path

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
        self._tmp = self.path = None


def run_tasks(
    engine: Any,
    tasks: list[Any],
    *,
    backend: str = "local",
    n_jobs: int = 1,
    scheduler: str | None = None,
    client: Any = None,
    progress: ProgressFn | None = None,
    engine_file: EngineFile | None = None,
    on_result: Callable[[int, Any], None] | None = None,
) -> list[Any]:
    """Run ``tasks`` and return their outputs in task order (deterministic whatever the backend).

    Parameters
    ----------
    engine : fitted engine honouring the ``block_results`` contract.
    tasks : blocks (:class:`BlockTask`) or explanations (:class:`ExplainTask`) to run.
    backend : ``"local"`` (joblib processes) or ``"dask"`` (dask.distributed).
    n_jobs : processes for the local backend (scikit-learn meaning; 1 = in this process).
    scheduler : address of the Dask scheduler (``tcp://host:8786``) for the Dask backend.
    client : an existing ``distributed.Client`` (tests); overrides ``scheduler``.
    progress : called with (done, total) after each task.
    engine_file : the engine already dumped for the local pool (reused between stages).
    on_result : called with (task index, output) as each output arrives; the output is then not
        kept (``None`` in the returned list), so large outputs can be spooled away.
    """
    total = len(tasks)
    if total == 0:
        return []
    if backend == "dask":
        return _run_dask(
            engine,
            tasks,
            scheduler=scheduler,
            client=client,
            progress=progress,
            on_result=on_result,
        )
    if backend != "local":
        raise ConfigurationError(
            f"moteur d'exécution inconnu : « local » ou « dask » attendu, reçu « {backend} »"
        )
    n = joblib.effective_n_jobs(n_jobs)
    results: list[Any] = []

    def keep(i: int, out: Any) -> None:
        if on_result is not None:
            on_result(i, out)
            out = None
        results.append(out)
        if progress:
            progress(i + 1, total)

    if n == 1 or total == 1:
        for i, task in enumerate(tasks):
            keep(i, task.run(engine))
        return results
    own = engine_file is None
    ef = engine_file or EngineFile(engine)
    try:
        path = ef.get()
        parallel = joblib.Parallel(n_jobs=n, backend="loky", return_as="generator")
        gen = parallel(joblib.delayed(_run_task_from_file)(path, t) for t in tasks)
        for i, out in enumerate(gen):
            keep(i, out)
    finally:
        if own:
            ef.close()
    return results


def _run_dask(
    engine: Any,
    tasks: list[Any],
    *,
    scheduler: str | None,
    client: Any,
    progress: ProgressFn | None,
    on_result: Callable[[int, Any], None] | None = None,
) -> list[Any]:
    try:
        from distributed import Client, as_completed
    except ImportError as exc:  # pragma: no cover - dask is a dependency
        raise ConfigurationError(
            "moteur « dask » demandé mais dask.distributed n'est pas installé "
            "(pip install 'dask[distributed]')"
        ) from exc
    own = client is None
    if own:
        if not scheduler:
            raise ConfigurationError(
                "moteur « dask » : adresse du planificateur attendue (--scheduler tcp://hôte:8786)"
            )
        client = Client(scheduler)
    try:
        engine_future = client.scatter(engine, broadcast=True, hash=False)
        futures = client.map(
            run_task,
            [engine_future] * len(tasks),
            tasks,
            pure=False,
            retries=2,
        )
        index = {f.key: i for i, f in enumerate(futures)}
        results: list[Any] = [None] * len(tasks)
        for done, fut in enumerate(as_completed(futures), start=1):
            out = fut.result()
            if on_result is not None:
                on_result(index[fut.key], out)
                out = None
            results[index[fut.key]] = out
            fut.release()
            if progress:
                progress(done, len(tasks))
        client.cancel([engine_future])
        return results
    finally:
        if own:
            client.close()
