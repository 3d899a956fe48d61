"""Vectorisers: needs, jobseeker profiles and courses in one skill space (scikit-learn contract).

* :class:`OccupationGraph` — networkx graph of occupational proximity between ROME fiches: the
  (partial) ROME mobilités plus the nearest fiches by shared core skills weighted by IDF.
* :class:`SkillVectorizer` — one column per skill of the referential (``Referential.skill_index``):

  - needs: ``idf × (1.0 essential | 0.5 optional) × level factor``;
  - jobseekers: held skills ``idf × source factor (declared 0.8, validated 1.0, certified 1.1) ×
    level factor``; core skills of past occupations at ``0.6 × min(1, months / 24)``; core skills
    of occupations close to a past one (top 3 neighbours in the graph) at ``0.25``; a skill keeps
    its largest contribution;
  - courses: skills taught at ``idf``;
  - rows are L2-normalised so that a product is a cosine similarity.

  It also exposes the binary matrices the pair features need (skills a person can show,
  essential / optional skills of a need).
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.preprocessing import normalize
from sklearn.utils.validation import check_is_fitted

from matching.taxonomy.referential import Referential

SOURCE_WEIGHT = {"declared": 0.8, "validated": 1.0, "certified": 1.1}
LEVEL_WEIGHT = {1: 0.8, 2: 1.0, 3: 1.15}
ESSENTIAL_WEIGHT, OPTIONAL_WEIGHT = 1.0, 0.5
EXPERIENCE_WEIGHT, CLOSE_WEIGHT = 0.6, 0.25
CLOSE_NEIGHBOURS = 3


def _l2_rows(m) -> sp.csr_matrix:
    """Rows scaled to unit L2 norm; an empty matrix (no needs or nobody yet) stays empty,
    which scikit-learn's ``normalize`` refuses."""
    m = sp.csr_matrix(m)
    return m if m.shape[0] == 0 else normalize(m)


def _csr(rows, cols, vals, shape) -> sp.csr_matrix:
    m = sp.coo_matrix(
        (np.asarray(vals, np.float32), (np.asarray(rows, np.int64), np.asarray(cols, np.int64))),
        shape=shape,
    ).tocsr()
    m.sum_duplicates()
    return m


def _max_csr(rows, cols, vals, shape) -> sp.csr_matrix:
    """Sparse matrix keeping, for duplicate (row, col), the largest value."""
    frame = pd.DataFrame({"r": rows, "c": cols, "v": vals})
    frame = frame.groupby(["r", "c"], sort=False)["v"].max().reset_index()
    return _csr(frame["r"], frame["c"], frame["v"], shape)


class OccupationGraph(BaseEstimator):
    """Proximity between ROME fiches (networkx ``Graph``, edge attribute ``weight`` in 0..1).

    Parameters
    ----------
    n_neighbours : int
        Fiches kept per fiche from the shared-core-skill similarity.
    mobility_weight : float
        Weight of an edge from the ROME mobilités (expert links).
    """

    def __init__(self, *, n_neighbours: int = 5, mobility_weight: float = 0.9):
        self.n_neighbours = n_neighbours
        self.mobility_weight = mobility_weight

    def fit(self, referential: Referential, y=None) -> OccupationGraph:
        occ = referential.occupations["code_rome"].tolist()
        pos = {c: i for i, c in enumerate(occ)}
        links = referential.occupation_skills
        links = links[links["code_ogr"].isin(referential.skill_index)]
        rows = links["code_rome"].map(pos).to_numpy()
        cols = links["code_ogr"].map(referential.skill_index).to_numpy()
        weight = np.where(links["core"].to_numpy() != "", 1.0, 0.4)
        m = _max_csr(rows, cols, weight, (len(occ), len(referential.skill_index)))
        df = np.asarray((m > 0).sum(axis=0)).ravel()
        idf = np.log((1 + len(occ)) / (1 + df)) + 1
        m = _l2_rows(m.multiply(idf).tocsr())
        sim = (m @ m.T).toarray()
        np.fill_diagonal(sim, 0)
        graph = nx.Graph()
        graph.add_nodes_from(occ)
        k = self.n_neighbours
        top = np.argpartition(-sim, k, axis=1)[:, :k]
        for i, row in enumerate(top):
            for j in row:
                if sim[i, j] > 0.1:
                    w = float(sim[i, j])
                    if graph.has_edge(occ[i], occ[j]):
                        w = max(w, graph[occ[i]][occ[j]]["weight"])
                    graph.add_edge(occ[i], occ[j], weight=w, kind="skills")
        for a, b in zip(
            referential.mobilities["code_rome"],
            referential.mobilities["code_rome_target"],
            strict=True,
        ):
            if a in pos and b in pos:
                graph.add_edge(a, b, weight=self.mobility_weight, kind="mobilite")
        self.graph_ = graph
        self.codes_ = occ
        self.index_ = pos
        self.similarity_ = sim.astype(np.float32)
        adj = nx.to_scipy_sparse_array(graph, nodelist=occ, weight="weight", format="csr")
        self.adjacency_ = sp.csr_matrix(adj, dtype=np.float32)
        return self

    def neighbours(self, code: str, k: int = CLOSE_NEIGHBOURS) -> list[str]:
        check_is_fitted(self, "graph_")
        if code not in self.graph_:
            return []
        nbrs = sorted(self.graph_[code].items(), key=lambda kv: (-kv[1]["weight"], kv[0]))
        return [c for c, _ in nbrs[:k]]


class SkillVectorizer(TransformerMixin, BaseEstimator):
    """Needs, profiles and courses as L2-normalised IDF-weighted skill vectors.

    ``fit(snapshot)`` learns the IDF of each skill over the referential's fiches and the current
    needs and profiles; ``transform_*`` return CSR matrices with rows in the order of the ids given.
    """

    def __init__(
        self, *, referential: Referential | None = None, graph: OccupationGraph | None = None
    ):
        self.referential = referential
        self.graph = graph

    # -- fit ---------------------------------------------------------------------------------
    def fit(self, snapshot, y=None) -> SkillVectorizer:
        ref = self.referential
        if ref is None:
            raise ValueError("SkillVectorizer needs referential=Referential(...)")
        self.index_ = ref.skill_index
        self.n_features_ = len(self.index_)
        graph = self.graph
        if graph is None:
            graph = OccupationGraph().fit(ref)
        elif not hasattr(graph, "graph_"):  # an unfitted graph (e.g. after sklearn.clone)
            graph = clone(graph).fit(ref)
        self.graph_ = graph
        links = ref.occupation_skills[ref.occupation_skills["code_ogr"].isin(self.index_)]
        docs = pd.concat(
            [
                links[["code_rome", "code_ogr"]].rename(columns={"code_rome": "doc"}),
                snapshot.need_skills.assign(doc="n" + snapshot.need_skills["need_id"].astype(str))[
                    ["doc", "skill_code"]
                ].rename(columns={"skill_code": "code_ogr"}),
                snapshot.jobseeker_skills.assign(
                    doc="j" + snapshot.jobseeker_skills["jobseeker_id"].astype(str)
                )[["doc", "skill_code"]].rename(columns={"skill_code": "code_ogr"}),
            ]
        ).drop_duplicates()
        docs = docs[docs["code_ogr"].isin(self.index_)]
        n_docs = docs["doc"].nunique()
        df = np.zeros(self.n_features_, np.float64)
        counts = docs["code_ogr"].map(self.index_).value_counts()
        df[counts.index.to_numpy()] = counts.to_numpy()
        self.idf_ = (np.log((1 + n_docs) / (1 + df)) + 1).astype(np.float32)
        # core skills per fiche (for experience), as a fiche x skill binary matrix
        core = links[links["core"] != ""]
        occ_pos = graph.index_
        core = core[core["code_rome"].isin(occ_pos)]
        self.occ_core_ = _csr(
            core["code_rome"].map(occ_pos),
            core["code_ogr"].map(self.index_),
            np.ones(len(core)),
            (len(occ_pos), self.n_features_),
        )
        self.occ_core_.data[:] = 1.0
        # each fiche's top close fiches (row-normalised graph restricted to top-k neighbours)
        close_rows, close_cols = [], []
        for code, i in occ_pos.items():
            for nb in graph.neighbours(code, CLOSE_NEIGHBOURS):
                close_rows.append(i)
                close_cols.append(occ_pos[nb])
        self.occ_close_ = _csr(
            close_rows, close_cols, np.ones(len(close_rows)), (len(occ_pos), len(occ_pos))
        )
        return self

    def _skill_cols(self, codes: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        cols = codes.map(self.index_)
        ok = cols.notna().to_numpy()
        return ok, cols[ok].astype(np.int64).to_numpy()

    # -- needs -------------------------------------------------------------------------------
    def transform_needs(self, snapshot, need_ids: np.ndarray) -> dict[str, sp.csr_matrix]:
        """``vectors`` (weighted, normalised), ``essential`` and ``optional`` (binary)."""
        check_is_fitted(self, "idf_")
        pos = pd.Series(np.arange(len(need_ids)), index=need_ids)
        ns = snapshot.need_skills[snapshot.need_skills["need_id"].isin(pos.index)]
        ok, cols = self._skill_cols(ns["skill_code"])
        ns = ns[ok]
        rows = pos.loc[ns["need_id"]].to_numpy()
        ess = ns["essential"].astype(bool).to_numpy()
        level = ns["level"].map(LEVEL_WEIGHT).fillna(1.0).to_numpy()
        w = self.idf_[cols] * np.where(ess, ESSENTIAL_WEIGHT, OPTIONAL_WEIGHT) * level
        shape = (len(need_ids), self.n_features_)
        return {
            "vectors": _l2_rows(_max_csr(rows, cols, w, shape)),
            "essential": _max_csr(rows[ess], cols[ess], np.ones(ess.sum()), shape),
            "optional": _max_csr(rows[~ess], cols[~ess], np.ones((~ess).sum()), shape),
        }

    # -- jobseekers --------------------------------------------------------------------------
    def transform_jobseekers(self, snapshot, jobseeker_ids: np.ndarray) -> dict[str, sp.csr_matrix]:
        """``vectors`` (weighted, normalised), ``held`` (binary: skills the person can show —
        held skills and core skills of fiches practised ≥ 12 months) and ``experience``
        (jobseeker × fiche months)."""
        check_is_fitted(self, "idf_")
        pos = pd.Series(np.arange(len(jobseeker_ids)), index=jobseeker_ids)
        n = len(jobseeker_ids)
        shape = (n, self.n_features_)
        js = snapshot.jobseeker_skills[snapshot.jobseeker_skills["jobseeker_id"].isin(pos.index)]
        ok, cols = self._skill_cols(js["skill_code"])
        js = js[ok]
        rows = pos.loc[js["jobseeker_id"]].to_numpy()
        w_own = (
            self.idf_[cols]
            * js["source"].map(SOURCE_WEIGHT).fillna(0.8).to_numpy()
            * js["level"].map(LEVEL_WEIGHT).fillna(1.0).to_numpy()
        )
        occ_pos = self.graph_.index_
        exp = snapshot.experiences[
            snapshot.experiences["jobseeker_id"].isin(pos.index)
            & snapshot.experiences["code_rome"].isin(occ_pos)
        ]
        erows = pos.loc[exp["jobseeker_id"]].to_numpy()
        ecols = exp["code_rome"].map(occ_pos).to_numpy()
        months = exp["months"].astype(float).to_numpy()
        experience = _csr(erows, ecols, months, (n, len(occ_pos)))
        practised = experience.copy()
        practised.data = EXPERIENCE_WEIGHT * np.minimum(1.0, practised.data / 24.0)
        exp_skills = practised @ self.occ_core_  # sums over fiches; capped below
        exp_skills.data = np.minimum(exp_skills.data, EXPERIENCE_WEIGHT)
        close = (experience > 0).astype(np.float32) @ self.occ_close_
        close.data[:] = 1.0
        close_skills = close @ self.occ_core_
        close_skills.data[:] = CLOSE_WEIGHT
        exp_skills = exp_skills.multiply(self.idf_).tocsr()
        close_skills = close_skills.multiply(self.idf_).tocsr()
        own = _max_csr(rows, cols, w_own, shape)
        vectors = own.maximum(exp_skills).maximum(close_skills)
        long_practice = (experience >= 12).astype(np.float32) @ self.occ_core_
        held = _csr(rows, cols, np.ones(len(rows)), shape).maximum(long_practice)
        held.data[:] = 1.0
        held.eliminate_zeros()
        return {
            "vectors": _l2_rows(vectors.tocsr()),
            "held": held.tocsr(),
            "experience": experience,
        }

    # -- courses -----------------------------------------------------------------------------
    def transform_courses(self, snapshot, course_ids: np.ndarray) -> dict[str, sp.csr_matrix]:
        """``vectors`` of taught skills and binary ``taught`` / ``prerequisite`` matrices."""
        check_is_fitted(self, "idf_")
        pos = pd.Series(np.arange(len(course_ids)), index=course_ids)
        cs = snapshot.course_skills[snapshot.course_skills["course_id"].isin(pos.index)]
        ok, cols = self._skill_cols(cs["skill_code"])
        cs = cs[ok]
        rows = pos.loc[cs["course_id"]].to_numpy()
        taught = cs["role"].to_numpy() == "taught"
        shape = (len(course_ids), self.n_features_)
        return {
            "vectors": _l2_rows(
                _max_csr(rows[taught], cols[taught], self.idf_[cols[taught]], shape)
            ),
            "taught": _max_csr(rows[taught], cols[taught], np.ones(taught.sum()), shape),
            "prerequisite": _max_csr(rows[~taught], cols[~taught], np.ones((~taught).sum()), shape),
        }

    def transform(self, X) -> dict[str, dict[str, sp.csr_matrix]]:
        """All three entities of a snapshot ``X`` (rows in id order) in the same space."""
        return {
            "needs": self.transform_needs(X, np.sort(X.needs["id"].to_numpy(np.int64))),
            "jobseekers": self.transform_jobseekers(
                X, np.sort(X.jobseekers["id"].to_numpy(np.int64))
            ),
            "courses": self.transform_courses(X, np.sort(X.courses["id"].to_numpy(np.int64))),
        }


class TextVectorizer(TransformerMixin, BaseEstimator):
    """Free-text TF-IDF (secondary signal): needs' typed titles and descriptions with their
    fiche label, jobseekers' past occupation labels, courses' titles, in one vocabulary.

    Parameters
    ----------
    referential : Referential
    min_df : int
        Minimum document frequency of a term (``TfidfVectorizer``).
    """

    def __init__(self, *, referential: Referential | None = None, min_df: int = 1):
        self.referential = referential
        self.min_df = min_df

    def _need_docs(self, needs: pd.DataFrame) -> list[str]:
        labels = self.referential.occupation_labels
        return [
            f"{t or ''} {d or ''} {labels.get(c, '')}"
            for t, d, c in zip(
                needs["title_typed"].fillna(""),
                needs["description"].fillna(""),
                needs["code_rome"],
                strict=True,
            )
        ]

    def fit(self, snapshot, y=None) -> TextVectorizer:
        from sklearn.feature_extraction.text import TfidfVectorizer

        if self.referential is None:
            raise ValueError("TextVectorizer needs referential=Referential(...)")
        corpus = (
            self.referential.occupations["label"].tolist()
            + self._need_docs(snapshot.needs)
            + snapshot.courses["title"].fillna("").tolist()
        )
        self.tfidf_ = TfidfVectorizer(
            strip_accents="unicode", lowercase=True, min_df=self.min_df, sublinear_tf=True
        ).fit(corpus)
        return self

    def _tfidf(self, docs: list[str]) -> sp.csr_matrix:
        """TF-IDF rows of ``docs``; no documents (no needs or nobody yet) give no rows, which
        scikit-learn's transformer refuses."""
        check_is_fitted(self, "tfidf_")
        if not docs:
            return sp.csr_matrix((0, len(self.tfidf_.vocabulary_)), dtype=np.float64)
        return self.tfidf_.transform(docs).tocsr()

    def transform_needs(self, needs: pd.DataFrame) -> sp.csr_matrix:
        return self._tfidf(self._need_docs(needs))

    def transform_jobseekers(self, experiences: pd.DataFrame, jobseeker_ids) -> sp.csr_matrix:
        check_is_fitted(self, "tfidf_")
        labels = self.referential.occupation_labels
        ids = np.asarray(jobseeker_ids)
        # only the people asked for (a scoped nightly fit asks for a few of them)
        mine = experiences[experiences["jobseeker_id"].isin(ids)]
        text = (
            mine.assign(label=mine["code_rome"].map(labels).fillna(""))
            .groupby("jobseeker_id")["label"]
            .agg(" ".join)
        )
        docs = text.reindex(ids, fill_value="").astype(str).tolist()
        return self._tfidf(docs)

    def transform_courses(self, courses: pd.DataFrame) -> sp.csr_matrix:
        return self._tfidf(courses["title"].fillna("").tolist())

    def transform(self, X):
        """Plain texts -> TF-IDF rows (for ad-hoc queries)."""
        return self._tfidf(list(X))
