"""Rankers: score (need, jobseeker) pairs from their :mod:`pair features <matching.ranking.pair_features>`.

* :class:`CoverageRanker` — transparent, needs no training: ``0.6 × essential coverage + 0.2 ×
  skill similarity + 0.1 × optional coverage + 0.1 × experience in the same or a close fiche``.
  It serves whenever no trained model is installed, and says so in every explanation.
* :class:`LearnedRanker` — ``HistGradientBoostingClassifier`` trained on the outcome history,
  isotonic-calibrated on a later time slice. Label scheme (outcomes are ordered hired >
  interviewed > proposed-not-retained > never proposed): the target is 1 for a candidate who was
  interviewed or hired, 0 for one proposed then rejected or who withdrew, 0 for eligible
  candidates never proposed for that need (sampled, weight 0.3: nobody judged them); hired
  pairs weigh 2 so the trees learn the top of the order. The score is the calibrated
  probability of a positive outcome. Evaluation uses the graded relevance 3 / 2 / 1 / 0.

Persistence (artefacts with metadata and checksums) lives in :mod:`matching.ranking.artefacts`.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.utils.validation import check_is_fitted

from matching.ranking.pair_features import FEATURE_NAMES

_IDX = {name: i for i, name in enumerate(FEATURE_NAMES)}
COVERAGE_WEIGHTS = {
    "essential_coverage": 0.6,
    "skill_similarity": 0.2,
    "optional_coverage": 0.1,
    "same_occupation": 0.07,
    "close_occupation": 0.03,
}
NO_MODEL_LABEL = "couverture des compétences (aucun modèle entraîné)"


class CoverageRanker(BaseEstimator):
    """Transparent weighted skill coverage; ``predict_score`` in 0..1."""

    name = NO_MODEL_LABEL
    trained = False

    def fit(self, X=None, y=None) -> CoverageRanker:
        self.fitted_ = True
        return self

    def predict_score(self, X: np.ndarray) -> np.ndarray:
        score = np.zeros(len(X))
        for name, w in COVERAGE_WEIGHTS.items():
            score += w * np.clip(X[:, _IDX[name]], 0.0, 1.0)
        return np.round(score, 6)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Per-feature contribution to the score (exact for this linear ranker)."""
        out = np.zeros_like(X, dtype=float)
        for name, w in COVERAGE_WEIGHTS.items():
            out[:, _IDX[name]] = w * np.clip(X[:, _IDX[name]], 0.0, 1.0)
        return out


class LearnedRanker(ClassifierMixin, BaseEstimator):
    """Gradient-boosted trees on the pair features, isotonic-calibrated on a later time slice.

    ``fit(X, y, sample_weight, time=...)`` trains ``HistGradientBoostingClassifier`` on the
    earliest ``1 - calibration_fraction`` of the rows by ``time`` and fits an isotonic
    regression of the outcome on its probability over the latest rows, so the calibration is
    measured on decisions the trees never saw (as in production, where the model scores needs
    newer than its history).

    Parameters
    ----------
    max_iter, learning_rate, max_leaf_nodes, l2_regularization : passed to
        ``HistGradientBoostingClassifier``.
    calibration_fraction : float
        Share of the latest rows used for the isotonic calibration.
    random_state : int
    """

    trained = True

    def __init__(
        self,
        *,
        max_iter: int = 150,
        learning_rate: float = 0.08,
        max_leaf_nodes: int = 15,
        l2_regularization: float = 1.0,
        calibration_fraction: float = 0.2,
        random_state: int = 0,
    ):
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.l2_regularization = l2_regularization
        self.calibration_fraction = calibration_fraction
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None, *, time=None) -> LearnedRanker:
        from sklearn.isotonic import IsotonicRegression

        X = np.asarray(X, float)
        y = np.asarray(y, int)
        if X.ndim != 2 or X.shape[1] != len(FEATURE_NAMES):
            raise ValueError(
                f"attendu une matrice (n, {len(FEATURE_NAMES)}) de caractéristiques, reçu {X.shape}"
            )
        if len(np.unique(y)) < 2:
            raise ValueError("l'historique ne contient qu'une seule classe de résultat")
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
        order = np.arange(len(y)) if time is None else np.argsort(np.asarray(time), kind="stable")
        n_cal = round(len(y) * self.calibration_fraction)
        fit_rows, cal_rows = order[: len(y) - n_cal], order[len(y) - n_cal :]
        if n_cal < 20 or len(np.unique(y[fit_rows])) < 2 or len(np.unique(y[cal_rows])) < 2:
            fit_rows, cal_rows = order, order  # too little history to hold a slice out
        self.model_ = HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            l2_regularization=self.l2_regularization,
            random_state=self.random_state,
        ).fit(X[fit_rows], y[fit_rows], sample_weight=w[fit_rows])
        raw = self.model_.predict_proba(X[cal_rows])[:, 1]
        self.calibrator_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(
            raw, y[cal_rows], sample_weight=w[cal_rows]
        )
        self.classes_ = self.model_.classes_
        self.reference_ = np.median(X, axis=0)
        self.n_calibration_ = len(cal_rows)
        return self

    def _raw(self, X) -> np.ndarray:
        """The trees' probability of a positive outcome (``model_.predict_proba(X)[:, 1]``)."""
        check_is_fitted(self, "model_")
        X = np.ascontiguousarray(X, dtype=np.float64)
        parts = self._predict_parts()
        if parts is None or X.ndim != 2 or X.shape[1] != len(self.reference_):
            return self.model_.predict_proba(X)[:, 1]
        return self._raw_direct(X, parts)

    def _raw_direct(self, X: np.ndarray, parts: tuple) -> np.ndarray:
        """What ``predict_proba`` computes, without its per-call input validation and
        category tables (a tenth of a served shortlist): the baseline plus every tree's leaf
        value, added in the same order, then the loss's link."""
        from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

        predictors, bitsets, f_idx_map, baseline = parts
        raw = np.zeros((len(X), 1), dtype=baseline.dtype, order="F")
        raw += baseline
        n_threads = _openmp_effective_n_threads()  # follows threadpoolctl's per-thread limit
        column = raw[:, 0]
        for predictor in predictors:
            column += predictor.predict(X, bitsets, f_idx_map, n_threads)
        return self.model_._loss.predict_proba(raw)[:, 1]

    def _predict_parts(self) -> tuple | None:
        """The fitted trees' prediction inputs, or None when this scikit-learn lays them out
        differently (then ``predict_proba`` serves). Checked once against ``predict_proba`` to
        the bit on probe rows; not pickled."""
        if "_parts" not in self.__dict__:
            parts = None
            try:
                model = self.model_
                if model.n_trees_per_iteration_ == 1 and model._preprocessor is None:
                    bitsets, f_idx_map = model._bin_mapper.make_known_categories_bitsets()
                    parts = (
                        [it[0] for it in model._predictors],
                        bitsets,
                        f_idx_map,
                        model._baseline_prediction,
                    )
                    rng = np.random.default_rng(0)
                    probe = self.reference_[None, :] * rng.uniform(0, 2, (64, len(self.reference_)))
                    probe = np.ascontiguousarray(probe, dtype=np.float64)
                    if not np.array_equal(
                        self._raw_direct(probe, parts), model.predict_proba(probe)[:, 1]
                    ):
                        parts = None
            except (AttributeError, TypeError, ValueError, IndexError, ImportError):
                parts = None
            self.__dict__["_parts"] = parts
        return self.__dict__["_parts"]

    def predict_proba(self, X):
        p = self.calibrator_.predict(self._raw(X))
        return np.c_[1 - p, p]

    def predict(self, X):
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def predict_score(self, X: np.ndarray) -> np.ndarray:
        """Calibrated probability of a positive outcome; the trees' probability breaks ties
        between isotonic steps (by 1e-6 at most) so equal-step candidates are still ordered."""
        raw = self._raw(X)
        return np.round(self.calibrator_.predict(raw) + 1e-6 * raw, 7)

    def _split_thresholds(self) -> list[np.ndarray] | None:
        """Per feature, the sorted thresholds the trees split it on (None when a tree splits on
        a categorical feature, or the trees' layout is not the one known here). Derived from the
        fitted trees once; not pickled."""
        if "_thresholds" not in self.__dict__:
            found: list[np.ndarray] | None = None
            try:
                nodes = [p.nodes for it in self.model_._predictors for p in it]
                feat = np.concatenate([nd["feature_idx"][nd["is_leaf"] == 0] for nd in nodes])
                thr = np.concatenate([nd["num_threshold"][nd["is_leaf"] == 0] for nd in nodes])
                cat = np.concatenate([nd["is_categorical"][nd["is_leaf"] == 0] for nd in nodes])
                if not cat.any():
                    found = [np.unique(thr[feat == k]) for k in range(len(self.reference_))]
            except (AttributeError, KeyError, ValueError):  # another scikit-learn layout
                found = None
            self.__dict__["_thresholds"] = found
        return self.__dict__["_thresholds"]

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: object's is the live __dict__
        state.pop("_thresholds", None)
        state.pop("_parts", None)
        return state

    def _same_paths(self, values: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Whether ``values[i]`` and the reference of feature ``cols[i]`` go the same way at
        every split of that feature (a tree sends ``x <= threshold`` left; NaN never counts
        as the same)."""
        same = np.zeros(len(values), bool)
        thresholds = self._split_thresholds()
        if thresholds is None:
            return same
        ref = self.reference_[cols]
        for k in np.unique(cols):
            sel = np.flatnonzero(cols == k)
            t = thresholds[k]
            same[sel] = np.searchsorted(t, values[sel]) == np.searchsorted(t, ref[sel])
        return same & ~np.isnan(values) & ~np.isnan(ref)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Local contribution of each feature: p(x) − p(x with that feature set to its training
        median), on the trees' probability (the isotonic map is monotone, its steps would hide
        small effects). One batched prediction of the probes that differ from ``x`` (a feature
        already at its median contributes exactly 0)."""
        X = np.asarray(X, float)
        n, f = X.shape
        rows, cols = np.nonzero(self.reference_[None, :] != X)
        if len(rows):
            # A probe whose value falls between the same two split thresholds of its feature as
            # the row's value takes the same path through every tree: its contribution is
            # exactly 0, no need to predict it (about 4 in 5 probes on the benchmark's model).
            keep = ~self._same_paths(X[rows, cols], cols)
            rows, cols = rows[keep], cols[keep]
        probes = X[rows]
        probes[np.arange(len(rows)), cols] = self.reference_[cols]
        # the rows and their probes in one prediction: the trees' cost per call is mostly fixed
        raw = self._raw(np.concatenate([X, probes]))
        base, probed = raw[:n], raw[n:]
        out = np.zeros((n, f))
        out[rows, cols] = base[rows] - probed
        return out.round(6)
