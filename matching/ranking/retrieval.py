"""Exact retrieval: the most similar *eligible* candidates per need and needs per jobseeker.

Everything here works on fitted arrays (no pandas, no Python loop over pairs):

* similarity = inner product of L2-normalised skill vectors restricted to the skill columns some
  need uses (a jobseeker skill no need asks for cannot change any score);
* hard constraints as numpy masks: availability date ≤ hiring date, estimated road distance
  between communes ≤ the person's maximum, driving licence when required. Distance and licence
  are folded into one boolean ``reach`` table (jobseeker × (commune, licence required)) computed
  once, so a block mask is a row gather;
* a pair whose similarity is 0 (nothing in common) or that breaks a constraint is never a
  candidate.

Exact top-k and ties
--------------------
Each (score, other id) is encoded as one ``uint64`` key: the IEEE-754 bits of the positive
``float32`` score (monotonic for positive floats) in the high word and ``0xFFFFFFFF - row`` in the
low word. Keys are unique, "larger key" means "higher score, then smaller id", so top-k is a plain
``np.partition`` on keys and ties are broken by id without any sort of the whole pool.

All pairs (``search_all``)
--------------------------
Jobseekers are processed in blocks (``block_size`` columns): one sparse × dense product
``needs (n × d) @ jobseekers_blockᵀ (d × B)`` gives the (n × B) score block, masks are applied in
place, then

* per jobseeker (column): a lower bound of its k-th best score is the smallest of the maxima of k
  disjoint groups of rows; only entries above it are kept, then an exact partition on keys;
* per need (row): a running threshold (the current k-th best key of that need); entries above it
  are accumulated and merged into the (n × k) table of best keys when the buffer is large, which
  raises the thresholds (expected insertions grow like ``k log(n_jobseekers / k)``).

Blocks are shared between ``n_jobs`` threads (numpy and scipy release the GIL); the final merge is
on unique keys, so results do not depend on ``n_jobs`` or ``block_size``.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

LOW = np.uint64(0xFFFFFFFF)
SHIFT = np.uint64(32)


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


def top_keys(keys: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` largest keys, sorted in decreasing order (fewer if ``len(keys) < k``)."""
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


class CandidateIndex:
    """Exact masked similarity search between needs and jobseekers.

    Parameters
    ----------
    block_size : int
        Jobseekers per block in the all-pairs search (the score block is ``n_needs × block_size``
        float32; 256 keeps it in cache for ~10,000 needs).
    n_jobs : int
        Threads sharing the blocks (scikit-learn meaning: -1 = all cores).
    merge_every : int
        Per-need candidate entries buffered before merging into the top-k table.
    """

    def __init__(self, *, block_size: int = 256, n_jobs: int = 1, merge_every: int = 2_000_000):
        self.block_size = block_size
        self.n_jobs = n_jobs
        self.merge_every = merge_every

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
        used = np.unique(need_vectors.indices)
        self.used_columns_ = used
        self.needs_ = sp.csr_matrix(need_vectors[:, used], dtype=np.float32)
        self.needs_.sort_indices()
        self.js_ = sp.csr_matrix(js_vectors[:, used], dtype=np.float32)
        self.js_.sort_indices()
        self.js_csc_ = self.js_.tocsc()
        self.js_csc_.sort_indices()
        n_communes = distance_km.shape[0]
        # reach[j, 2c + l]: commune c within j's maximum, and (licence not required or held)
        within = (
            np.asarray(distance_km, np.float32)[np.asarray(js_commune)]
            <= np.asarray(js_max_km, np.float32)[:, None]
        )
        reach = np.zeros((len(js_commune), 2 * n_communes), bool)
        reach[:, 0::2] = within
        reach[:, 1::2] = within & np.asarray(js_licence, bool)[:, None]
        self.reach_t_ = np.ascontiguousarray(reach.T)  # groups × jobseekers
        self.need_group_ = 2 * np.asarray(need_commune, np.int64) + np.asarray(need_licence, bool)
        self.need_hiring_ = np.asarray(need_hiring_day, np.int64)
        # all-pairs blocks work on needs sorted by group, so a group's mask is one broadcast row
        order = np.argsort(self.need_group_, kind="stable")
        self.group_order_ = order
        self.sorted_needs_ = self.needs_[order]
        groups = self.need_group_[order]
        cuts = np.flatnonzero(np.diff(groups)) + 1
        self.group_slices_ = [
            (int(groups[a]), int(a), int(b))
            for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(order)], strict=True)
        ]
        self.reach_f_ = self.reach_t_.astype(np.float32)
        self.js_available_ = np.asarray(js_available_day, np.int64)
        return self

    @property
    def n_needs(self) -> int:
        return self.needs_.shape[0]

    @property
    def n_jobseekers(self) -> int:
        return self.js_.shape[0]

    # -- one need / one jobseeker ---------------------------------------------------------------
    def need_scores(self, need_row: int) -> np.ndarray:
        """Masked similarity of one need with every jobseeker (0 = not a candidate)."""
        row = self.needs_[need_row]
        sub = self.js_csc_[:, row.indices]
        scores = np.asarray(sub @ row.data.astype(np.float32), np.float32).ravel()
        scores *= self.reach_t_[self.need_group_[need_row]]
        scores[self.js_available_ > self.need_hiring_[need_row]] = 0
        return scores

    def top_for_need(self, need_row: int, k: int) -> np.ndarray:
        """Keys of the ``k`` best eligible jobseekers of one need, decreasing."""
        scores = self.need_scores(need_row)
        pos = np.flatnonzero(scores > 0)
        return top_keys(encode_keys(scores[pos], pos), k)

    def js_scores(self, js_row: int, need_rows: np.ndarray | None = None) -> np.ndarray:
        """Masked similarity of one jobseeker with the needs (all, or ``need_rows``)."""
        x = np.zeros(self.js_.shape[1], np.float32)
        r = self.js_[js_row]
        x[r.indices] = r.data
        needs = self.needs_ if need_rows is None else self.needs_[need_rows]
        groups = self.need_group_ if need_rows is None else self.need_group_[need_rows]
        hiring = self.need_hiring_ if need_rows is None else self.need_hiring_[need_rows]
        scores = np.asarray(needs @ x, np.float32)
        scores *= self.reach_t_[groups, js_row]
        scores[hiring < self.js_available_[js_row]] = 0
        return scores

    def top_for_jobseeker(self, js_row: int, k: int, need_rows: np.ndarray | None = None):
        """Keys (need row = position in ``need_rows`` when given) of the ``k`` best needs."""
        scores = self.js_scores(js_row, need_rows)
        pos = np.flatnonzero(scores > 0)
        return top_keys(encode_keys(scores[pos], pos), k)

    # -- blocks ---------------------------------------------------------------------------------
    def block_scores(self, js_rows: np.ndarray, need_rows: np.ndarray | None = None) -> np.ndarray:
        """Masked (len(need_rows) × len(js_rows)) float32 similarity block."""
        js_rows = np.asarray(js_rows, np.int64)
        dense_t = np.ascontiguousarray(self.js_[js_rows].toarray().T)
        needs = self.needs_ if need_rows is None else self.needs_[need_rows]
        groups = self.need_group_ if need_rows is None else self.need_group_[need_rows]
        hiring = self.need_hiring_ if need_rows is None else self.need_hiring_[need_rows]
        scores = np.asarray(needs @ dense_t, dtype=np.float32)
        reach = self.reach_t_[:, js_rows][groups]
        np.multiply(scores, reach, out=scores)
        available = self.js_available_[js_rows]
        late = np.flatnonzero(available > hiring.min(initial=np.iinfo(np.int64).max))
        if len(late):
            scores[:, late] *= available[late][None, :] <= hiring[:, None]
        return scores

    def _sorted_block_scores(self, js_rows: np.ndarray) -> np.ndarray:
        """Like :meth:`block_scores` for all needs, rows in ``group_order_``."""
        dense_t = np.ascontiguousarray(self.js_[js_rows].toarray().T)
        scores = np.asarray(self.sorted_needs_ @ dense_t, dtype=np.float32)
        reach = self.reach_f_[:, js_rows]
        for g, a, b in self.group_slices_:
            scores[a:b] *= reach[g]
        hiring = self.need_hiring_[self.group_order_]
        available = self.js_available_[js_rows]
        late = np.flatnonzero(available > hiring.min(initial=np.iinfo(np.int64).max))
        if len(late):
            scores[:, late] *= available[late][None, :] <= hiring[:, None]
        return scores

    @staticmethod
    def _column_bound(scores: np.ndarray, k: int) -> np.ndarray:
        """Lower bound of each column's k-th best score: the k-th largest of the maxima of
        ``4k`` disjoint groups of rows (k distinct entries are at least that large)."""
        n = scores.shape[0]
        groups = 4 * k
        if k == 0 or n < 2 * groups:
            return np.full(scores.shape[1], np.float32(1e-30))
        per = n // groups
        # interleaved groups (row i in group i mod 4k): rows are sorted by commune, and a
        # contiguous group could be all zeros for a person who cannot reach that commune
        maxima = scores[: per * groups].reshape(per, groups, -1).max(axis=0)
        bound = np.partition(maxima, groups - k, axis=0)[groups - k]
        return np.maximum(bound, np.float32(1e-30))

    def column_table(self, scores: np.ndarray, k: int) -> np.ndarray:
        """(n_columns × k) keys of each column's best rows of a score block, decreasing."""
        bound = self._column_bound(scores, k)
        r, c = np.nonzero(scores >= bound[None, :])
        table = np.zeros((scores.shape[1], k), np.uint64)
        table = merge_tables(table, c, encode_keys(scores[r, c], r))
        return np.sort(table, axis=1)[:, ::-1]

    def _run_chunk(self, blocks: list[np.ndarray], k_need: int, k_js: int):
        need_table = np.zeros((self.n_needs, k_need), np.uint64)
        thr = np.zeros(self.n_needs, np.uint64)
        thr_f = np.full(self.n_needs, np.float32(1e-30))
        buf_rows: list[np.ndarray] = []
        buf_keys: list[np.ndarray] = []
        buffered = 0
        js_tables = []
        order = self.group_order_
        for block in blocks:
            scores = self._sorted_block_scores(block)
            col_bound = self._column_bound(scores, k_js)
            mask = scores >= col_bound[None, :]
            if k_need:
                mask |= scores >= thr_f[:, None]
            r, c = np.nonzero(mask)
            s = scores[r, c]
            if k_js:
                in_col = s >= col_bound[c]
                table = np.zeros((len(block), k_js), np.uint64)
                js_tables.append(
                    merge_tables(table, c[in_col], encode_keys(s[in_col], order[r[in_col]]))
                )
            if k_need:
                keys = encode_keys(s, block[c])
                keep = keys > thr[r]
                buf_rows.append(r[keep])
                buf_keys.append(keys[keep])
                buffered += int(keep.sum())
                if buffered >= self.merge_every:
                    need_table = merge_tables(
                        need_table, np.concatenate(buf_rows), np.concatenate(buf_keys)
                    )
                    thr = need_table.min(axis=1)
                    thr_f = np.maximum(
                        (thr >> SHIFT).astype(np.uint32).view(np.float32), np.float32(1e-30)
                    )
                    buf_rows, buf_keys, buffered = [], [], 0
        if buf_rows:
            need_table = merge_tables(
                need_table, np.concatenate(buf_rows), np.concatenate(buf_keys)
            )
        js_table = np.concatenate(js_tables) if js_tables else np.zeros((0, k_js), np.uint64)
        return need_table, js_table

    def search_all(self, *, k_need: int, k_js: int) -> SearchResult:
        """Exact top-``k_need`` jobseekers of every need and top-``k_js`` needs of every
        jobseeker (see the module docstring for the method)."""
        n_js = self.n_jobseekers
        blocks = [
            np.arange(i, min(i + self.block_size, n_js), dtype=np.int64)
            for i in range(0, n_js, self.block_size)
        ]
        if not blocks or self.n_needs == 0:
            return SearchResult(
                np.zeros((self.n_needs, k_need), np.uint64), np.zeros((n_js, k_js), np.uint64)
            )
        n_threads = self.n_jobs if self.n_jobs > 0 else (os.cpu_count() or 1)
        n_threads = max(1, min(n_threads, len(blocks)))
        bounds = np.linspace(0, len(blocks), n_threads + 1).astype(int)
        chunks = [blocks[a:b] for a, b in itertools.pairwise(bounds)]
        if n_threads == 1:
            parts = [self._run_chunk(chunks[0], k_need, k_js)]
        else:
            with ThreadPoolExecutor(n_threads) as pool:
                parts = list(pool.map(lambda ch: self._run_chunk(ch, k_need, k_js), chunks))
        need_table = parts[0][0]
        for other, _ in parts[1:]:
            rows = np.repeat(np.arange(self.n_needs), other.shape[1])
            flat = other.ravel()
            nz = flat > 0
            need_table = merge_tables(need_table, rows[nz], flat[nz])
        js_table = np.concatenate([p[1] for p in parts])
        unsorted = np.empty_like(need_table)
        unsorted[self.group_order_] = need_table
        return SearchResult(
            need_keys=np.sort(unsorted, axis=1)[:, ::-1],
            js_keys=np.sort(js_table, axis=1)[:, ::-1],
        )
