"""Pairwise features of (need, jobseeker): declared once, computed vectorised over many pairs.

:data:`FEATURES` is the complete list of what the ranker sees, each with its French label for
explanations. Every feature derives from the identity-free snapshot (skills, experience,
qualification, commune distance, dates, hours, texts of needs and of occupation labels): no
name, address, birth date, gender or priority-district flag can reach the model
(``tests/ranking/test_non_discrimination.py`` checks it through the real store).

Skill features of many pairs are *sampled* sparse products (SDDMM): each pair expands into the
need's stored entries (a few dozen), and the jobseeker's value at each entry is found by a
binary search among the jobseeker matrix's sorted ``row · n_cols + col`` keys, so no Python loop
runs over pairs and nothing is densified. Sums keep the need's column order, so the values are
the same whatever the batch (one pair, a shortlist or a whole nightly block).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

#: (name, French label) of every feature, in model column order.
FEATURES: tuple[tuple[str, str], ...] = (
    ("essential_coverage", "part des compétences essentielles détenues"),
    ("optional_coverage", "part des compétences souhaitées détenues"),
    ("missing_essential", "compétences essentielles manquantes"),
    ("experience_coverage", "compétences essentielles couvertes par l'expérience"),
    ("skill_similarity", "proximité des profils de compétences"),
    ("text_similarity", "proximité des intitulés (texte)"),
    ("same_occupation", "expérience dans le même métier"),
    ("close_occupation", "expérience dans un métier proche"),
    ("unrelated_occupation", "aucune expérience dans ce métier ni un métier proche"),
    ("months_same_occupation", "mois d'expérience dans le métier"),
    ("months_close_occupation", "mois d'expérience dans des métiers proches"),
    ("qualification_gap", "écart de niveau de qualification"),
    ("commute_km", "distance domicile-travail (km)"),
    ("commute_minutes", "temps de trajet estimé (min)"),
    ("days_available_before_hiring", "jours de disponibilité avant l'embauche"),
    ("hours_gap", "écart d'horaires souhaités (h/semaine)"),
    ("months_unemployed", "mois depuis le dernier emploi"),
    ("training_weeks", "semaines de formation pour combler l'écart"),
)
FEATURE_NAMES = tuple(name for name, _ in FEATURES)
FEATURE_LABELS = dict(FEATURES)
FEATURE_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}
NO_QUALIFICATION = 2.0  # below level 3 (CAP/BEP): "sans qualification reconnue"
NO_COURSE_WEEKS = 52.0  # a missing skill that no course teaches
PAIRS_PER_CHUNK = 131_072  # bounds the expanded entries (~16 per pair) of one chunk


@dataclass
class PairContext:
    """Fitted arrays the features are computed from (rows aligned with engine indices)."""

    need_vectors: sp.csr_matrix
    need_essential: sp.csr_matrix
    need_optional: sp.csr_matrix
    need_text: sp.csr_matrix
    need_occupation_onehot: sp.csr_matrix  # need × fiche (1 at the need's fiche)
    need_close: sp.csr_matrix  # need × fiche (1 at the fiches close to the need's fiche)
    need_commune: np.ndarray
    need_hiring: np.ndarray  # datetime64[D]
    need_hours: np.ndarray
    need_min_qualification: np.ndarray  # float, nan = none
    js_vectors: sp.csr_matrix
    js_held: sp.csr_matrix  # binary: skills the person can show
    js_experience_skills: sp.csr_matrix  # binary: held + core skills of any past fiche
    js_text: sp.csr_matrix
    js_experience: sp.csr_matrix  # jobseeker × fiche months
    js_commune: np.ndarray
    js_available: np.ndarray  # datetime64[D]
    js_hours: np.ndarray  # nan = no preference
    js_qualification: np.ndarray  # nan = none
    js_unemployed_since: np.ndarray  # datetime64[D], NaT = unknown
    skill_training_weeks: np.ndarray  # per skill: weeks of the shortest course teaching it
    distance_km: np.ndarray
    travel_minutes: np.ndarray  # same shape as distance_km
    as_of: np.datetime64


# caches live as long as the matrix (context) they describe: entries are dropped when it is
# garbage-collected (weakref.finalize), so refitted engines do not accumulate them
_KEY_CACHE: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def _entry_keys(m: sp.csr_matrix) -> np.ndarray:
    """Sorted int64 keys ``row * n_cols + col`` of the stored entries of a CSR matrix with
    sorted indices (cached while the matrix keeps the same index arrays)."""
    hit = _KEY_CACHE.get(id(m))
    if hit is not None and hit[0] is m.indptr and hit[1] is m.indices:
        return hit[2]
    rows = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
    keys = rows * m.shape[1] + m.indices
    if id(m) not in _KEY_CACHE:
        weakref.finalize(m, _KEY_CACHE.pop, id(m), None)
    _KEY_CACHE[id(m)] = (m.indptr, m.indices, keys)
    return keys


def _sorted_csr(m) -> sp.csr_matrix:
    """CSR with sorted indices: sorted in place (same matrix, so the entry keys stay cached),
    or a sorted copy when the arrays are read-only (an engine memory-mapped by the batch)."""
    m = m if m.format == "csr" else sp.csr_matrix(m)
    if not m.has_sorted_indices:
        if m.indices.flags.writeable and m.data.flags.writeable:
            m.sort_indices()
        else:
            m = m.sorted_indices()
    return m


def _take(values: np.ndarray, pos: np.ndarray, hit: np.ndarray) -> np.ndarray:
    """``values[pos]`` where ``hit``, 0 elsewhere."""
    if len(values) == 0:
        return np.zeros(len(pos), values.dtype)
    return np.where(hit, values[pos], values.dtype.type(0))


@dataclass
class _Entries:
    """The stored entries of ``need_mat[need_idx]`` expanded over aligned pairs: ``pair`` (the
    pair of each entry, non-decreasing), ``col`` and ``weight`` (the need's value)."""

    pair: np.ndarray
    col: np.ndarray
    weight: np.ndarray
    n_pairs: int
    entry: np.ndarray  # position of each entry in need_mat's data

    @classmethod
    def of(cls, need_mat: sp.csr_matrix, need_idx: np.ndarray) -> _Entries:
        counts = np.diff(need_mat.indptr)[need_idx]
        total = int(counts.sum())
        pair = np.repeat(np.arange(len(need_idx)), counts)
        starts = np.cumsum(counts) - counts
        entry = np.repeat(need_mat.indptr[need_idx] - starts, counts) + np.arange(total)
        return cls(pair, need_mat.indices[entry], need_mat.data[entry], len(need_idx), entry)

    def positions(self, m: sp.csr_matrix, js_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Position in ``m.data`` of ``m[js_idx[pair], col]`` for every entry, and whether it
        is stored."""
        keys = _entry_keys(m)
        if len(keys) == 0 or len(self.col) == 0:
            return np.zeros(len(self.col), np.int64), np.zeros(len(self.col), bool)
        q = js_idx[self.pair] * m.shape[1] + self.col
        pos = np.searchsorted(keys, q)
        np.minimum(pos, len(keys) - 1, out=pos)
        return pos, keys[pos] == q

    def lookup(self, m: sp.csr_matrix, js_idx: np.ndarray) -> np.ndarray:
        """``m[js_idx[pair], col]`` for every entry (0 where not stored)."""
        pos, hit = self.positions(m, js_idx)
        return _take(m.data, pos, hit)

    def sum(self, vals: np.ndarray) -> np.ndarray:
        """Per-pair sum, entries added in column order (float64)."""
        return np.bincount(self.pair, weights=vals, minlength=self.n_pairs)

    def max(self, vals: np.ndarray) -> np.ndarray:
        """Per-pair maximum (0 for a pair without entries)."""
        out = np.zeros(self.n_pairs)
        if len(vals):
            cnt = np.bincount(self.pair, minlength=self.n_pairs)
            nonempty = cnt > 0
            starts = np.cumsum(cnt) - cnt
            out[nonempty] = np.maximum.reduceat(vals, starts[nonempty])
        return out


def pair_products(
    need_mat: sp.csr_matrix,
    js_mats: list[sp.csr_matrix],
    need_idx: np.ndarray,
    js_idx: np.ndarray,
    *,
    reduce: str = "sum",
    complement: bool = False,
) -> list[np.ndarray]:
    """For each js matrix M: ``Σ_s need_mat[n, s] · M[j, s]`` over aligned pairs (n, j).

    With ``reduce="max"`` the maximum of the products is returned instead of the sum; with
    ``complement=True`` the binary matrices are read as ``1 - M``.

    Each pair's terms are the need's stored entries in column order; ``M[j, s]`` is found by a
    binary search of ``j · n_cols + s`` among M's sorted entry keys (pairs sorted by jobseeker
    make the searches monotone), so no pair loop and no densified block.
    """
    need_idx = np.asarray(need_idx, np.int64)
    js_idx = np.asarray(js_idx, np.int64)
    need_mat = _sorted_csr(need_mat)
    js_mats = [_sorted_csr(m) for m in js_mats]
    out = [np.zeros(len(need_idx)) for _ in js_mats]
    for a in range(0, len(need_idx), PAIRS_PER_CHUNK):
        b = min(a + PAIRS_PER_CHUNK, len(need_idx))
        ent = _Entries.of(need_mat, need_idx[a:b])
        for k, m in enumerate(js_mats):
            got = ent.lookup(m, js_idx[a:b])
            if complement:
                got = 1.0 - got
            vals = ent.weight * got
            out[k][a:b] = ent.sum(vals) if reduce == "sum" else ent.max(vals)
    return out


_ALIGN_CACHE: dict[int, tuple] = {}


def _align(sub: sp.csr_matrix, sup: sp.csr_matrix) -> np.ndarray | None:
    """``sub``'s values on ``sup``'s stored entries (0 elsewhere), or None when ``sub`` has an
    entry that ``sup`` does not store."""
    k_sub, k_sup = _entry_keys(sub), _entry_keys(sup)
    out = np.zeros(len(k_sup), sub.dtype)
    if len(k_sub) == 0:
        return out
    if len(k_sup) == 0:
        return None
    pos = np.minimum(np.searchsorted(k_sup, k_sub), len(k_sup) - 1)
    if not np.array_equal(k_sup[pos], k_sub):
        return None
    out[pos] = sub.data
    return out


def _skill_layout(ctx: PairContext):
    """Essential / optional weights on the need vectors' entries and held / experience values on
    the jobseeker vectors' entries (cached per context), so one search per need skill serves the
    five skill features; None if some pattern is not nested (then one search per matrix)."""
    mats = [_sorted_csr(getattr(ctx, name)) for name in _SKILL_MATS]
    key = id(ctx)
    hit = _ALIGN_CACHE.get(key)
    if hit is not None and all(r() is m for r, m in zip(hit[0], mats, strict=True)):
        return hit[1]
    nv, ess, opt, jv, held, exp = mats
    parts = (_align(ess, nv), _align(opt, nv), _align(held, jv), _align(exp, jv))
    layout = None if any(p is None for p in parts) else parts
    if key not in _ALIGN_CACHE:
        weakref.finalize(ctx, _ALIGN_CACHE.pop, key, None)
    _ALIGN_CACHE[key] = ([weakref.ref(m) for m in mats], layout)
    return layout


_SKILL_MATS = (
    "need_vectors",
    "need_essential",
    "need_optional",
    "js_vectors",
    "js_held",
    "js_experience_skills",
)


def _skill_features(ctx: PairContext, need_idx: np.ndarray, js_idx: np.ndarray) -> tuple:
    """Skill sums of aligned pairs (same terms in the same column order as ``pair_products``)."""
    layout = _skill_layout(ctx)
    if layout is None:
        ess = _Entries.of(_sorted_csr(ctx.need_essential), need_idx)
        held = ess.lookup(_sorted_csr(ctx.js_held), js_idx)
        got_ess = ess.sum(ess.weight * held)
        exp_ess = ess.sum(ess.weight * ess.lookup(_sorted_csr(ctx.js_experience_skills), js_idx))
        weeks = ess.weight * ctx.skill_training_weeks[ess.col]
        weeks_all = ess.max(weeks * (1.0 - held))
        (got_opt,) = pair_products(ctx.need_optional, [ctx.js_held], need_idx, js_idx)
        (sim,) = pair_products(ctx.need_vectors, [ctx.js_vectors], need_idx, js_idx)
    else:
        ess_w, opt_w, held_v, exp_v = layout
        jv = _sorted_csr(ctx.js_vectors)
        ent = _Entries.of(_sorted_csr(ctx.need_vectors), need_idx)
        pos, hit = ent.positions(jv, js_idx)
        sim = ent.sum(ent.weight * _take(jv.data, pos, hit))
        held = _take(held_v, pos, hit)
        w_ess = ess_w[ent.entry]
        got_ess = ent.sum(w_ess * held)
        exp_ess = ent.sum(w_ess * _take(exp_v, pos, hit))
        got_opt = ent.sum(opt_w[ent.entry] * held)
        # weeks of the longest course among the missing essential skills (0 elsewhere)
        weeks_all = ent.max(w_ess * ctx.skill_training_weeks[ent.col] * (1.0 - held))
    (text,) = pair_products(ctx.need_text, [ctx.js_text], need_idx, js_idx)
    (months_same,) = pair_products(
        ctx.need_occupation_onehot, [ctx.js_experience], need_idx, js_idx
    )
    (months_close,) = pair_products(ctx.need_close, [ctx.js_experience], need_idx, js_idx)
    return got_ess, exp_ess, weeks_all, got_opt, sim, text, months_same, months_close


def pair_features(ctx: PairContext, need_idx: np.ndarray, js_idx: np.ndarray) -> np.ndarray:
    """Feature matrix (n_pairs × len(FEATURES)), float64, for aligned index arrays.

    Pairs are processed in chunks of ``PAIRS_PER_CHUNK`` (bounded memory); pairs sorted by
    jobseeker are fastest (monotone searches) but any order gives the same values.
    """
    need_idx = np.asarray(need_idx, np.int64)
    js_idx = np.asarray(js_idx, np.int64)
    n = len(need_idx)
    out = np.zeros((n, len(FEATURES)), np.float64)
    for a in range(0, n, PAIRS_PER_CHUNK):
        b = min(a + PAIRS_PER_CHUNK, n)
        _features_chunk(ctx, need_idx[a:b], js_idx[a:b], out[a:b])
    return out


def _features_chunk(ctx: PairContext, need_idx: np.ndarray, js_idx: np.ndarray, out) -> None:
    f = FEATURE_INDEX
    n_ess = np.diff(ctx.need_essential.indptr)[need_idx].astype(float)
    n_opt = np.diff(ctx.need_optional.indptr)[need_idx].astype(float)
    got_ess, exp_ess, weeks_all, got_opt, sim, text, months_same, months_close = _skill_features(
        ctx, need_idx, js_idx
    )
    out[:, f["essential_coverage"]] = np.where(n_ess > 0, got_ess / np.maximum(n_ess, 1), 1.0)
    out[:, f["optional_coverage"]] = np.where(n_opt > 0, got_opt / np.maximum(n_opt, 1), 1.0)
    out[:, f["missing_essential"]] = n_ess - got_ess
    out[:, f["experience_coverage"]] = np.where(n_ess > 0, exp_ess / np.maximum(n_ess, 1), 1.0)
    out[:, f["skill_similarity"]] = sim
    out[:, f["text_similarity"]] = text
    out[:, f["same_occupation"]] = months_same > 0
    out[:, f["close_occupation"]] = (months_close > 0) & (months_same == 0)
    out[:, f["unrelated_occupation"]] = (months_close == 0) & (months_same == 0)
    out[:, f["months_same_occupation"]] = months_same
    out[:, f["months_close_occupation"]] = months_close
    qual = np.where(
        np.isnan(ctx.js_qualification[js_idx]), NO_QUALIFICATION, ctx.js_qualification[js_idx]
    )
    need_q = ctx.need_min_qualification[need_idx]
    out[:, f["qualification_gap"]] = np.where(np.isnan(need_q), 0.0, np.maximum(need_q - qual, 0))
    cj, cn = ctx.js_commune[js_idx], ctx.need_commune[need_idx]
    out[:, f["commute_km"]] = ctx.distance_km[cj, cn]
    out[:, f["commute_minutes"]] = ctx.travel_minutes[cj, cn]
    out[:, f["days_available_before_hiring"]] = (
        (ctx.need_hiring[need_idx] - ctx.js_available[js_idx])
        .astype("timedelta64[D]")
        .astype(float)
    )
    hours = ctx.js_hours[js_idx]
    gap = np.abs(hours - ctx.need_hours[need_idx])
    out[:, f["hours_gap"]] = np.where(np.isnan(gap), 0.0, gap)
    since = ctx.js_unemployed_since[js_idx]
    months = (ctx.as_of - since).astype("timedelta64[D]").astype(float) / 30.4
    out[:, f["months_unemployed"]] = np.where(np.isnat(since), 0.0, months)
    out[:, f["training_weeks"]] = weeks_all
