"""Fairness audit: selection rate and exposure by protected group, relative to the eligible pool.

What is measured
----------------
For one *section* (the shortlists of a run, or one stage of the recorded decisions) the unit is a
(need, jobseeker) pair of the **pool** — the pairs that could have been selected:

* shortlists: the jobseekers who pass the engine's hard constraints for the need (availability on
  or before the hiring date, commute within the person's maximum, driving licence when required —
  :meth:`MatchingEngine.eligibility`, the very masks of retrieval), plus the shortlisted pairs;
* decision "proposition": pairs of past needs within the person's commute and with the licence
  when required (availability at the time is not recorded: documented approximation);
* decisions "entretien" and "embauche": the pairs actually proposed (withdrawals excluded).

By group of each protected attribute (priority-district residents vs others, gender, age band
under 26 / 26–49 / 50+, long-term unemployment ≥ 12 months vs less):

* **selection rate** = selected pairs / pool pairs, with a Wilson 95 % interval
  (:func:`fairlearn.metrics.selection_rate` through :class:`fairlearn.metrics.MetricFrame`);
* **exposure** = mean over pool pairs of ``1 / log2(1 + rank)`` (0 when not shortlisted), with a
  bootstrap 95 % interval resampling *people* (pairs of one person are not independent);
* **ratio** to the most selected group with enough people (disparate impact): below 0.80 the
  four-fifths rule flags the group *à examiner*; a ratio whose bootstrap interval lies entirely
  below 1 is flagged *à surveiller* (a statistically clear disadvantage, even if above 0.80).

Groups whose attribute is unknown are reported but never used as reference nor flagged; groups
with fewer than ``min_persons`` people are reported with the note *effectif insuffisant*.
Everything here is pure (DataFrames in, typed results out); :mod:`matching.fairness.data` reads
the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, demographic_parity_ratio, selection_rate
from scipy.stats import binomtest

#: Protected attributes audited, with their French names.
ATTRIBUTES: dict[str, str] = {
    "qpv": "quartier prioritaire de la ville (QPV)",
    "genre": "genre",
    "age": "tranche d'âge",
    "chomage": "durée de chômage",
}
#: French label of every group key.
GROUP_LABELS: dict[str, dict[str, str]] = {
    "qpv": {"qpv": "Résidents QPV", "hors_qpv": "Hors QPV"},
    "genre": {
        "F": "Femmes",
        "M": "Hommes",
        "X": "Autre genre déclaré",
        "inconnu": "Genre non renseigné",
    },
    "age": {
        "moins_26": "Moins de 26 ans",
        "26_49": "26 à 49 ans",
        "50_plus": "50 ans et plus",
        "inconnu": "Âge non renseigné",
    },
    "chomage": {
        "longue_duree": "Chômage de longue durée (12 mois et plus)",
        "moins_12": "Chômage de moins de 12 mois",
        "inconnu": "Durée de chômage non renseignée",
    },
}
UNKNOWN = "inconnu"
FOUR_FIFTHS = 0.8
LONG_TERM_MONTHS = 12


def fr_number(x: float | None, digits: int | None = None) -> str:
    """French decimal notation (comma); adaptive precision for small rates."""
    if x is None or not np.isfinite(x):
        return "n.d."
    if digits is None:
        ax = abs(x)
        digits = 2 if ax >= 0.1 or ax == 0 else (3 if ax >= 0.01 else 4)
    return f"{x:.{digits}f}".replace(".", ",")


def protected_groups(people: pd.DataFrame, *, as_of: date) -> pd.DataFrame:
    """Group key of each person for every attribute of :data:`ATTRIBUTES`.

    Parameters
    ----------
    people : DataFrame
        ``id``, ``priority_district`` (bool), ``unemployed_since`` (date or None),
        ``gender`` ('F', 'M', 'X' or None), ``birth_date`` (date or None).
    as_of : date
        Reference date for age and unemployment duration.

    Returns
    -------
    DataFrame
        ``jobseeker_id`` and one column per attribute (group keys of :data:`GROUP_LABELS`).

    Examples
    --------
    >>> from datetime import date
    >>> p = pd.DataFrame({"id": [1], "priority_district": [True],
    ...                   "unemployed_since": [date(2024, 1, 1)], "gender": ["F"],
    ...                   "birth_date": [date(2001, 6, 1)]})
    >>> protected_groups(p, as_of=date(2026, 1, 1)).iloc[0].to_dict()
    {'jobseeker_id': 1, 'qpv': 'qpv', 'genre': 'F', 'age': 'moins_26', 'chomage': 'longue_duree'}
    """
    ref = pd.Timestamp(as_of)
    birth = pd.to_datetime(people["birth_date"], errors="coerce")
    years = (ref.year - birth.dt.year) - (
        (ref.month < birth.dt.month) | ((ref.month == birth.dt.month) & (ref.day < birth.dt.day))
    ).astype(int)
    age = np.select(
        [birth.isna(), years < 26, years < 50], [UNKNOWN, "moins_26", "26_49"], "50_plus"
    )
    since = pd.to_datetime(people["unemployed_since"], errors="coerce")
    long_term = since <= ref - pd.DateOffset(months=LONG_TERM_MONTHS)
    chomage = np.select([since.isna(), long_term], [UNKNOWN, "longue_duree"], "moins_12")
    gender = people["gender"].where(people["gender"].isin(["F", "M", "X"]), UNKNOWN)
    return pd.DataFrame(
        {
            "jobseeker_id": people["id"].astype(np.int64).to_numpy(),
            "qpv": np.where(
                people["priority_district"].fillna(False).astype(bool), "qpv", "hors_qpv"
            ),
            "genre": gender.astype(str).to_numpy(),
            "age": age,
            "chomage": chomage,
        }
    )


# --- typed results -----------------------------------------------------------------------------
@dataclass(frozen=True)
class GroupStat:
    """Figures of one group within one section.

    ``rate`` and ``exposure`` are per pool pair; ``*_ratio`` are relative to the section's
    reference group for the attribute (the most selected group with enough people).
    """

    attribute: str
    group: str
    label: str
    persons: int
    pool: int
    selected: int
    rate: float
    rate_ci: tuple[float, float]
    rate_ratio: float
    rate_ratio_ci: tuple[float, float]
    exposure: float | None
    exposure_ci: tuple[float, float] | None
    exposure_ratio: float | None
    reference: bool
    enough: bool


@dataclass(frozen=True)
class Flag:
    """A group below the four-fifths rule (``à examiner``) or clearly disadvantaged (``à surveiller``)."""

    section: str
    attribute: str
    group: str
    metric: str  # "taux" | "exposition"
    severity: str  # "à examiner" | "à surveiller"
    ratio: float
    message: str


@dataclass(frozen=True)
class AuditSection:
    """One audited selection: shortlists of a run, or one stage of the recorded decisions."""

    key: str
    title: str
    rate_label: str
    pool_description: str
    needs: int
    groups: tuple[GroupStat, ...]
    parity_ratio: dict[str, float]  # attribute -> fairlearn demographic_parity_ratio (known groups)
    flags: tuple[Flag, ...]

    def table(self) -> pd.DataFrame:
        """One row per group (French column names), for printing and notebooks."""
        rows = []
        for g in self.groups:
            rows.append(
                {
                    "attribut": ATTRIBUTES[g.attribute],
                    "groupe": g.label,
                    "personnes": g.persons,
                    "paires éligibles": g.pool,
                    "sélectionnées": g.selected,
                    "taux": g.rate,
                    "IC95 taux": f"{fr_number(g.rate_ci[0])}–{fr_number(g.rate_ci[1])}",
                    "ratio taux": g.rate_ratio,
                    "exposition": g.exposure,
                    "ratio exposition": g.exposure_ratio,
                    "référence": g.reference,
                }
            )
        return pd.DataFrame(rows)


@dataclass(frozen=True)
class FairnessAudit:
    """Result of :func:`audit` (typed; ``to_dict`` is JSON-able)."""

    run_id: int | None
    as_of: date
    eligibility: str
    policy: str | None
    sections: tuple[AuditSection, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def flags(self) -> list[Flag]:
        return [f for s in self.sections for f in s.flags]

    def section(self, key: str) -> AuditSection:
        for s in self.sections:
            if s.key == key:
                return s
        raise KeyError(key)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["as_of"] = self.as_of.isoformat()
        return out


# --- computation -------------------------------------------------------------------------------
def _wilson(k: int, n: int) -> tuple[float, float]:
    if n <= 0:
        return (float("nan"), float("nan"))
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
    return (float(ci.low), float(ci.high))


def _boot_sums(values: np.ndarray, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """Column sums of ``values`` (persons × k) over ``n_boot`` resamples of persons."""
    n = len(values)
    if n == 0:
        return np.zeros((n_boot, values.shape[1]))
    idx = rng.integers(0, n, size=(n_boot, n), dtype=np.int32)
    return values[idx].sum(axis=1)


def _exposure_metric(y_true, y_pred, sample_weight) -> float:
    w = np.asarray(sample_weight, float)
    return float(np.average(np.asarray(y_true, float), weights=w)) if w.sum() > 0 else np.nan


def audit_section(
    counts: pd.DataFrame,
    groups: pd.DataFrame,
    *,
    key: str,
    title: str,
    rate_label: str,
    pool_description: str,
    needs: int,
    with_exposure: bool,
    threshold: float = FOUR_FIFTHS,
    min_persons: int = 20,
    n_boot: int = 400,
    random_state: int = 0,
) -> AuditSection:
    """Audit one selection from per-person counts.

    Parameters
    ----------
    counts : DataFrame
        One row per person with a non-empty pool: ``jobseeker_id``, ``pool`` (pairs the person
        could have been selected in), ``selected`` (pairs selected), ``exposure`` (sum of
        ``1/log2(1+rank)`` over the selected pairs; ignored unless ``with_exposure``).
    groups : DataFrame
        Output of :func:`protected_groups`.
    threshold : float
        Four-fifths rule threshold on the ratio to the reference group.
    min_persons : int
        Groups with fewer people are reported but neither reference nor flagged.
    n_boot : int
        Bootstrap resamples of people (exposure interval, ratio intervals).

    Returns
    -------
    AuditSection
    """
    data = counts.merge(groups, on="jobseeker_id", how="inner")
    data = data[data["pool"] > 0].reset_index(drop=True)
    pool = data["pool"].to_numpy(np.int64)
    sel = np.minimum(data["selected"].to_numpy(np.int64), pool)
    expo = data["exposure"].to_numpy(float) if with_exposure else np.zeros(len(data))
    # Two weighted rows per person (selected / not selected) give fairlearn pair-level rates
    # without materialising every pair.
    y_pred = np.r_[np.ones(len(data)), np.zeros(len(data))]
    weight = np.r_[sel, pool - sel].astype(float)
    mean_sel_expo = np.divide(expo, sel, out=np.zeros(len(data)), where=sel > 0)
    y_true = np.r_[mean_sel_expo, np.zeros(len(data))]
    rng = np.random.default_rng(random_state)
    stats: list[GroupStat] = []
    flags: list[Flag] = []
    parity: dict[str, float] = {}
    for attr in ATTRIBUTES:
        sens = np.r_[data[attr].to_numpy(), data[attr].to_numpy()]
        keep = (sens != UNKNOWN) & (weight > 0)
        if keep.sum() == 0:
            continue
        mf = MetricFrame(
            metrics={"taux": selection_rate, "exposition": _exposure_metric},
            y_true=y_true[keep],
            y_pred=y_pred[keep],
            sensitive_features=pd.Series(sens[keep], name=attr),
            sample_params={
                "taux": {"sample_weight": weight[keep]},
                "exposition": {"sample_weight": weight[keep]},
            },
        )
        by_group = mf.by_group
        if by_group.index.nunique() >= 2:
            parity[attr] = float(
                demographic_parity_ratio(
                    y_true[keep],
                    y_pred[keep],
                    sensitive_features=sens[keep],
                    sample_weight=weight[keep],
                )
            )
        # per-group arrays (people), including the unknown group for reporting
        per: dict[str, dict] = {}
        for g in GROUP_LABELS[attr]:
            mask = data[attr].to_numpy() == g
            if not mask.any():
                continue
            n_pool, n_sel = int(pool[mask].sum()), int(sel[mask].sum())
            rate = (
                float(by_group.loc[g, "taux"])
                if g in by_group.index
                else (n_sel / n_pool if n_pool else float("nan"))
            )
            exposure = (
                float(by_group.loc[g, "exposition"])
                if g in by_group.index
                else float(expo[mask].sum() / n_pool)
            )
            boot = _boot_sums(np.c_[sel[mask], pool[mask], expo[mask]], rng, n_boot)
            per[g] = {
                "persons": int(mask.sum()),
                "pool": n_pool,
                "selected": n_sel,
                "rate": rate,
                "exposure": exposure,
                "boot_rate": boot[:, 0] / np.maximum(boot[:, 1], 1),
                "boot_expo": boot[:, 2] / np.maximum(boot[:, 1], 1),
            }
        candidates = [g for g, v in per.items() if g != UNKNOWN and v["persons"] >= min_persons]
        ref = max(candidates, key=lambda g: (per[g]["rate"], per[g]["exposure"]), default=None)
        ref_expo = (
            max(candidates, key=lambda g: (per[g]["exposure"], per[g]["rate"]), default=None)
            if with_exposure
            else None
        )
        for g, v in per.items():
            enough = g != UNKNOWN and v["persons"] >= min_persons
            ratio = ratio_lo = ratio_hi = float("nan")
            e_ratio = None
            if ref is not None and per[ref]["rate"] > 0:
                ratio = v["rate"] / per[ref]["rate"]
                br = v["boot_rate"] / np.where(
                    per[ref]["boot_rate"] > 0, per[ref]["boot_rate"], np.nan
                )
                ratio_lo, ratio_hi = (
                    (1.0, 1.0) if g == ref else tuple(np.nanpercentile(br, [2.5, 97.5]).tolist())
                )
            if with_exposure and ref_expo is not None and per[ref_expo]["exposure"] > 0:
                e_ratio = v["exposure"] / per[ref_expo]["exposure"]
            stat = GroupStat(
                attribute=attr,
                group=g,
                label=GROUP_LABELS[attr][g],
                persons=v["persons"],
                pool=v["pool"],
                selected=v["selected"],
                rate=v["rate"],
                rate_ci=_wilson(v["selected"], v["pool"]),
                rate_ratio=ratio,
                rate_ratio_ci=(float(ratio_lo), float(ratio_hi)),
                exposure=v["exposure"] if with_exposure else None,
                exposure_ci=tuple(np.percentile(v["boot_expo"], [2.5, 97.5]).tolist())
                if with_exposure
                else None,
                exposure_ratio=e_ratio,
                reference=g == ref,
                enough=enough,
            )
            stats.append(stat)
            if not enough or ref is None or g == ref:
                continue
            flags.extend(
                _flags_for(
                    stat,
                    ref_rate=per[ref]["rate"],
                    ref_expo=per[ref_expo]["exposure"] if ref_expo is not None else None,
                    expo_ratio_ci=_ratio_ci(v["boot_expo"], per[ref_expo]["boot_expo"])
                    if with_exposure and ref_expo is not None and g != ref_expo
                    else None,
                    section=key,
                    rate_label=rate_label,
                    threshold=threshold,
                )
            )
    return AuditSection(
        key=key,
        title=title,
        rate_label=rate_label,
        pool_description=pool_description,
        needs=needs,
        groups=tuple(stats),
        parity_ratio=parity,
        flags=tuple(flags),
    )


def _ratio_ci(num: np.ndarray, den: np.ndarray) -> tuple[float, float]:
    r = num / np.where(den > 0, den, np.nan)
    lo, hi = np.nanpercentile(r, [2.5, 97.5])
    return float(lo), float(hi)


def _flags_for(
    stat: GroupStat,
    *,
    ref_rate: float,
    ref_expo: float | None,
    expo_ratio_ci: tuple[float, float] | None,
    section: str,
    rate_label: str,
    threshold: float,
) -> list[Flag]:
    out = []
    checks = [("taux", rate_label, stat.rate, ref_rate, stat.rate_ratio, stat.rate_ratio_ci)]
    if stat.exposure is not None and stat.exposure_ratio is not None and ref_expo is not None:
        checks.append(
            (
                "exposition",
                "exposition",
                stat.exposure,
                ref_expo,
                stat.exposure_ratio,
                expo_ratio_ci or (float("nan"), float("nan")),
            )
        )
    for metric, label, value, ref_value, ratio, ci in checks:
        if not np.isfinite(ratio):
            continue
        head = f"{stat.label} : {label} {fr_number(value)} contre {fr_number(ref_value)}"
        interval = f"IC 95 % {fr_number(ci[0], 2)}–{fr_number(ci[1], 2)}"
        if ratio < threshold:
            message = (
                f"{head} (ratio {fr_number(ratio, 2)} < {fr_number(threshold, 2)}, {interval})"
                " — à examiner"
            )
            out.append(
                Flag(section, stat.attribute, stat.group, metric, "à examiner", ratio, message)
            )
        elif np.isfinite(ci[1]) and ci[1] < 1.0:
            message = (
                f"{head} (ratio {fr_number(ratio, 2)} ≥ {fr_number(threshold, 2)} mais écart "
                f"significatif, {interval}) — à surveiller"
            )
            out.append(
                Flag(section, stat.attribute, stat.group, metric, "à surveiller", ratio, message)
            )
    return out


# --- pools -------------------------------------------------------------------------------------
def exposure_weight(rank: np.ndarray) -> np.ndarray:
    """Position weight of a 1-based rank: ``1 / log2(1 + rank)`` (rank 1 -> 1.0)."""
    return 1.0 / np.log2(1.0 + np.asarray(rank, float))


def shortlist_counts(
    eligible: np.ndarray,
    jobseeker_ids: Sequence[int],
    need_ids: Sequence[int],
    shortlists: pd.DataFrame,
) -> pd.DataFrame:
    """Per-person pool, selections and exposure of a run's shortlists.

    Parameters
    ----------
    eligible : bool array (n_jobseekers × n_needs)
        Hard-constraint mask (rows aligned with ``jobseeker_ids``, columns with ``need_ids``).
    shortlists : DataFrame
        ``need_id``, ``jobseeker_id``, ``rank`` of the run. Pairs outside the two id lists are
        ignored; shortlisted pairs are part of the pool even if the mask says otherwise (the
        store may have changed since the run).
    """
    js_ids = np.asarray(jobseeker_ids, np.int64)
    n_ids = np.asarray(need_ids, np.int64)
    js_pos = pd.Series(np.arange(len(js_ids)), index=js_ids)
    n_pos = pd.Series(np.arange(len(n_ids)), index=n_ids)
    sl = shortlists[shortlists["jobseeker_id"].isin(js_ids) & shortlists["need_id"].isin(n_ids)]
    rows = js_pos.loc[sl["jobseeker_id"].astype(np.int64)].to_numpy()
    cols = n_pos.loc[sl["need_id"].astype(np.int64)].to_numpy()
    chosen = np.zeros(eligible.shape, bool)
    chosen[rows, cols] = True
    expo = np.zeros(len(js_ids))
    np.add.at(expo, rows, exposure_weight(sl["rank"].to_numpy()))
    return pd.DataFrame(
        {
            "jobseeker_id": js_ids,
            "pool": (eligible | chosen).sum(axis=1),
            "selected": chosen.sum(axis=1),
            "exposure": expo,
        }
    )


def decision_pairs(outcomes: pd.DataFrame) -> pd.DataFrame:
    """One row per (need, jobseeker) of the decision history with stage booleans.

    Columns: need_id, jobseeker_id, proposed, interviewed, hired, withdrawn. A pair with any
    event counts as proposed (some histories only record later stages).
    """
    if outcomes.empty:
        return pd.DataFrame(
            columns=["need_id", "jobseeker_id", "proposed", "interviewed", "hired", "withdrawn"]
        )
    flags = pd.crosstab(
        [outcomes["need_id"].astype(np.int64), outcomes["jobseeker_id"].astype(np.int64)],
        outcomes["event"],
    )
    out = pd.DataFrame(index=flags.index)
    for event, col in (
        ("interviewed", "interviewed"),
        ("hired", "hired"),
        ("withdrawn", "withdrawn"),
    ):
        out[col] = flags[event] > 0 if event in flags else False
    out["interviewed"] |= out["hired"]
    out["proposed"] = True
    return out.reset_index()[
        ["need_id", "jobseeker_id", "proposed", "interviewed", "hired", "withdrawn"]
    ]


def decision_counts(pairs: pd.DataFrame, stage: str) -> pd.DataFrame:
    """Per-person counts for a decision stage among proposed, not withdrawn pairs."""
    live = pairs[~pairs["withdrawn"].astype(bool)]
    grouped = live.groupby("jobseeker_id").agg(pool=("proposed", "size"), selected=(stage, "sum"))
    grouped["exposure"] = 0.0
    return grouped.reset_index()


def proposal_counts(
    eligible: np.ndarray,
    jobseeker_ids: Sequence[int],
    need_ids: Sequence[int],
    pairs: pd.DataFrame,
) -> pd.DataFrame:
    """Per-person counts of proposals among the (approximate) eligible pairs of past needs."""
    proposed = pairs[["need_id", "jobseeker_id"]].assign(rank=1)
    counts = shortlist_counts(eligible, jobseeker_ids, need_ids, proposed)
    counts["exposure"] = 0.0
    return counts


def commute_licence_mask(
    jobseekers: pd.DataFrame,
    needs: pd.DataFrame,
    *,
    distance_km: np.ndarray,
    commune_index: Mapping,
) -> np.ndarray:
    """Approximate hard constraints for past needs: commute and licence (jobseekers × needs).

    Same formulas as the engine's masks (:meth:`MatchingEngine.eligibility`), without the
    availability constraint, whose value at the time of a past need is not recorded.
    """
    fallback = commune_index.get("80021", 0)
    jc = jobseekers["home_commune_insee"].map(commune_index).fillna(fallback).astype(int).to_numpy()
    nc = needs["commune_insee"].map(commune_index).fillna(fallback).astype(int).to_numpy()
    km = distance_km[np.ix_(jc, nc)]
    ok = km <= pd.to_numeric(jobseekers["max_commute_km"]).to_numpy(float)[:, None]
    lic_needed = needs["driving_licence_required"].astype(bool).to_numpy()
    has_lic = jobseekers["driving_licence"].astype(bool).to_numpy()
    ok &= ~lic_needed[None, :] | has_lic[:, None]
    return ok


# --- the whole audit ---------------------------------------------------------------------------
#: (key, title, rate label, pool description) of the decision stages.
DECISION_STAGES = (
    (
        "decisions_proposition",
        "Décisions enregistrées : propositions des conseillers",
        "taux de proposition",
        "paires besoin passé × demandeur dans la limite de trajet et avec le permis si requis",
    ),
    (
        "decisions_entretien",
        "Décisions enregistrées : entretiens obtenus",
        "taux d'entretien",
        "paires proposées à l'employeur (désistements exclus)",
    ),
    (
        "decisions_embauche",
        "Décisions enregistrées : embauches",
        "taux d'embauche",
        "paires proposées à l'employeur (désistements exclus)",
    ),
)


def audit(
    data,
    *,
    threshold: float = FOUR_FIFTHS,
    min_persons: int = 20,
    n_boot: int = 400,
    random_state: int = 0,
) -> FairnessAudit:
    """Audit a run's shortlists and the recorded decisions (see the module docstring).

    Parameters
    ----------
    data : :class:`matching.fairness.data.AuditData`
    threshold, min_persons, n_boot, random_state : see :func:`audit_section`.

    Returns
    -------
    FairnessAudit
        Sections ``shortlists`` (when the run has rows), ``decisions_proposition``,
        ``decisions_entretien``, ``decisions_embauche`` (when decisions are recorded).
    """
    opts = dict(
        threshold=threshold, min_persons=min_persons, n_boot=n_boot, random_state=random_state
    )
    sections: list[AuditSection] = []
    notes: list[str] = []
    if len(data.shortlists) and len(data.shortlist_needs):
        counts = shortlist_counts(
            data.shortlist_eligible,
            data.shortlist_jobseekers,
            data.shortlist_needs,
            data.shortlists,
        )
        sections.append(
            audit_section(
                counts,
                data.groups,
                key="shortlists",
                title=f"Listes de candidats de l'exécution n° {data.run_id}",
                rate_label="taux de sélection",
                pool_description="paires besoin ouvert × demandeur actif satisfaisant les "
                "contraintes dures du moteur",
                needs=len(data.shortlist_needs),
                with_exposure=True,
                **opts,
            )
        )
    else:
        notes.append("Aucune liste publiée à auditer : seules les décisions sont examinées.")
    if len(data.decisions):
        n_past = int(data.decisions["need_id"].nunique())
        proposals = proposal_counts(
            data.past_eligible, data.past_jobseekers, data.past_needs, data.decisions
        )
        for (key, title, rate_label, pool), counts in zip(
            DECISION_STAGES,
            (
                proposals,
                decision_counts(data.decisions, "interviewed"),
                decision_counts(data.decisions, "hired"),
            ),
            strict=True,
        ):
            sections.append(
                audit_section(
                    counts,
                    data.groups,
                    key=key,
                    title=title,
                    rate_label=rate_label,
                    pool_description=pool,
                    needs=n_past,
                    with_exposure=False,
                    **opts,
                )
            )
    else:
        notes.append("Aucune décision enregistrée : la section « décisions » est vide.")
    return FairnessAudit(
        run_id=data.run_id,
        as_of=data.as_of,
        eligibility=data.eligibility,
        policy=data.policy,
        sections=tuple(sections),
        notes=tuple(notes),
    )
