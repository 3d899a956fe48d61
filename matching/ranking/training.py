"""Training the ranker on the outcome history, and its artefacts (model + metadata + model card).

Artefact layout: ``models/ranker/<YYYY-MM-DD>-<sha8>/{model.joblib, metadata.json, model_card.md}``
where ``sha8`` starts the SHA-256 of ``model.joblib``. Loading verifies the checksum and the
scikit-learn version and refuses a mismatch (:class:`~matching.exceptions.ModelArtefactError`).
The most recent artefact (by directory name) is the current model.

Outcome-history CSV format (``passerelle train --outcomes FILE``): columns ``jobseeker_ref``,
``need_ref``, ``event`` (proposed / interviewed / hired / rejected / withdrawn), ``event_date``
(YYYY-MM-DD); the people and needs must exist in the store.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from datetime import date
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import sklearn

from matching.exceptions import ModelArtefactError
from matching.ranking.pair_features import FEATURE_LABELS, FEATURE_NAMES
from matching.ranking.ranker import LearnedRanker


def _hash_training(pairs: pd.DataFrame, X: np.ndarray) -> str:
    h = hashlib.sha256(np.ascontiguousarray(X).tobytes())
    h.update(pairs[["need_id", "jobseeker_id", "relevance"]].to_numpy(np.int64).tobytes())
    return h.hexdigest()


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "inconnu"


def save_artefact(
    model: LearnedRanker, models_dir: Path, *, metadata: dict, today: date | None = None
) -> Path:
    """Write ``model.joblib``, ``metadata.json`` and ``model_card.md``; return the directory."""
    root = Path(models_dir) / "ranker"
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / ".model.joblib.tmp"
    joblib.dump(model, tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    target = root / f"{(today or date.today()).isoformat()}-{digest[:8]}"
    target.mkdir(exist_ok=True)
    tmp.replace(target / "model.joblib")
    meta = {
        **metadata,
        "name": f"classement appris {target.name}",
        "sha256": digest,
        "features": list(FEATURE_NAMES),
        "versions": {
            "python": platform.python_version(),
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
        },
        "git_commit": _git_commit(),
    }
    (target / "metadata.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    (target / "model_card.md").write_text(model_card(meta))
    return target


def model_card(meta: dict) -> str:
    """Markdown model card of an artefact (written next to it)."""
    ev = meta.get("evaluation", {})
    metrics = ev.get("metrics", {})
    rows = "\n".join(f"| `{n}` | {FEATURE_LABELS.get(n, n)} |" for n in meta["features"])
    mrows = "\n".join(
        f"| {name} | {m.get('ndcg@10', float('nan')):.4f} | {m.get('recall@50', float('nan')):.4f} "
        f"| {m.get('map', float('nan')):.4f} |"
        for name, m in metrics.items()
    )
    return f"""# Model card — {meta["name"]}

- **Task**: order the candidates of an employer's need by the calibrated probability that a
  counsellor proposes them and the employer retains them (`LearnedRanker`: gradient-boosted
  trees, isotonic calibration on the latest slice of the history).
- **Data window**: outcome events from {meta["window"][0]} to {meta["window"][1]};
  {meta["n_pairs"]} pairs ({meta["n_positive"]} positive); training-data hash
  `{meta["data_hash"]}`.
- **Label scheme**: outcomes ordered hired (3) > interviewed (2) > proposed, not retained (1) >
  never proposed (0). Target 1 for relevance ≥ 1; weights hired 3, interviewed 2, proposed 1,
  never proposed (sampled from the need's eligible pool) 0.3.
- **Evaluation** (time split: needs hired up to {ev.get("cutoff")} train, the
  {ev.get("n_test_needs")} later ones are held out; {ev.get("n_test_pairs")} scored pairs):

| method | NDCG@10 | recall@50 | MAP |
|---|---|---|---|
{mrows}

  The artefact itself is then refitted on the whole window.
- **Not used**: name, address, birth date, gender, priority-district flag (absent from the
  snapshot the engine reads). Availability and the current unemployment spell are neutralised in
  training (not historised); availability is a hard constraint at matching time.
- **Versions**: {", ".join(f"{k} {v}" for k, v in meta["versions"].items())}; git commit
  `{meta["git_commit"]}`.
- **File checksum** (SHA-256 of model.joblib): `{meta["sha256"]}`.

| feature | meaning |
|---|---|
{rows}
"""


def train_ranker(
    snapshot, referential, models_dir: Path, *, random_state: int = 0, today: date | None = None
):
    """Build the history pairs, evaluate on a time split (report), refit on the whole history
    (the isotonic calibration on its latest slice), save the artefact.

    Returns
    -------
    (Path, EvaluationReport)
    """
    from matching.evaluation.report import build_history, evaluate_time_split

    hist = build_history(snapshot, referential, random_state=random_state)
    report = evaluate_time_split(snapshot, referential, history=hist, random_state=random_state)
    pairs = hist.pairs
    model = LearnedRanker(random_state=random_state).fit(
        hist.X,
        pairs["label"].to_numpy(),
        sample_weight=pairs["weight"].to_numpy(),
        time=pairs["hiring"].to_numpy(),
    )
    dates = pd.to_datetime(snapshot.outcomes["event_date"])
    meta = {
        "window": [str(dates.min().date()), str(dates.max().date())],
        "n_pairs": len(pairs),
        "n_positive": int(pairs["label"].sum()),
        "data_hash": _hash_training(pairs, hist.X),
        "evaluation": report.to_dict(),
        "params": model.get_params(),
    }
    return save_artefact(model, models_dir, metadata=meta, today=today), report


def current_artefact(models_dir: Path, name: str | None = None) -> Path | None:
    """The artefact named ``name`` (directory under ``models/ranker``), else the latest one."""
    root = Path(models_dir) / "ranker"
    if name:
        path = root / name
        if not (path / "metadata.json").exists():
            raise ModelArtefactError(
                f"modèle de classement « {name} » introuvable dans {root} "
                "(nom de dossier <date>-<empreinte> attendu)"
            )
        return path
    if not root.exists():
        return None
    dirs = sorted(d for d in root.iterdir() if d.is_dir() and (d / "metadata.json").exists())
    return dirs[-1] if dirs else None


def load_artefact(path: Path) -> LearnedRanker:
    """Load and verify an artefact directory (checksum, scikit-learn version)."""
    path = Path(path)
    try:
        meta = json.loads((path / "metadata.json").read_text())
        blob = (path / "model.joblib").read_bytes()
    except (OSError, ValueError) as exc:
        raise ModelArtefactError(f"modèle illisible dans {path} : {exc}") from exc
    digest = hashlib.sha256(blob).hexdigest()
    if digest != meta.get("sha256"):
        raise ModelArtefactError(
            f"somme de contrôle du modèle {path.name} invalide : attendu {meta.get('sha256', '?')[:12]}, obtenu {digest[:12]}"
        )
    installed = {"scikit-learn": sklearn.__version__, "numpy": np.__version__}
    for lib, version in installed.items():
        trained_with = meta.get("versions", {}).get(lib)
        if trained_with != version:
            raise ModelArtefactError(
                f"modèle {path.name} entraîné avec {lib} {trained_with}, installé {version} : "
                "ré-entraînez-le (passerelle train)"
            )
    model = joblib.load(path / "model.joblib")
    model.name = meta.get("name", path.name)
    if list(meta.get("features", [])) != list(FEATURE_NAMES):
        raise ModelArtefactError(
            f"modèle {path.name} : liste de caractéristiques différente de celle du moteur"
        )
    return model
