"""Pairwise features of (need, jobseeker): declared once, computed vectorised over many pairs.

:data:`FEATURES` is the complete list of what the ranker sees, each with its French label for
explanations. Every feature derives from the identity-free snapshot (skills, experience,
qualification, commune distance, dates, hours, texts of needs and of occupation labels): no
name, address, birth date, gender or priority-district flag can reach the model
(``tests/ranking/test_non_discrimination.py`` checks it through the real store).

Skill features of many pairs are *sampled* sparse products (SDDMM): for each pair, the need's
non-zero skills are gathered from the jobseeker's row densified on just those columns, in chunks
of a few thousand distinct jobseekers, so no Python loop runs over pairs and no
(pairs × 33,000) matrix is ever built.
"""

from __future__ import annotations

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
MAX_JOBSEEKERS_PER_CHUNK = 2048


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


def _chunks(js_idx: np.ndarray) -> list[np.ndarray]:
    """Pair positions grouped so each group has at most MAX_JOBSEEKERS_PER_CHUNK jobseekers."""
    order = np.argsort(js_idx, kind="stable")
    sorted_js = js_idx[order]
    new = np.r_[True, sorted_js[1:] != sorted_js[:-1]]
    group = np.cumsum(new) - 1
    cut = np.flatnonzero(np.diff(group // MAX_JOBSEEKERS_PER_CHUNK)) + 1
    return np.split(order, cut)


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
    """
    n_pairs = len(need_idx)
    out = [np.zeros(n_pairs) for _ in js_mats]
    if n_pairs == 0:
        return out
    for pos in _chunks(js_idx):
        ni, ji = need_idx[pos], js_idx[pos]
        un, inv_n = np.unique(ni, return_inverse=True)
        uj, inv_j = np.unique(ji, return_inverse=True)
        a = need_mat[un]
        cols, a_idx = np.unique(a.indices, return_inverse=True)
        if len(cols) == 0:
            continue
        counts = np.diff(a.indptr)[inv_n]
        total = int(counts.sum())
        if total == 0:
            continue
        rep = np.repeat(np.arange(len(pos)), counts)
        offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        entry = a.indptr[inv_n][rep] + offsets
        weight = a.data[entry]
        col = a_idx[entry]
        row = inv_j[rep]
        for k, m in enumerate(js_mats):
            dense = m[uj][:, cols].toarray()
            if complement:
                dense = 1.0 - dense
            vals = weight * dense[row, col]
            if reduce == "sum":
                out[k][pos] = np.bincount(rep, weights=vals, minlength=len(pos))
            else:
                cnt = np.bincount(rep, minlength=len(pos))
                starts = np.cumsum(cnt) - cnt
                res = np.zeros(len(pos))
                nonempty = cnt > 0
                res[nonempty] = np.maximum.reduceat(vals, starts[nonempty])
                out[k][pos] = res
    return out


def pair_features(ctx: PairContext, need_idx: np.ndarray, js_idx: np.ndarray) -> np.ndarray:
    """Feature matrix (n_pairs × len(FEATURES)), float64, for aligned index arrays."""
    need_idx = np.asarray(need_idx, np.int64)
    js_idx = np.asarray(js_idx, np.int64)
    n = len(need_idx)
    out = np.zeros((n, len(FEATURES)), np.float64)
    if n == 0:
        return out
    f = FEATURE_INDEX
    n_ess = np.diff(ctx.need_essential.indptr)[need_idx].astype(float)
    n_opt = np.diff(ctx.need_optional.indptr)[need_idx].astype(float)
    got_ess, exp_ess = pair_products(
        ctx.need_essential, [ctx.js_held, ctx.js_experience_skills], need_idx, js_idx
    )
    (got_opt,) = pair_products(ctx.need_optional, [ctx.js_held], need_idx, js_idx)
    (sim,) = pair_products(ctx.need_vectors, [ctx.js_vectors], need_idx, js_idx)
    (text,) = pair_products(ctx.need_text, [ctx.js_text], need_idx, js_idx)
    (months_same,) = pair_products(
        ctx.need_occupation_onehot, [ctx.js_experience], need_idx, js_idx
    )
    (months_close,) = pair_products(ctx.need_close, [ctx.js_experience], need_idx, js_idx)
    # weeks of the longest course among the missing essential skills: missing = ess - held
    missing_weeks = ctx.need_essential.multiply(ctx.skill_training_weeks[None, :]).tocsr()
    (weeks_all,) = pair_products(
        missing_weeks, [ctx.js_held], need_idx, js_idx, reduce="max", complement=True
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
    return out
