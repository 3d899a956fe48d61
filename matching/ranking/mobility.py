"""Occupational mobility: from a background (a ROME fiche, or skills and past occupations), the
occupations a person could move to, with the skills already held and those to acquire.

Signals (all from the shipped referential), combined with documented weights:

* **shared skills weighted by specificity** (``W_SKILLS``): cosine of IDF-weighted fiche × skill
  vectors (core skills 1, others 0.5), so sharing a rare technical skill counts more than sharing
  "travailler en équipe";
* **ESCO** (``W_ESCO``): each fiche is mapped to ESCO occupations through the official crosswalk
  (``esco_rome_crosswalk``: exact/close 1, broad/narrow 0.5), which carry their own essential (1)
  and optional (0.5) skills; cosine of the IDF-weighted fiche × ESCO-skill vectors — an
  independent expert view of what the jobs require;
* **ROME mobilités** (``W_MOBILITE``): the expert transitions. The shipped copy is PARTIAL (747
  rows withheld upstream), so it is one signal among others, never a filter;
* **sectors** (``W_SECTOR``): cosine of the activity sectors the fiches are found in, and
  **same domain** (``W_DOMAIN``): same ROME professional domain (e.g. ``N11``).

Evaluation (``benchmarks/bench_mobility.py``): hold out a share of the source fiches, fit without
their mobilités, and measure recall@10 of their known targets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.preprocessing import normalize
from sklearn.utils.validation import check_is_fitted

from matching.exceptions import NotFoundError
from matching.taxonomy.referential import Referential

W_SKILLS, W_ESCO, W_MOBILITE, W_SECTOR, W_DOMAIN = 0.45, 0.2, 0.2, 0.1, 0.05
CROSSWALK_WEIGHT = {"exactMatch": 1.0, "closeMatch": 1.0, "broadMatch": 0.5, "narrowMatch": 0.5}


@dataclass(frozen=True)
class MobilityOption:
    """One reachable occupation. ``score`` in 0..1, higher is closer."""

    code_rome: str
    label: str
    score: float
    from_mobilites: bool
    skills_held: tuple[tuple[int, str], ...]
    skills_to_acquire: tuple[tuple[int, str], ...]


def _idf_rows(m: sp.csr_matrix) -> sp.csr_matrix:
    df = np.asarray((m > 0).sum(axis=0)).ravel()
    idf = np.log((1 + m.shape[0]) / (1 + df)) + 1
    return normalize(sp.csr_matrix(m.multiply(idf[None, :])))


class OccupationMobility(BaseEstimator):
    """Rank the ROME fiches a background could move to.

    Parameters
    ----------
    exclude_sources : tuple of str
        Source fiches whose mobilités are ignored when fitting (held out for evaluation).
    """

    def __init__(self, *, exclude_sources: tuple[str, ...] = ()):
        self.exclude_sources = exclude_sources

    def fit(self, referential: Referential, y=None) -> OccupationMobility:
        ref = referential
        occ = ref.occupations
        codes = occ["code_rome"].tolist()
        pos = {c: i for i, c in enumerate(codes)}
        n = len(codes)
        self.referential_ = ref
        self.codes_ = np.array(codes)
        self.index_ = pos
        # shared skills
        links = ref.occupation_skills[ref.occupation_skills["code_ogr"].isin(ref.skill_index)]
        rows = links["code_rome"].map(pos).to_numpy()
        cols = links["code_ogr"].map(ref.skill_index).to_numpy()
        w = np.where(links["core"].to_numpy() != "", 1.0, 0.5)
        skills = sp.csr_matrix((w, (rows, cols)), shape=(n, len(ref.skill_index)))
        skills.sum_duplicates()
        self.skills_ = _idf_rows(skills)
        core = links[links["core"] != ""]
        self.core_ = {c: g["code_ogr"].astype(int).tolist() for c, g in core.groupby("code_rome")}
        self.all_skills_ = {
            c: g["code_ogr"].astype(int).tolist() for c, g in links.groupby("code_rome")
        }
        # ESCO through the official crosswalk
        cw = ref.table("esco_rome_crosswalk")
        cw = cw[cw["code_rome"].isin(pos)]
        eos = ref.table("esco_occupation_skills")
        esco_skill_pos = {u: i for i, u in enumerate(eos["skill_uri"].unique())}
        esco_occ_pos = {u: i for i, u in enumerate(eos["occupation_uri"].unique())}
        occ_skill = sp.csr_matrix(
            (
                np.where(eos["relation_type"] == "essential", 1.0, 0.5),
                (eos["occupation_uri"].map(esco_occ_pos), eos["skill_uri"].map(esco_skill_pos)),
            ),
            shape=(len(esco_occ_pos), len(esco_skill_pos)),
        )
        cw = cw[cw["esco_uri"].isin(esco_occ_pos)].drop_duplicates(["code_rome", "esco_uri"])
        rome_esco = sp.csr_matrix(
            (
                cw["relation"].map(CROSSWALK_WEIGHT).fillna(0.5).to_numpy(),
                (cw["code_rome"].map(pos), cw["esco_uri"].map(esco_occ_pos)),
            ),
            shape=(n, len(esco_occ_pos)),
        )
        self.esco_ = _idf_rows(sp.csr_matrix(rome_esco @ occ_skill))
        # mobilités (partial), minus the held-out sources
        mob = ref.mobilities
        mob = mob[
            mob["code_rome"].isin(pos)
            & mob["code_rome_target"].isin(pos)
            & ~mob["code_rome"].isin(set(self.exclude_sources))
        ]
        self.mobilites_ = sp.csr_matrix(
            (
                np.ones(len(mob)),
                (mob["code_rome"].map(pos), mob["code_rome_target"].map(pos)),
            ),
            shape=(n, n),
        )
        self.mobilites_.data[:] = 1.0
        # sectors and domains
        sec = ref.table("sectors_activity")
        sec = sec[sec["code_rome"].isin(pos)]
        sec_pos = {s: i for i, s in enumerate(sec["code_sector"].unique())}
        sectors = sp.csr_matrix(
            (np.ones(len(sec)), (sec["code_rome"].map(pos), sec["code_sector"].map(sec_pos))),
            shape=(n, len(sec_pos)),
        )
        sectors.data[:] = 1.0
        self.sectors_ = normalize(sectors)
        self.domain_ = occ["code_domaine"].to_numpy()
        return self

    def scores_from(self, code_rome: str) -> np.ndarray:
        """Score of every fiche as a destination from ``code_rome`` (itself excluded: 0)."""
        check_is_fitted(self, "skills_")
        i = self.index_.get(code_rome)
        if i is None:
            raise NotFoundError(
                f"fiche ROME inconnue : {code_rome!r} (code comme « N1103 » attendu)"
            )
        s = (
            W_SKILLS * (self.skills_ @ self.skills_[i].T).toarray().ravel()
            + W_ESCO * (self.esco_ @ self.esco_[i].T).toarray().ravel()
            + W_MOBILITE * self.mobilites_[i].toarray().ravel()
            + W_SECTOR * (self.sectors_ @ self.sectors_[i].T).toarray().ravel()
            + W_DOMAIN * (self.domain_ == self.domain_[i])
        )
        s[i] = 0.0
        return s

    def scores_from_background(
        self, *, skills: list[int] = (), past_occupations: list[str] = ()
    ) -> np.ndarray:
        """Score of every fiche for a person described by skills and past occupations: the best
        fiche-to-fiche score from a past occupation, blended with the cosine of the person's
        own skills to each fiche."""
        check_is_fitted(self, "skills_")
        ref = self.referential_
        n = len(self.codes_)
        best = np.zeros(n)
        for code in past_occupations:
            if code in self.index_:
                best = np.maximum(best, self.scores_from(code))
        cols = [ref.skill_index[int(c)] for c in skills if int(c) in ref.skill_index]
        if cols:
            v = np.zeros(self.skills_.shape[1])
            v[cols] = 1.0
            v /= np.linalg.norm(v)
            own = self.skills_ @ v
            best = np.maximum(best, own) if not past_occupations else 0.5 * best + 0.5 * own
        for code in past_occupations:
            if code in self.index_:
                best[self.index_[code]] = 0.0
        return best

    def rank(
        self,
        code_rome: str | None = None,
        *,
        skills: list[int] = (),
        past_occupations: list[str] = (),
        top: int = 20,
    ) -> list[MobilityOption]:
        """The ``top`` closest destinations (score desc, then code), with skills held / to get."""
        if code_rome is not None:
            scores = self.scores_from(code_rome)
            held = set(self.all_skills_.get(code_rome, []))
        else:
            scores = self.scores_from_background(skills=skills, past_occupations=past_occupations)
            held = {int(c) for c in skills}
            for c in past_occupations:
                held |= set(self.core_.get(c, []))
        k = min(top, len(scores))
        cand = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        order = cand[np.lexsort((self.codes_[cand], -scores[cand]))]
        labels = self.referential_.occupation_labels
        slabels = self.referential_.skill_labels
        src = self.index_.get(code_rome) if code_rome else None
        out = []
        for j in order:
            if scores[j] <= 0:
                continue
            code = str(self.codes_[j])
            target = self.core_.get(code, [])
            out.append(
                MobilityOption(
                    code_rome=code,
                    label=labels.get(code, ""),
                    score=float(round(scores[j], 4)),
                    from_mobilites=bool(src is not None and self.mobilites_[src, j] > 0),
                    skills_held=tuple((s, slabels.get(s, "")) for s in target if s in held),
                    skills_to_acquire=tuple(
                        (s, slabels.get(s, "")) for s in target if s not in held
                    ),
                )
            )
        return out


def recall_at_k_heldout(
    referential: Referential, *, fraction: float = 0.2, k: int = 10, random_state: int = 0
) -> dict:
    """Hold out ``fraction`` of the source fiches of the mobilités, fit without their rows,
    and return the mean recall@k of their known targets (plus the skills-only score)."""
    mob = referential.mobilities
    sources = np.sort(mob["code_rome"].unique())
    rng = np.random.default_rng(random_state)
    held = rng.choice(sources, size=max(1, int(len(sources) * fraction)), replace=False)
    model = OccupationMobility(exclude_sources=tuple(held)).fit(referential)
    truth = mob[mob["code_rome"].isin(set(held))].groupby("code_rome")["code_rome_target"].agg(set)
    recalls, recalls_skills = [], []
    for code, targets in truth.items():
        s = model.scores_from(code)
        top = set(model.codes_[np.argsort(-s, kind="stable")[:k]])
        recalls.append(len(top & targets) / len(targets))
        i = model.index_[code]
        s2 = (model.skills_ @ model.skills_[i].T).toarray().ravel()
        s2[i] = 0
        top2 = set(model.codes_[np.argsort(-s2, kind="stable")[:k]])
        recalls_skills.append(len(top2 & targets) / len(targets))
    return {
        "held_out_sources": len(truth),
        f"recall@{k}": float(np.mean(recalls)),
        f"recall@{k}_skills_only": float(np.mean(recalls_skills)),
    }


def options_frame(options: list[MobilityOption]) -> pd.DataFrame:
    """Options as a table (CSV export)."""
    return pd.DataFrame(
        [
            {
                "code_rome": o.code_rome,
                "intitule": o.label,
                "score": o.score,
                "mobilite_rome": o.from_mobilites,
                "competences_detenues": len(o.skills_held),
                "competences_a_acquerir": "; ".join(lbl for _, lbl in o.skills_to_acquire),
            }
            for o in options
        ]
    )
