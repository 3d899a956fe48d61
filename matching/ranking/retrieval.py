"""Exact retrieval: the most similar *eligible* candidates per need and needs per jobseeker.

Everything here works on fitted arrays (no pandas, no Python loop over pairs):

* similarity = inner product of L2-normalised skill vectors restricted to the skill columns some
  need uses (a jobseeker skill no need asks for cannot change any score);
* hard constraints (availability date ≤ hiring date, estimated road distance between communes ≤
  the person's maximum, driving licence when required) are folded into the product itself as
  *penalty columns*, so one sparse × dense product gives the masked scores (see below);
* a pair whose similarity is 0 (nothing in common) or that breaks a constraint is never a
  candidate.

Constraints as penalty columns
------------------------------
Both sides get a few extra columns; a need carries ``-10`` in them, a jobseeker ``1`` or ``0``,
so an ineligible pair scores ``similarity - 10 ≤ -9`` and an eligible one exactly its similarity
(the penalties add ``-10 × 0 = -0.0`` after the skill terms, which changes no bit):

* reach: one column per (commune, licence required) group used by some need; the jobseeker has 1
  where the group's commune is beyond their maximum or the licence is required and not held;
* availability: needs' hiring days between the earliest and latest availability are ranked
  (``r``); a jobseeker is late for rank ``r`` iff ``r < q`` (``q`` = hiring days before their
  availability). ``[r < q]`` is written exactly as ``[r // b < q // b] + [r // b = q // b and
  r % b < q % b]`` with ``b ≈ √(distinct days)``: a need has 2 non-zeros, a jobseeker at most
  ``≈ 2√(distinct days)`` (and none when available before every hiring day); a need hiring
  before everyone's availability uses one all-ones column.

Exact top-k and ties
--------------------
Each (score, other id) is encoded as one ``uint64`` key: the IEEE-754 bits of the positive
``float32`` score (monotonic for positive floats) in the high word and ``0xFFFFFFFF - row`` in the
low word. Keys are unique, "larger key" means "higher score, then smaller id", so top-k is a plain
``np.partition`` on keys and ties are broken by id without any sort of the whole pool.

All pairs (``search_all``)
--------------------------
Jobseekers are processed in blocks (``block_size`` columns, sized so the score block stays in
cache): one sparse × dense product ``needs (n × d) @ jobseekers_blockᵀ (d × B)`` gives the masked
(n × B) float32 score block, then two vectorised filters:

* per jobseeker (column, complete within the block): a lower bound of its k-th best score is the
  k-th largest of the maxima of ``4k`` disjoint interleaved groups of rows; entries above it go
  through an exact partition on keys;
* per need (row, streamed over blocks): entries above the need's running threshold (the k-th best
  key seen so far) are appended to a per-need slot table; a need whose slots are full is
  compacted to its best k (``np.partition``), which raises its threshold (expected insertions
  grow like ``k log(n_jobseekers / k)``).

Blocks are shared between ``n_jobs`` threads (the sparse product and numpy release the GIL; the
thresholds are shared, each thread keeps its own slots); the final merge is on unique keys, so
results do not depend on ``n_jobs`` or ``block_size``.
"""

from __future__ import annotations

import itertools
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

LOW = np.uint64(0xFFFFFFFF)
SHIFT = np.uint64(32)
PENALTY = np.float32(-10.0)
TINY = np.float32(1e-30)  # smallest threshold: only positive scores are candidates


def encode_keys(scores: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """uint64 keys ordering by score (desc) then row (asc); ``scores`` must be positive float32."""
    bits = np.ascontiguousarray(scores, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return (bits << SHIFT) | (LOW - np.asarray(rows, dtype=np.uint64))


def decode_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows int64, scores float32) of keys; key 0 (empty slot) gives row -1, score 0."""
    keys = np.asarray(keys, dtype=np.uint64)
    rows = (LOW - (keys & LOW)).astype(np.int64)
    scores = (keys >> SHIFT).astype(np.uint32).view(np.float32)
    empty = keys == 0
    rows[empty] = -1
    return rows, np.where(empty, np.float32(0), scores)


def key_scores(keys: np.ndarray) -> np.ndarray:
    """float32 score of keys (0 for empty slots)."""
    return (np.asarray(keys, np.uint64) >> SHIFT).astype(np.uint32).view(np.float32)


def top_keys(keys: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` largest keys, sorted in decreasing order (fewer if ``len(keys) < k``)."""
    if k <= 0:
        return np.zeros(0, np.uint64)
    if len(keys) > k:
        keys = np.partition(keys, len(keys) - k)[len(keys) - k :]
    return np.sort(keys)[::-1]


def merge_tables(table: np.ndarray, rows: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Merge new ``(row, key)`` entries into a (n × k) table of each row's best keys."""
    if len(rows) == 0:
        return table
    n, k = table.shape
    order = np.argsort(rows, kind="stable")
    rows, keys = rows[order], keys[order]
    counts = np.bincount(rows, minlength=n)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    width = int(counts.max())
    buf = np.zeros((n, k + width), np.uint64)
    buf[:, :k] = table
    buf[rows, k + np.arange(len(rows)) - starts[rows]] = keys
    return np.partition(buf, width, axis=1)[:, width:]


def _nonzero(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.nonzero`` of a C-contiguous 2-D mask, row-major (the 1-D path is ~9× faster)."""
    flat = np.flatnonzero(mask)
    return np.divmod(flat, mask.shape[1])


def _runs(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For sorted ``rows``: distinct rows, their counts, and each entry's rank within its row
    (binary searches rather than ``np.repeat``: they release the GIL for the other threads)."""
    within = np.arange(len(rows)) - np.searchsorted(rows, rows)
    start = np.flatnonzero(within == 0)
    counts = np.diff(start, append=len(rows))
    return rows[start], counts, within


@dataclass
class SearchResult:
    """Best keys per need (``need_keys``, n_needs × k_need) and per jobseeker (``js_keys``,
    n_jobseekers × k_js), rows in decreasing key order, 0 = empty slot. Decode with
    :func:`decode_keys`: need rows hold jobseeker rows, jobseeker rows hold need rows."""

    need_keys: np.ndarray
    js_keys: np.ndarray

    def need_thresholds(self) -> np.ndarray:
        """Key of each need's k-th best candidate (0 when it has fewer than k)."""
        return self.need_keys[:, -1] if self.need_keys.shape[1] else np.zeros(0, np.uint64)


class _NeedSlots:
    """Streaming exact top-k per need: a (n × cap) slot table per thread, shared thresholds."""

    def __init__(self, n: int, k: int, cap: int, thr: np.ndarray, thr_f: np.ndarray):
        self.k, self.cap = k, cap
        self.slots = np.zeros((n, cap), np.uint64)
        self.fill = np.zeros(n, np.int64)
        self.thr, self.thr_f = thr, thr_f

    def add(self, rows: np.ndarray, keys: np.ndarray) -> None:
        """Insert entries (``rows`` sorted ascending)."""
        if len(rows) == 0:
            return
        uniq, counts, within = _runs(rows)
        end = self.fill[uniq] + counts
        over = end > self.cap
        if not over.any():
            self.slots[rows, self.fill[rows] + within] = keys
            self.fill[uniq] = end
            return
        full_row = np.zeros(len(self.fill), bool)
        full_row[uniq[over]] = True
        ok_entry = ~full_row[rows]
        r_ok = rows[ok_entry]
        self.slots[r_ok, self.fill[r_ok] + within[ok_entry]] = keys[ok_entry]
        self.fill[uniq[~over]] = end[~over]
        # full rows: their slots and new entries, partitioned down to the best k
        full = uniq[over]
        c_full = counts[over]
        width = int(c_full.max())
        buf = np.zeros((len(full), self.cap + width), np.uint64)
        buf[:, : self.cap] = self.slots[full]
        local = np.searchsorted(full, rows[~ok_entry])
        buf[local, self.cap + within[~ok_entry]] = keys[~ok_entry]
        best = np.partition(buf, buf.shape[1] - self.k, axis=1)[:, -self.k :]
        self.slots[full] = 0
        self.slots[full, : self.k] = best
        self.fill[full] = self.k
        kth = best.min(axis=1)
        new = np.maximum(self.thr[full], kth)
        self.thr[full] = new
        self.thr_f[full] = np.maximum(key_scores(new), TINY)

    def best(self) -> np.ndarray:
        """(n × k) best keys, unsorted."""
        if self.cap == self.k:
            return self.slots
        return np.partition(self.slots, self.cap - self.k, axis=1)[:, self.cap - self.k :]


class CandidateIndex:
    """Exact masked similarity search between needs and jobseekers.

    Results (keys) do not depend on ``block_size``, ``n_jobs`` or ``buffer_factor``.

    Parameters
    ----------
    block_size : int
        Jobseekers per block in the all-pairs search (the score block is ``n_needs × block_size``
        float32; 128 keeps the product's dense operand and output in cache for ~10,000 needs).
    n_jobs : int
        Threads sharing the blocks (scikit-learn meaning: -1 = all cores).
    buffer_factor : int
        Slots per need in the streaming top-k, as a multiple of ``k_need`` (a full row is
        compacted back to ``k_need``).
    """

    def __init__(self, *, block_size: int = 128, n_jobs: int = 1, buffer_factor: int = 2):
        self.block_size = block_size
        self.n_jobs = n_jobs
        self.buffer_factor = buffer_factor

    def fit(
        self,
        *,
        need_vectors: sp.csr_matrix,
        js_vectors: sp.csr_matrix,
        need_hiring_day: np.ndarray,
        need_commune: np.ndarray,
        need_licence: np.ndarray,
        js_available_day: np.ndarray,
        js_commune: np.ndarray,
        js_max_km: np.ndarray,
        js_licence: np.ndarray,
        distance_km: np.ndarray,
    ) -> CandidateIndex:
        """Index vectors and constraint arrays (rows in engine order, ids ascending).

        Days are integers (days since epoch); communes are indices into ``distance_km``.
        """
        need_vectors = sp.csr_matrix(need_vectors, dtype=np.float32)
        js_vectors = sp.csr_matrix(js_vectors, dtype=np.float32)
        n, m = need_vectors.shape[0], js_vectors.shape[0]
        used = np.unique(need_vectors.indices)
        self.used_columns_ = used
        self.needs_ = sp.csr_matrix(need_vectors[:, used], dtype=np.float32)
        self.needs_.sort_indices()
        self.js_ = sp.csr_matrix(js_vectors[:, used], dtype=np.float32)
        self.js_.sort_indices()
        d = len(used)
        self.need_hiring_ = np.asarray(need_hiring_day, np.int64)
        self.js_available_ = np.asarray(js_available_day, np.int64)
        licence = np.asarray(js_licence, bool)
        # reach: (commune, licence required) groups used by the needs
        need_group = 2 * np.asarray(need_commune, np.int64) + np.asarray(need_licence, bool)
        groups, need_g = np.unique(need_group, return_inverse=True)
        within = (
            np.asarray(distance_km, np.float32)[np.asarray(js_commune, np.int64)][:, groups // 2]
            <= np.asarray(js_max_km, np.float32)[:, None]
        )
        reach = within & ((groups % 2 == 0)[None, :] | licence[:, None])  # m × G
        self.need_group_ = need_g
        n_groups = len(groups)
        # availability: ranks of the hiring days that split the jobseekers
        hiring, avail = self.need_hiring_, self.js_available_
        lo = avail.min(initial=0)
        hi = avail.max(initial=0)
        dead = hiring < lo if m else np.zeros(n, bool)
        mid = (hiring >= lo) & (hiring < hi) & ~dead
        hvals = np.unique(hiring[mid])
        b = max(1, math.isqrt(max(len(hvals) - 1, 0)) + 1)
        n_hi = -(-len(hvals) // b)
        base_g, base_dead = d, d + n_groups
        base_hi = base_dead + 1
        base_lo = base_hi + n_hi
        width = base_lo + len(hvals)
        # need side: -10 in its group column, the dead column or its two rank columns
        rn = np.searchsorted(hvals, hiring)
        nr = [np.arange(n), np.flatnonzero(dead), np.flatnonzero(mid), np.flatnonzero(mid)]
        nc = [base_g + need_g, np.full(dead.sum(), base_dead), base_hi + rn[mid] // b]
        nc.append(base_lo + rn[mid])
        pen_n = sp.csr_matrix(
            (np.full(sum(len(x) for x in nr), PENALTY), (np.concatenate(nr), np.concatenate(nc))),
            shape=(n, width),
        )
        pen_n = pen_n[:, d:]
        # jobseeker side: 1 in unreachable groups, the dead column, late rank columns
        q = np.searchsorted(hvals, avail)  # hiring days strictly before availability
        qh, ql = q // b, q % b
        uj, ug = np.nonzero(~reach)
        jr = [uj, np.arange(m), np.repeat(np.arange(m), qh), np.repeat(np.arange(m), ql)]
        jc = [base_g + ug, np.full(m, base_dead)]
        jc.append(base_hi + np.arange(qh.sum()) - np.repeat(np.cumsum(qh) - qh, qh))
        jc.append(
            base_lo
            + np.repeat(qh * b, ql)
            + np.arange(ql.sum())
            - np.repeat(np.cumsum(ql) - ql, ql)
        )
        pen_j = sp.csr_matrix(
            (
                np.ones(sum(len(x) for x in jr), np.float32),
                (np.concatenate(jr), np.concatenate(jc)),
            ),
            shape=(m, width),
        )[:, d:]
        self.needs_aug_ = sp.hstack([self.needs_, pen_n], format="csr", dtype=np.float32)
        self.needs_aug_.sort_indices()
        self.js_aug_ = sp.hstack([self.js_, pen_j], format="csr", dtype=np.float32)
        self.js_aug_.sort_indices()
        self.js_aug_csc_ = self.js_aug_.tocsc()
        self.js_aug_csc_.sort_indices()
        return self

    @property
    def n_needs(self) -> int:
        return self.needs_.shape[0]

    @property
    def n_jobseekers(self) -> int:
        return self.js_.shape[0]

    # -- one need / one jobseeker ---------------------------------------------------------------
    def need_scores(self, need_row: int) -> np.ndarray:
        """Masked similarity of one need with every jobseeker (0 = not a candidate); the terms
        are added in the same column order as in the all-pairs blocks (same float32 bits)."""
        row = self.needs_aug_[need_row]
        sub = self.js_aug_csc_[:, row.indices]
        scores = np.asarray(sub @ row.data, np.float32).ravel()
        return np.maximum(scores, 0, out=scores)

    def top_for_need(self, need_row: int, k: int) -> np.ndarray:
        """Keys of the ``k`` best eligible jobseekers of one need, decreasing."""
        scores = self.need_scores(need_row)
        if 0 < k < len(scores):
            # only scores at least the k-th largest (ties included) can be in the top k
            kth = np.partition(scores, len(scores) - k)[len(scores) - k]
            pos = np.flatnonzero(scores >= max(kth, TINY))
        else:
            pos = np.flatnonzero(scores > 0)
        return top_keys(encode_keys(scores[pos], pos), k)

    def js_scores(self, js_row: int, need_rows: np.ndarray | None = None) -> np.ndarray:
        """Masked similarity of one jobseeker with the needs (all, or ``need_rows``)."""
        x = np.zeros(self.js_aug_.shape[1], np.float32)
        r = self.js_aug_[js_row]
        x[r.indices] = r.data
        needs = self.needs_aug_ if need_rows is None else self.needs_aug_[need_rows]
        scores = np.asarray(needs @ x, np.float32)
        return np.maximum(scores, 0, out=scores)

    def top_for_jobseeker(self, js_row: int, k: int, need_rows: np.ndarray | None = None):
        """Keys (need row = position in ``need_rows`` when given) of the ``k`` best needs."""
        scores = self.js_scores(js_row, need_rows)
        pos = np.flatnonzero(scores > 0)
        return top_keys(encode_keys(scores[pos], pos), k)

    # -- blocks ---------------------------------------------------------------------------------
    def _raw_block(self, js: sp.csr_matrix, needs: sp.csr_matrix) -> np.ndarray:
        """(needs × jobseekers) float32 scores, ineligible pairs negative."""
        dense_t = js.toarray(order="F").T  # C-contiguous (columns × jobseekers)
        return np.asarray(needs @ dense_t, dtype=np.float32)

    def block_scores(self, js_rows: np.ndarray, need_rows: np.ndarray | None = None) -> np.ndarray:
        """Masked (len(need_rows) × len(js_rows)) float32 similarity block (0 = not a
        candidate)."""
        js = self.js_aug_[np.asarray(js_rows, np.int64)]
        needs = self.needs_aug_ if need_rows is None else self.needs_aug_[need_rows]
        scores = self._raw_block(js, needs)
        return np.maximum(scores, 0, out=scores)

    @staticmethod
    def _column_bound(scores: np.ndarray, k: int) -> np.ndarray:
        """Lower bound of each column's k-th best score: the k-th largest of the maxima of
        ``4k`` disjoint groups of rows (k distinct entries are at least that large)."""
        n = scores.shape[0]
        groups = 4 * k
        if k == 0 or n < 2 * groups:
            return np.full(scores.shape[1], TINY)
        per = n // groups
        # interleaved groups (row i in group i mod 4k): rows of one commune are often
        # consecutive, and a contiguous group could be all ineligible for a person
        maxima = scores[: per * groups].reshape(per, groups, -1).max(axis=0)
        bound = np.partition(maxima, groups - k, axis=0)[groups - k]
        return np.maximum(bound, TINY)

    def column_table(self, scores: np.ndarray, k: int) -> np.ndarray:
        """(n_columns × k) keys of each column's best rows of a score block, decreasing."""
        bound = self._column_bound(scores, k)
        r, c = _nonzero(scores >= bound[None, :])
        table = np.zeros((scores.shape[1], k), np.uint64)
        table = merge_tables(table, c, encode_keys(scores[r, c], r))
        return np.sort(table, axis=1)[:, ::-1]

    def _run_chunk(self, blocks, k_need: int, k_js: int, thr, thr_f):
        slots = _NeedSlots(
            self.n_needs, k_need, max(k_need * self.buffer_factor, k_need), thr, thr_f
        )
        js_tables = []
        for a, b in blocks:
            scores = self._raw_block(self.js_aug_[a:b], self.needs_aug_)
            js_tables.append(
                self.column_table(scores, k_js) if k_js else np.zeros((b - a, 0), np.uint64)
            )
            if k_need:
                # entries at least the need's running threshold (equal scores included: their
                # ids decide, in the exact partition of the slots)
                flat = np.flatnonzero(scores >= thr_f[:, None])
                r, c = np.divmod(flat, b - a)
                slots.add(r, encode_keys(scores.ravel()[flat], c + a))
        js_table = np.concatenate(js_tables) if js_tables else np.zeros((0, k_js), np.uint64)
        return slots.best(), js_table

    def search_all(self, *, k_need: int, k_js: int) -> SearchResult:
        """Exact top-``k_need`` jobseekers of every need and top-``k_js`` needs of every
        jobseeker (see the module docstring for the method)."""
        n_js, n = self.n_jobseekers, self.n_needs
        blocks = [(a, min(a + self.block_size, n_js)) for a in range(0, n_js, self.block_size)]
        if not blocks or n == 0:
            return SearchResult(np.zeros((n, k_need), np.uint64), np.zeros((n_js, k_js), np.uint64))
        n_threads = self.n_jobs if self.n_jobs > 0 else (os.cpu_count() or 1)
        n_threads = max(1, min(n_threads, len(blocks)))
        bounds = np.linspace(0, len(blocks), n_threads + 1).astype(int)
        chunks = [blocks[a:b] for a, b in itertools.pairwise(bounds)]
        thr = np.zeros(n, np.uint64)  # shared: any thread's k-th best key is a valid bound
        thr_f = np.full(n, TINY)
        if n_threads == 1:
            parts = [self._run_chunk(chunks[0], k_need, k_js, thr, thr_f)]
        else:
            with ThreadPoolExecutor(n_threads) as pool:
                parts = list(
                    pool.map(lambda ch: self._run_chunk(ch, k_need, k_js, thr, thr_f), chunks)
                )
        need_table = np.concatenate([p[0] for p in parts], axis=1)
        if need_table.shape[1] > k_need:
            need_table = np.partition(need_table, need_table.shape[1] - k_need, axis=1)
            need_table = need_table[:, -k_need:]
        return SearchResult(
            need_keys=np.sort(need_table, axis=1)[:, ::-1],
            js_keys=np.concatenate([p[1] for p in parts]),
        )
