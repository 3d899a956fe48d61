"""The matching engine facade (contract in ``docs/design.md``): fit on a snapshot, then shortlists,
matches, pair scores and nightly blocks.

Pipeline for needs × jobseekers (no Python loop over pairs):

1. **Retrieval** (:mod:`matching.ranking.retrieval`) — cosine similarity of the skill vectors
   (needs, profiles and courses share one space, :mod:`matching.features.vectorizers`), hard
   constraints as masks (availability on or before the hiring date, estimated road distance within
   the person's maximum, driving licence when required), then the exact ``retrieve_k`` most similar
   eligible candidates per need and ``retrieve_k_jobseeker`` needs per jobseeker. The all-pairs
   search runs once at ``fit``; a nightly block then only ranks the retrieved pairs of its
   jobseekers, so results do not depend on how the batch cuts blocks, and a shortlist (matches)
   of an open need (a jobseeker) reads the same exact top-k instead of searching again (drafts,
   larger ``top`` or ``precompute=False`` use the exact single-need search, same scores).
2. **Ranking** — pair features (:mod:`matching.ranking.pair_features`) of the retrieved pairs into
   the ranker (trained model, or the transparent coverage ranker when none is installed).
3. **Explanation** (:mod:`matching.ranking.explain`) — for the pairs kept.

Ties are broken by jobseeker id (shortlists) and need id (matches), so results are reproducible
and identical whatever the number of processes or threads.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import scipy.sparse as sp

from matching.exceptions import NotFoundError
from matching.features.vectorizers import OccupationGraph, SkillVectorizer, TextVectorizer
from matching.ranking.explain import (
    BlockResult,
    ConstraintCheck,
    Contribution,
    Explanation,
    Match,
    MissingSkill,
    SkillItem,
    summary_sentence,
)
from matching.ranking.pair_features import (
    FEATURE_INDEX,
    FEATURE_LABELS,
    FEATURE_NAMES,
    NO_COURSE_WEEKS,
    PairContext,
    pair_features,
)
from matching.ranking.ranker import CoverageRanker
from matching.ranking.retrieval import CandidateIndex, decode_keys
from matching.taxonomy.referential import Referential

ACTIVE_NEED_STATUSES = ("open", "draft")
EPOCH = np.datetime64("1970-01-01", "D")
FAR_FUTURE = np.datetime64("2200-01-01", "D")


def _dates(series: pd.Series) -> np.ndarray:
    return pd.to_datetime(series, errors="coerce").to_numpy().astype("datetime64[D]")


def _floats(series: pd.Series) -> np.ndarray:
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)


def _days(d: np.ndarray, default: np.datetime64) -> np.ndarray:
    return np.where(np.isnat(d), default, d).astype("datetime64[D]").astype(np.int64)


class MatchingEngine:
    """Fit once on a snapshot; answer shortlists, matches and nightly blocks.

    Parameters
    ----------
    referential : Referential
    ranker : fitted ranker with ``predict_score`` and ``contributions`` (default: coverage ranker).
    n_jobs : int
        Threads of the all-pairs retrieval at ``fit`` (scikit-learn meaning); the nightly batch
        parallelises blocks itself. Results do not depend on it.
    retrieve_k : int
        Candidates retrieved per need before ranking.
    retrieve_k_jobseeker : int
        Needs retrieved per jobseeker before ranking.
    need_statuses : tuple of str
        Needs indexed (the training path indexes past needs too).
    graph : OccupationGraph, optional
        A fitted proximity graph to reuse (else fitted on the referential).
    precompute : bool
        Run the all-pairs retrieval at ``fit`` (needed by ``block_results``; single shortlists
        and matches do not need it and compute it lazily).

    Examples
    --------
    >>> engine = MatchingEngine(referential=load_referential()).fit(snapshot)  # doctest: +SKIP
    >>> engine.shortlist(need_id, top=10)[0].explanation.summary  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        referential: Referential,
        ranker=None,
        n_jobs: int = 1,
        retrieve_k: int = 200,
        retrieve_k_jobseeker: int = 50,
        need_statuses: tuple[str, ...] = ACTIVE_NEED_STATUSES,
        graph: OccupationGraph | None = None,
        precompute: bool = True,
    ):
        self.referential = referential
        self.ranker = ranker
        self.n_jobs = n_jobs
        self.retrieve_k = retrieve_k
        self.retrieve_k_jobseeker = retrieve_k_jobseeker
        self.need_statuses = need_statuses
        self.graph = graph
        self.precompute = precompute

    @property
    def model_name(self) -> str:
        return getattr(self.ranker_, "name", None) or type(self.ranker_).__name__

    # -- fit ---------------------------------------------------------------------------------
    def fit(self, snapshot) -> MatchingEngine:
        """Vectorise needs, profiles and courses of ``snapshot``; index them for retrieval."""
        ref = self.referential
        self.ranker_ = self.ranker if self.ranker is not None else CoverageRanker().fit()
        needs = snapshot.needs[snapshot.needs["status"].isin(self.need_statuses)].sort_values("id")
        js = snapshot.jobseekers[snapshot.jobseekers["status"] == "active"].sort_values("id")
        self.need_ids_ = needs["id"].to_numpy(np.int64)
        self.js_ids_ = js["id"].to_numpy(np.int64)
        self.need_pos_ = {int(v): i for i, v in enumerate(self.need_ids_)}
        self.js_pos_ = {int(v): i for i, v in enumerate(self.js_ids_)}
        self.needs_ = needs.reset_index(drop=True)
        self.open_rows_ = np.flatnonzero(self.needs_["status"].to_numpy() == "open")
        self.open_pos_ = np.full(len(self.need_ids_), -1, np.int64)
        self.open_pos_[self.open_rows_] = np.arange(len(self.open_rows_))
        self.graph_ = self.graph if self.graph is not None else OccupationGraph().fit(ref)
        vec = SkillVectorizer(referential=ref, graph=self.graph_).fit(snapshot)
        self.vectorizer_ = vec
        text = TextVectorizer(referential=ref).fit(snapshot)
        self.text_vectorizer_ = text
        nv = vec.transform_needs(snapshot, self.need_ids_)
        jv = vec.transform_jobseekers(snapshot, self.js_ids_)
        commune = ref.commune_index
        amiens = commune.get("80021", 0)
        occ_pos = self.graph_.index_
        n_occ = len(occ_pos)
        need_occ = needs["code_rome"].map(occ_pos).fillna(-1).astype(np.int64).to_numpy()
        known = need_occ >= 0
        onehot = sp.csr_matrix(
            (np.ones(known.sum()), (np.flatnonzero(known), need_occ[known])),
            shape=(len(needs), n_occ),
        )
        close = (onehot @ vec.occ_close_).tocsr()
        close.data[:] = 1.0
        experience = jv["experience"]
        exp_skills = ((experience > 0).astype(np.float32) @ vec.occ_core_).tocsr()
        exp_skills = exp_skills.maximum(jv["held"]).tocsr()
        exp_skills.data[:] = 1.0
        # skill -> weeks of the shortest course teaching it; skill -> course titles
        courses = snapshot.courses
        cs = snapshot.course_skills[snapshot.course_skills["role"] == "taught"]
        cs = cs.merge(courses[["id", "title", "hours"]], left_on="course_id", right_on="id")
        weeks = np.full(vec.n_features_, NO_COURSE_WEEKS, np.float64)
        if len(cs):
            per_skill = cs.groupby("skill_code")["hours"].min() / 35.0
            cols = per_skill.index.map(vec.index_)
            ok = ~pd.isna(cols)
            weeks[np.asarray(cols[ok], dtype=np.int64)] = per_skill.to_numpy()[ok]
        self.course_titles_ = {
            int(k): tuple(sorted(set(v))[:3]) for k, v in cs.groupby("skill_code")["title"]
        }
        distance = ref.distance_matrix_km.astype(np.float64)
        need_commune = needs["commune_insee"].map(commune).fillna(amiens).astype(np.int64)
        js_commune = js["home_commune_insee"].map(commune).fillna(amiens).astype(np.int64)
        self.ctx_ = PairContext(
            need_vectors=nv["vectors"],
            need_essential=nv["essential"],
            need_optional=nv["optional"],
            need_text=text.transform_needs(needs),
            need_occupation_onehot=onehot,
            need_close=close,
            need_commune=need_commune.to_numpy(),
            need_hiring=_dates(needs["hiring_date"]),
            need_hours=_floats(needs["hours_per_week"]),
            need_min_qualification=_floats(needs["min_qualification_level"]),
            js_vectors=jv["vectors"],
            js_held=jv["held"],
            js_experience_skills=exp_skills,
            js_text=text.transform_jobseekers(snapshot.experiences, self.js_ids_),
            js_experience=experience,
            js_commune=js_commune.to_numpy(),
            js_available=_dates(js["availability_date"]),
            js_hours=_floats(js["desired_hours_per_week"]),
            js_qualification=_floats(js["qualification_level"]),
            js_unemployed_since=_dates(js["unemployed_since"]),
            skill_training_weeks=weeks,
            distance_km=distance,
            travel_minutes=np.asarray(ref.travel_minutes(distance), np.float64),
            as_of=np.datetime64(snapshot.as_of or date.today(), "D"),
        )
        for value in vars(self.ctx_).values():
            if sp.issparse(value) and value.format == "csr":
                value.sort_indices()  # pair features search sorted rows (and the batch maps them)
        self.need_licence_ = needs["driving_licence_required"].fillna(False).astype(bool).to_numpy()
        self.js_licence_ = js["driving_licence"].fillna(False).astype(bool).to_numpy()
        self.js_max_km_ = np.nan_to_num(_floats(js["max_commute_km"]), nan=np.inf)
        self.skill_codes_ = np.array(list(vec.index_), dtype=np.int64)
        as_of = self.ctx_.as_of
        index_args = dict(
            js_vectors=jv["vectors"],
            js_available_day=_days(self.ctx_.js_available, as_of),
            js_commune=self.ctx_.js_commune,
            js_max_km=self.js_max_km_,
            js_licence=self.js_licence_,
            distance_km=distance,
        )
        self.index_ = CandidateIndex(n_jobs=self.n_jobs).fit(
            need_vectors=nv["vectors"],
            need_hiring_day=_days(self.ctx_.need_hiring, FAR_FUTURE),
            need_commune=self.ctx_.need_commune,
            need_licence=self.need_licence_,
            **index_args,
        )
        self.search_ = None
        if self.precompute:
            self._search()
        return self

    def _search(self):
        """All-pairs retrieval over the open needs (cached): per need its ``retrieve_k`` best
        jobseekers, per jobseeker its ``retrieve_k_jobseeker`` best open needs."""
        if self.search_ is None:
            rows = self.open_rows_
            sub = CandidateIndex(n_jobs=self.n_jobs).fit(
                need_vectors=self.ctx_.need_vectors[rows],
                need_hiring_day=self.index_.need_hiring_[rows],
                need_commune=self.ctx_.need_commune[rows],
                need_licence=self.need_licence_[rows],
                js_vectors=self.ctx_.js_vectors,
                js_available_day=self.index_.js_available_,
                js_commune=self.ctx_.js_commune,
                js_max_km=self.js_max_km_,
                js_licence=self.js_licence_,
                distance_km=self.ctx_.distance_km,
            )
            res = sub.search_all(k_need=self.retrieve_k, k_js=self.retrieve_k_jobseeker)
            need_js, _ = decode_keys(res.need_keys)
            js_need, _ = decode_keys(res.js_keys)
            found = js_need >= 0  # (none when no need is open yet)
            js_rows_need = np.full(js_need.shape, -1, np.int64)
            js_rows_need[found] = rows[js_need[found]]
            self.search_ = (need_js, js_rows_need)
        return self.search_

    # -- retrieval --------------------------------------------------------------------------------
    def eligibility(self, need_rows: np.ndarray, js_rows: np.ndarray) -> np.ndarray:
        """Boolean (len(js_rows) × len(need_rows)) mask of the hard constraints."""
        c = self.ctx_
        ok = c.js_available[js_rows][:, None] <= c.need_hiring[need_rows][None, :]
        km = c.distance_km[np.ix_(c.js_commune[js_rows], c.need_commune[need_rows])]
        ok &= km <= self.js_max_km_[js_rows][:, None]
        ok &= ~self.need_licence_[need_rows][None, :] | self.js_licence_[js_rows][:, None]
        return ok

    def _rank_pairs(self, need_rows, js_rows) -> tuple[np.ndarray, np.ndarray]:
        X = pair_features(self.ctx_, need_rows, js_rows)
        return np.asarray(self.ranker_.predict_score(X), np.float64), X

    def _scores(self, need_rows, js_rows, *, chunk: int = 262_144) -> np.ndarray:
        """Ranker scores of many pairs, features computed and dropped chunk by chunk (the same
        per-pair values as :meth:`_rank_pairs`, without holding every feature row)."""
        out = np.empty(len(need_rows), np.float64)
        for a in range(0, len(need_rows), chunk):
            out[a : a + chunk], _ = self._rank_pairs(
                need_rows[a : a + chunk], js_rows[a : a + chunk]
            )
        return out

    @staticmethod
    def _ordered(group, score, tiebreak, top):
        """Positions of the ``top`` best (score desc, tiebreak asc) per group, and their rank."""
        order = np.lexsort((tiebreak, -score, group))
        group_sorted = group[order]
        starts = np.r_[0, np.flatnonzero(np.diff(group_sorted)) + 1]
        rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
        keep = rank < top
        return order[keep], rank[keep] + 1

    @staticmethod
    def _grouped(group, need_ids, js_ids, rank, score, expl) -> dict[int, list[Match]]:
        """Match lists per group id (entries already sorted by group, then rank)."""
        if not len(group):
            return {}
        expl = [None] * len(group) if expl is None else expl
        matches = list(
            map(Match, need_ids.tolist(), js_ids.tolist(), rank.tolist(), score.tolist(), expl)
        )
        cuts = np.flatnonzero(np.diff(group)) + 1
        starts = np.r_[0, cuts].tolist()
        ends = np.r_[cuts, len(group)].tolist()
        keys = group[np.r_[0, cuts]].tolist()
        return {k: matches[a:b] for k, a, b in zip(keys, starts, ends, strict=True)}

    def _need_rows(self, need_ids) -> np.ndarray:
        return np.array(
            sorted(self.need_pos_[int(n)] for n in need_ids if int(n) in self.need_pos_), np.int64
        )

    def _retrieved_for_block(self, js_rows, need_rows, all_open, k_js):
        """(need_row, js_row) pairs retrieved for a block, per need and per jobseeker."""
        if all_open and k_js <= self.retrieve_k_jobseeker:
            need_js, js_need = self._search()
            in_block = np.zeros(len(self.js_ids_), bool)
            in_block[js_rows] = True
            sel = (need_js >= 0) & in_block[np.maximum(need_js, 0)]
            pn_need = self.open_rows_[np.nonzero(sel)[0]]
            pj_need = need_js[sel]
            sub = js_need[js_rows, :k_js]
            ok = sub >= 0
            pj_js = np.repeat(js_rows, k_js).reshape(sub.shape)[ok]
            pn_js = sub[ok]
            return (pn_need, pj_need), (pn_js, pj_js)
        # given needs (incremental runs): each need's global top (exact), then the block's
        # jobseekers' top among those needs
        pn, pj = [], []
        in_block = np.zeros(len(self.js_ids_), bool)
        in_block[js_rows] = True
        for r in need_rows:
            rows, _ = decode_keys(self.index_.top_for_need(int(r), self.retrieve_k))
            rows = rows[in_block[rows]]
            pn.append(np.full(len(rows), r))
            pj.append(rows)
        pn_need = np.concatenate(pn) if pn else np.empty(0, np.int64)
        pj_need = np.concatenate(pj) if pj else np.empty(0, np.int64)
        pn_js, pj_js = [], []
        if k_js and len(need_rows):
            scores = self.index_.block_scores(js_rows, need_rows)
            table = self.index_.column_table(scores, k_js)
            nr, _ = decode_keys(table)
            ok = nr >= 0
            pn_js = need_rows[nr[ok]]
            pj_js = np.repeat(js_rows, k_js).reshape(nr.shape)[ok]
        return (pn_need, pj_need), (np.asarray(pn_js, np.int64), np.asarray(pj_js, np.int64))

    # -- public API ---------------------------------------------------------------------------
    def block_results(
        self,
        jobseeker_ids,
        *,
        need_ids=None,
        top_per_need: int = 50,
        top_per_jobseeker: int = 20,
        explain: bool = True,
    ) -> BlockResult:
        """Everything the nightly run needs for one block of jobseekers (see docs/design.md)."""
        js_rows = np.array(
            sorted(self.js_pos_[int(j)] for j in jobseeker_ids if int(j) in self.js_pos_), np.int64
        )
        all_open = need_ids is None
        need_rows = self.open_rows_ if all_open else self._need_rows(need_ids)
        out = BlockResult()
        if not len(js_rows) or not len(need_rows):
            return out
        k_js = max(top_per_jobseeker, 0)
        (pn_need, pj_need), (pn_js, pj_js) = self._retrieved_for_block(
            js_rows, need_rows, all_open, max(k_js, 1) if k_js else 0
        )
        n_total = len(self.need_ids_)
        # one sort: the distinct pairs, and which list (per need / per jobseeker) asked for each
        codes, inverse = np.unique(
            np.r_[pj_need * n_total + pn_need, pj_js * n_total + pn_js], return_inverse=True
        )
        if not len(codes):
            return out
        pj, pn = codes // n_total, codes % n_total
        score = self._scores(pn, pj)
        js_ids = self.js_ids_[pj]
        need_ids_arr = self.need_ids_[pn]
        from_need = np.zeros(len(codes), bool)
        from_need[inverse[: len(pn_need)]] = True
        idx_need = np.flatnonzero(from_need)
        sel, rank = self._ordered(pn[idx_need], score[idx_need], js_ids[idx_need], top_per_need)
        idx = idx_need[sel]
        expl = (
            self._explain_many(pn[idx], pj[idx], pair_features(self.ctx_, pn[idx], pj[idx]))
            if explain
            else None
        )
        out.shortlists.update(
            self._grouped(need_ids_arr[idx], need_ids_arr[idx], js_ids[idx], rank, score[idx], expl)
        )
        if k_js:
            from_js = np.zeros(len(codes), bool)
            from_js[inverse[len(pn_need) :]] = True
            idx_js = np.flatnonzero(from_js)
            sel, rank = self._ordered(
                pj[idx_js], score[idx_js], need_ids_arr[idx_js], top_per_jobseeker
            )
            i = idx_js[sel]
            out.matches.update(
                self._grouped(js_ids[i], need_ids_arr[i], js_ids[i], rank, score[i], None)
            )
        return out

    @staticmethod
    def merge_blocks(results: list[BlockResult], *, top_per_need: int = 50) -> BlockResult:
        """Merge block results: per need the best ``top_per_need`` by score then jobseeker id."""
        merged = BlockResult()
        for res in results:
            for nid, lst in res.shortlists.items():
                merged.shortlists.setdefault(nid, []).extend(lst)
            merged.matches.update(res.matches)
        for nid, lst in merged.shortlists.items():
            lst.sort(key=lambda m: (-m.score, m.jobseeker_id))
            merged.shortlists[nid] = [
                Match(m.need_id, m.jobseeker_id, k + 1, m.score, m.explanation)
                for k, m in enumerate(lst[:top_per_need])
            ]
        return merged

    def shortlist(self, need_id: int, *, top: int = 50, explain: bool = True) -> list[Match]:
        """Ranked candidates for one need from the whole pool (retrieval, ranking, explanations)."""
        row = self.need_pos_.get(int(need_id))
        if row is None:
            raise NotFoundError(
                f"besoin {need_id} introuvable ou clos (statut ouvert ou brouillon attendu)"
            )
        k = max(self.retrieve_k, top)
        if self.search_ is not None and k == self.retrieve_k and self.open_pos_[row] >= 0:
            # the all-pairs search of fit already holds this need's exact top k
            js_rows = self.search_[0][self.open_pos_[row]]
            js_rows = js_rows[js_rows >= 0]
        else:
            js_rows, _ = decode_keys(self.index_.top_for_need(row, k))
        if not len(js_rows):
            return []
        need_rows = np.full(len(js_rows), row, np.int64)
        score, X = self._rank_pairs(need_rows, js_rows)
        order = np.lexsort((self.js_ids_[js_rows], -score))[:top]
        expl = (
            self._explain_many(need_rows[order], js_rows[order], X[order])
            if explain
            else [None] * len(order)
        )
        return [
            Match(int(need_id), int(self.js_ids_[js_rows[i]]), k + 1, float(score[i]), e)
            for k, (i, e) in enumerate(zip(order, expl, strict=True))
        ]

    def matches_for_jobseeker(
        self, jobseeker_id: int, *, top: int = 20, explain: bool = False
    ) -> list[Match]:
        """Best open needs for one jobseeker (needs of close occupations included: the skill
        vectors carry the skills of occupations close to the person's past ones)."""
        row = self.js_pos_.get(int(jobseeker_id))
        if row is None:
            raise NotFoundError(f"demandeur {jobseeker_id} introuvable ou inactif")
        rows = self.open_rows_
        k = max(self.retrieve_k_jobseeker, top)
        if self.search_ is not None and k == self.retrieve_k_jobseeker:
            need_rows = self.search_[1][row]  # exact top k of the all-pairs search of fit
            need_rows = need_rows[need_rows >= 0]
        else:
            pos, _ = decode_keys(self.index_.top_for_jobseeker(row, k, rows))
            need_rows = rows[pos]
        if not len(need_rows):
            return []
        js_rows = np.full(len(need_rows), row, np.int64)
        score, X = self._rank_pairs(need_rows, js_rows)
        order = np.lexsort((self.need_ids_[need_rows], -score))[:top]
        expl = (
            self._explain_many(need_rows[order], js_rows[order], X[order])
            if explain
            else [None] * len(order)
        )
        return [
            Match(int(self.need_ids_[need_rows[i]]), int(jobseeker_id), k + 1, float(score[i]), e)
            for k, (i, e) in enumerate(zip(order, expl, strict=True))
        ]

    def score_pairs(self, need_ids, jobseeker_ids) -> np.ndarray:
        """Ranker score of aligned (need, jobseeker) pairs; NaN for unknown ids. Constraints are
        not applied (planning asks about people who may become eligible after training)."""
        need_ids = np.asarray(need_ids, np.int64)
        js_ids = np.asarray(jobseeker_ids, np.int64)
        rn = np.array([self.need_pos_.get(int(n), -1) for n in need_ids], np.int64)
        rj = np.array([self.js_pos_.get(int(j), -1) for j in js_ids], np.int64)
        out = np.full(len(need_ids), np.nan)
        ok = (rn >= 0) & (rj >= 0)
        if ok.any():
            out[ok] = self._scores(rn[ok], rj[ok])
        return out

    def explain_pairs(self, need_ids, jobseeker_ids) -> list[Explanation]:
        """Explanations of aligned (need, jobseeker) pairs, identical to those of shortlists
        (the nightly run explains only the pairs that made the final shortlists)."""
        try:
            rn = np.array([self.need_pos_[int(n)] for n in need_ids], np.int64)
            rj = np.array([self.js_pos_[int(j)] for j in jobseeker_ids], np.int64)
        except KeyError as exc:
            raise NotFoundError(
                f"identifiant {exc.args[0]} introuvable (besoin ouvert/brouillon ou demandeur actif "
                "attendu)"
            ) from None
        if len(rn) != len(rj):
            raise ValueError(f"paires non alignées : {len(rn)} besoins, {len(rj)} demandeurs")
        if not len(rn):
            return []
        return self._explain_many(rn, rj, pair_features(self.ctx_, rn, rj))

    def features_for(self, need_ids, jobseeker_ids) -> pd.DataFrame:
        """Pair features of aligned pairs, as a DataFrame (audits, tests, training)."""
        rn = np.array([self.need_pos_[int(n)] for n in need_ids], np.int64)
        rj = np.array([self.js_pos_[int(j)] for j in jobseeker_ids], np.int64)
        return pd.DataFrame(pair_features(self.ctx_, rn, rj), columns=list(FEATURE_NAMES))

    # -- explanations ------------------------------------------------------------------------
    def _skill_items(self) -> tuple[dict, dict]:
        """Per skill column: its :class:`SkillItem` and :class:`MissingSkill` (filled lazily;
        dict writes are atomic, so threads may share them). Not pickled with the engine."""
        items = self.__dict__.get("_items_cache")
        if items is None:
            items = self.__dict__.setdefault("_items_cache", ({}, {}))
        return items

    def __getstate__(self):
        state = super().__getstate__().copy()
        state.pop("_items_cache", None)
        return state

    def _explain_many(self, need_rows, js_rows, X) -> list[Explanation]:
        if len(need_rows) == 0:
            return []
        c = self.ctx_
        contrib = self.ranker_.contributions(X)
        labels = self.referential.skill_labels
        codes = self.skill_codes_
        ess_ptr, ess_ind = c.need_essential.indptr, c.need_essential.indices
        held_ptr, held_ind = c.js_held.indptr, c.js_held.indices
        f = FEATURE_INDEX
        kms = X[:, f["commute_km"]].tolist()
        minutes_all = X[:, f["commute_minutes"]].tolist()
        days_all = X[:, f["days_available_before_hiring"]].tolist()
        licence_needed_all = self.need_licence_[need_rows].tolist()
        has_licence_all = self.js_licence_[js_rows].tolist()
        max_km_all = self.js_max_km_[js_rows].tolist()
        tops = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :4].tolist()
        rounded = np.round(contrib, 4).tolist()
        nonzero = (contrib != 0).tolist()
        # A skill's items are immutable and shared by every explanation that names it: built
        # once per column and engine (building them per pair was a fifth of a shortlist).
        held_items, missing_cache = self._skill_items()

        def _item(cache: dict, i: int, kind):
            code = int(codes[i])
            if kind is SkillItem:
                cache[i] = SkillItem(code, labels.get(code, ""))
            else:
                cache[i] = MissingSkill(
                    code, labels.get(code, ""), self.course_titles_.get(code, ())
                )
            return cache[i]

        out = []
        for k, (nr, jr) in enumerate(zip(need_rows.tolist(), js_rows.tolist(), strict=True)):
            ess = ess_ind[ess_ptr[nr] : ess_ptr[nr + 1]].tolist()
            held = set(held_ind[held_ptr[jr] : held_ptr[jr + 1]].tolist())
            matched = [i for i in ess if i in held]
            missing = [i for i in ess if i not in held]
            matched_items = tuple(
                held_items[i] if i in held_items else _item(held_items, i, SkillItem)
                for i in matched
            )
            missing_items = tuple(
                missing_cache[i] if i in missing_cache else _item(missing_cache, i, MissingSkill)
                for i in missing
            )
            km, minutes, days = kms[k], minutes_all[k], days_all[k]
            licence_needed, has_licence = licence_needed_all[k], has_licence_all[k]
            max_km = max_km_all[k]
            constraints = (
                ConstraintCheck(
                    "availability",
                    "disponibilité",
                    days >= 0,
                    f"disponible {int(days)} jour(s) avant l'embauche"
                    if days >= 0
                    else f"disponible {int(-days)} jour(s) après l'embauche",
                ),
                ConstraintCheck(
                    "commute",
                    "trajet",
                    km <= max_km,
                    f"{km:.0f} km estimés (≈ {minutes:.0f} min), maximum accepté {max_km:.0f} km",
                ),
                ConstraintCheck(
                    "licence",
                    "permis de conduire",
                    (not licence_needed) or has_licence,
                    "permis requis et détenu"
                    if licence_needed and has_licence
                    else ("permis requis, non détenu" if licence_needed else "permis non requis"),
                ),
            )
            contributions = tuple(
                Contribution(FEATURE_NAMES[i], FEATURE_LABELS[FEATURE_NAMES[i]], rounded[k][i])
                for i in tops[k]
                if nonzero[k][i]
            )
            all_ok = all(x.ok for x in constraints)
            out.append(
                Explanation(
                    matched_skills=matched_items,
                    missing_essential=missing_items,
                    constraints=constraints,
                    contributions=contributions,
                    ranker=self.model_name,
                    summary=summary_sentence(len(matched), len(ess), len(missing), all_ok),
                )
            )
        return out
