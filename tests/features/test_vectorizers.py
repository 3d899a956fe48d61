"""Vectorisers: IDF makes rare skills count more, validated skills weigh more than declared ones,
experience brings the skills of the occupation, and the scikit-learn contract holds."""

import pickle
from datetime import date

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from matching.features.vectorizers import OccupationGraph, SkillVectorizer, TextVectorizer
from matching.store.snapshot import Snapshot


@pytest.fixture(scope="module")
def graph(referential):
    return OccupationGraph().fit(referential)


@pytest.fixture(scope="module")
def snap(referential):
    core = referential.occupation_skill_codes("N1103", core_only=True)
    js = pd.DataFrame({"id": [1, 2, 3], "status": "active"})
    skills = pd.DataFrame(
        [(1, core[0], 2, "declared"), (2, core[0], 2, "validated")],
        columns=["jobseeker_id", "skill_code", "level", "source"],
    )
    exp = pd.DataFrame(
        [(3, "N1103", 36, date(2025, 1, 1))],
        columns=["jobseeker_id", "code_rome", "months", "ended_on"],
    )
    return Snapshot(jobseekers=js, jobseeker_skills=skills, experiences=exp), core


def test_source_weight_and_experience(referential, graph, snap):
    s, core = snap
    vec = SkillVectorizer(referential=referential, graph=graph).fit(s)
    out = vec.transform_jobseekers(s, np.array([1, 2, 3]))
    col = referential.skill_index[core[0]]
    # both rows are one skill, normalised to 1: compare the raw weights through IDF x source
    assert out["held"][0, col] == out["held"][1, col] == 1
    assert out["experience"][2].sum() == 36
    held3 = set(out["held"][2].indices)
    assert {referential.skill_index[c] for c in core} <= held3  # 36 months show the core skills


def test_idf_rare_skills_weigh_more(referential, graph, snap):
    s, _ = snap
    vec = SkillVectorizer(referential=referential, graph=graph).fit(s)
    links = referential.occupation_skills
    counts = links["code_ogr"].value_counts()
    common, rare = int(counts.index[0]), int(counts.index[-1])
    assert vec.idf_[referential.skill_index[rare]] > vec.idf_[referential.skill_index[common]]


def test_estimator_contract(referential, graph, snap):
    s, _ = snap
    vec = SkillVectorizer(referential=referential, graph=graph)
    with pytest.raises(NotFittedError):
        vec.transform_jobseekers(s, np.array([1]))
    fitted = vec.fit(s)
    a = fitted.transform_jobseekers(s, np.array([1, 2, 3]))["vectors"]
    b = pickle.loads(pickle.dumps(fitted)).transform_jobseekers(s, np.array([1, 2, 3]))["vectors"]
    assert (a != b).nnz == 0
    c = clone(vec).fit(s).transform_jobseekers(s, np.array([1, 2, 3]))["vectors"]
    assert (a != c).nnz == 0
    text = TextVectorizer(referential=referential)
    with pytest.raises(NotFittedError):
        text.transform(["cariste"])
    t1 = text.fit(s).transform(["Cariste d'entrepôt"])
    t2 = pickle.loads(pickle.dumps(text)).transform(["Cariste d'entrepôt"])
    assert t1.nnz > 0 and (t1 != t2).nnz == 0
