"""The in-memory referential: ROME 4.0 occupations, job titles and skills, ESCO, RNCP, communes.

:class:`Referential` wraps the Parquet tables written by :mod:`matching.taxonomy.build` and offers
the lookups every other package needs (labels, occupation -> skills, distances between communes,
priority districts). It is read-only, loaded once per process (:func:`load_referential` is cached
per directory) and holds no database or web state.
"""

from __future__ import annotations

import json
import math
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from matching.config import REFERENTIAL_DIR
from matching.exceptions import ReferentialError

TABLES = (
    "occupations",
    "job_titles",
    "skills",
    "macro_skills",
    "occupation_skills",
    "mobilities",
    "sectors_naf",
    "sectors_activity",
    "work_contexts",
    "esco_occupations",
    "esco_skills",
    "esco_occupation_skills",
    "esco_rome_crosswalk",
    "certifications",
    "certification_occupations",
    "certification_formacodes",
    "communes",
    "priority_districts",
)

#: Road distance is longer than the straight line; 1.3 is the usual detour index for French
#: peri-urban road networks. Travel time assumes 40 km/h door to door by car or bus in the
#: metropolitan area, plus 10 minutes of access/waiting (documented estimate, not routing).
DETOUR_FACTOR = 1.3
MEAN_SPEED_KMH = 40.0
ACCESS_MINUTES = 10.0


class Referential:
    """Read-only access to the shipped referential tables.

    Parameters
    ----------
    directory : path
        Folder holding ``<table>.parquet`` and ``manifest.json``.
    """

    def __init__(self, directory: str | Path = REFERENTIAL_DIR) -> None:
        self.directory = Path(directory)
        manifest = self.directory / "manifest.json"
        if not manifest.exists():
            raise ReferentialError(
                f"référentiel introuvable dans {self.directory} "
                "(lancez « passerelle taxonomy import DOSSIER_SOURCES »)"
            )
        self.manifest = json.loads(manifest.read_text())
        self._tables: dict[str, pd.DataFrame] = {}

    def table(self, name: str) -> pd.DataFrame:
        """Return one table by name (loaded on first use)."""
        if name not in TABLES:
            raise ReferentialError(f"table de référentiel inconnue : {name!r}")
        if name not in self._tables:
            path = self.directory / f"{name}.parquet"
            if not path.exists():
                raise ReferentialError(f"table de référentiel manquante : {path}")
            self._tables[name] = pd.read_parquet(path)
        return self._tables[name]

    # Convenience accessors -------------------------------------------------------------------
    @property
    def occupations(self) -> pd.DataFrame:
        return self.table("occupations")

    @property
    def job_titles(self) -> pd.DataFrame:
        return self.table("job_titles")

    @property
    def skills(self) -> pd.DataFrame:
        return self.table("skills")

    @property
    def occupation_skills(self) -> pd.DataFrame:
        return self.table("occupation_skills")

    @property
    def mobilities(self) -> pd.DataFrame:
        return self.table("mobilities")

    @property
    def communes(self) -> pd.DataFrame:
        return self.table("communes")

    @cached_property
    def occupation_labels(self) -> dict[str, str]:
        return dict(zip(self.occupations["code_rome"], self.occupations["label"], strict=True))

    @cached_property
    def skill_labels(self) -> dict[int, str]:
        return dict(zip(self.skills["code_ogr"].astype(int), self.skills["label"], strict=True))

    @cached_property
    def skill_index(self) -> dict[int, int]:
        """Column index of each skill code in skill vectors (row order of the skills table)."""
        return {int(c): i for i, c in enumerate(self.skills["code_ogr"])}

    @cached_property
    def commune_index(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.communes["code_insee"])}

    @cached_property
    def commune_names(self) -> dict[str, str]:
        return dict(zip(self.communes["code_insee"], self.communes["name"], strict=True))

    def occupation_skill_codes(self, code_rome: str, *, core_only: bool = False) -> list[int]:
        """Skill codes linked to an occupation (``core_only``: the 'coeur de métier' ones)."""
        links = self._links_by_occupation.get(code_rome)
        if links is None:
            return []
        if core_only:
            links = links[links["core"] != ""]
        return links["code_ogr"].astype(int).tolist()

    @cached_property
    def _links_by_occupation(self) -> dict[str, pd.DataFrame]:
        return {k: v for k, v in self.occupation_skills.groupby("code_rome", sort=False)}

    def has_occupation(self, code_rome: str) -> bool:
        return code_rome in self.occupation_labels

    def has_skill(self, code_ogr: int) -> bool:
        return int(code_ogr) in self.skill_labels

    # Geography -------------------------------------------------------------------------------
    @cached_property
    def distance_matrix_km(self) -> np.ndarray:
        """Estimated road distance (km) between communes, rows/cols in ``communes`` order."""
        lat = np.radians(self.communes["latitude"].to_numpy())
        lon = np.radians(self.communes["longitude"].to_numpy())
        dlat = lat[:, None] - lat[None, :]
        dlon = lon[:, None] - lon[None, :]
        a = (
            np.sin(dlat / 2) ** 2
            + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin(dlon / 2) ** 2
        )
        straight = 2 * 6371.0 * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
        return (straight * DETOUR_FACTOR).astype(np.float32)

    def distance_km(self, insee_a: str, insee_b: str) -> float:
        """Estimated road distance between two communes of the referential (km)."""
        try:
            i, j = self.commune_index[insee_a], self.commune_index[insee_b]
        except KeyError as exc:
            raise ReferentialError(f"commune inconnue du référentiel : {exc.args[0]!r}") from None
        return float(self.distance_matrix_km[i, j])

    @staticmethod
    def travel_minutes(distance_km: float | np.ndarray) -> float | np.ndarray:
        """Documented travel-time estimate: access time plus distance at the mean urban speed."""
        return ACCESS_MINUTES + np.asarray(distance_km) / MEAN_SPEED_KMH * 60.0

    @cached_property
    def priority_district_names(self) -> list[str]:
        return self.table("priority_districts")["name"].tolist()

    def counts(self) -> dict[str, int]:
        """Row counts per table, as recorded in the manifest."""
        return {k: int(v["rows"]) for k, v in self.manifest["tables"].items()}


@lru_cache(maxsize=4)
def load_referential(directory: str | Path = REFERENTIAL_DIR) -> Referential:
    """Return the referential of ``directory``, loaded once per process."""
    return Referential(Path(directory))


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km (used for communes outside the referential)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))
