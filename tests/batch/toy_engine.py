"""Test-only engine honouring the ``MatchingEngine`` block contract (docs/design.md).

Score = share of the need's essential skills the person holds (+ 0.001 x share of optional
ones), with the contract's hard constraints (availability <= hiring date, commute <= the
person's maximum, driving licence when required). Sparse products, so a pair's score does not
depend on which block it was computed in. Used to test the orchestration independently of the
real engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp


@dataclass(frozen=True)
class ToyExplanation:
    matched: tuple[int, ...]
    summary: str

    def to_dict(self) -> dict:
        return {"matched_skills": list(self.matched), "summary": self.summary}


@dataclass(frozen=True)
class Match:
    need_id: int
    jobseeker_id: int
    rank: int
    score: float
    explanation: ToyExplanation | None = None


@dataclass
class BlockResult:
    shortlists: dict[int, list[Match]] = field(default_factory=dict)
    matches: dict[int, list[Match]] = field(default_factory=dict)


class ToyEngine:
    model_name = "jouet : couverture des compétences"

    def __init__(self, *, referential=None, ranker=None, n_jobs=1):
        self.referential = referential
        self.ranker = ranker
        self.n_jobs = n_jobs

    def fit(self, snapshot):
        needs = snapshot.needs[snapshot.needs["status"] == "open"].sort_values("id")
        js = snapshot.jobseekers.sort_values("id")
        skills = np.unique(
            np.r_[
                snapshot.need_skills["skill_code"].to_numpy(np.int64),
                snapshot.jobseeker_skills["skill_code"].to_numpy(np.int64),
            ]
        )
        col = {int(c): i for i, c in enumerate(skills)}
        self.need_ids_ = needs["id"].to_numpy(np.int64)
        self.js_ids_ = js["id"].to_numpy(np.int64)
        npos = {int(n): i for i, n in enumerate(self.need_ids_)}
        jpos = {int(j): i for i, j in enumerate(self.js_ids_)}
        ns = snapshot.need_skills[snapshot.need_skills["need_id"].isin(npos)]
        ess = ns[ns["essential"].astype(bool)]
        opt = ns[~ns["essential"].astype(bool)]

        def mat(df, key, pos, n):
            r = [pos[int(k)] for k in df[key]]
            c = [col[int(s)] for s in df["skill_code"]]
            return sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(n, len(skills)))

        self.ess_ = mat(ess, "need_id", npos, len(npos)).T.tocsc()
        self.opt_ = mat(opt, "need_id", npos, len(npos)).T.tocsc()
        jsk = snapshot.jobseeker_skills[snapshot.jobseeker_skills["jobseeker_id"].isin(jpos)]
        self.held_ = mat(jsk, "jobseeker_id", jpos, len(jpos))
        self.n_ess_ = np.maximum(np.asarray(self.ess_.sum(axis=0)).ravel(), 1)
        self.n_opt_ = np.maximum(np.asarray(self.opt_.sum(axis=0)).ravel(), 1)
        self.skills_ = skills
        self.hire_ = pd.to_datetime(needs["hiring_date"]).to_numpy()
        self.need_licence_ = needs["driving_licence_required"].astype(bool).to_numpy()
        self.avail_ = pd.to_datetime(js["availability_date"]).to_numpy()
        self.licence_ = js["driving_licence"].astype(bool).to_numpy()
        self.commute_ = js["max_commute_km"].astype(float).to_numpy()
        if self.referential is not None:
            idx = self.referential.commune_index
            dist = self.referential.distance_matrix_km
            self.need_c_ = np.array([idx.get(c, -1) for c in needs["commune_insee"]])
            self.js_c_ = np.array([idx.get(c, -1) for c in js["home_commune_insee"]])
            self.dist_ = dist
        else:
            self.dist_ = None
        self.jpos_, self.npos_ = jpos, npos
        return self

    def _scores(self, jrows, ncols):
        held = self.held_[jrows]
        s_ess = (held @ self.ess_[:, ncols]).toarray() / self.n_ess_[ncols]
        s_opt = (held @ self.opt_[:, ncols]).toarray() / self.n_opt_[ncols]
        score = np.round(s_ess + 0.001 * s_opt, 6)
        ok = self.avail_[jrows][:, None] <= self.hire_[ncols][None, :]
        ok &= ~self.need_licence_[ncols][None, :] | self.licence_[jrows][:, None]
        if self.dist_ is not None:
            d = self.dist_[np.maximum(self.js_c_[jrows], 0)][:, np.maximum(self.need_c_[ncols], 0)]
            ok &= d <= self.commute_[jrows][:, None]
        ok &= score > 0
        return np.where(ok, score, -np.inf)

    def block_results(
        self, jobseeker_ids, *, need_ids=None, top_per_need=50, top_per_jobseeker=20, explain=True
    ):
        jids = np.array([j for j in jobseeker_ids if int(j) in self.jpos_], dtype=np.int64)
        nids = (
            self.need_ids_
            if need_ids is None
            else np.array([n for n in need_ids if int(n) in self.npos_], dtype=np.int64)
        )
        out = BlockResult()
        if not len(jids) or not len(nids):
            return out
        jrows = np.array([self.jpos_[int(j)] for j in jids])
        ncols = np.array([self.npos_[int(n)] for n in nids])
        s = self._scores(jrows, ncols)
        for c, nid in enumerate(nids):
            col = s[:, c]
            ok = np.flatnonzero(np.isfinite(col))
            order = ok[np.lexsort((jids[ok], -col[ok]))][:top_per_need]
            out.shortlists[int(nid)] = [
                Match(
                    int(nid),
                    int(jids[r]),
                    k + 1,
                    float(col[r]),
                    self._explain(jrows[r], ncols[c]) if explain else None,
                )
                for k, r in enumerate(order)
            ]
        for r, jid in enumerate(jids):
            row = s[r]
            ok = np.flatnonzero(np.isfinite(row))
            order = ok[np.lexsort((nids[ok], -row[ok]))][:top_per_jobseeker]
            out.matches[int(jid)] = [
                Match(int(nids[c]), int(jid), k + 1, float(row[c])) for k, c in enumerate(order)
            ]
        return out

    def explain_pairs(self, need_ids, jobseeker_ids):
        """Explanations of given pairs (lets the batch explain only the final shortlists)."""
        return [
            self._explain(self.jpos_[int(j)], self.npos_[int(n)])
            for n, j in zip(need_ids, jobseeker_ids, strict=True)
        ]

    def _explain(self, jrow, ncol):
        held = set(self.held_[jrow].indices)
        need = set(self.ess_[:, ncol].indices)
        matched = tuple(int(self.skills_[i]) for i in sorted(held & need))
        return ToyExplanation(matched, f"{len(matched)} compétence(s) essentielle(s) détenue(s)")


def factory(settings, referential):
    return ToyEngine(referential=referential)


class OnePassToyEngine(ToyEngine):
    """The toy engine without ``explain_pairs``: blocks explain their own shortlists."""

    explain_pairs = None


def one_pass_factory(settings, referential):
    return OnePassToyEngine(referential=referential)
