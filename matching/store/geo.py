"""Deriving where a jobseeker lives from their address: commune and priority-district flag.

The priority-district (QPV) flag is never typed by a user: the store derives it from the postal
address, so that it cannot be forgotten or set by hand. Resolution order:

1. the street of the address (number, postcode and town removed, abbreviations expanded, accents
   and case folded) looked up in the ``priority_streets`` table (commune, street) -> district,
   loaded by the partnership from the official QPV street list;
2. otherwise, the name of a priority district of the same commune written in the address
   (e.g. "résidence ..., Étouvie"), matched accent- and case-insensitively.

Official QPV perimeters are polygons; a street list is the practical stand-in used by local
authorities (streets crossing a perimeter are listed with the district). Known limit, documented:
a street only partly inside a perimeter flags all its numbers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping

_ABBREVIATIONS = {
    "av": "avenue",
    "ave": "avenue",
    "bd": "boulevard",
    "bld": "boulevard",
    "bvd": "boulevard",
    "ch": "chemin",
    "chem": "chemin",
    "imp": "impasse",
    "pl": "place",
    "r": "rue",
    "rte": "route",
    "sq": "square",
    "all": "allee",
    "res": "residence",
    "resid": "residence",
    "st": "saint",
    "ste": "sainte",
    "fg": "faubourg",
    "fbg": "faubourg",
    "qu": "quai",
    "crs": "cours",
}
_NUMBER = re.compile(r"^\s*\d+\s*(bis|ter|quater|[a-d])?\b[\s,]*", re.IGNORECASE)
_POSTCODE_TOWN = re.compile(r"\b\d{5}\b.*$")


def fold(text: str) -> str:
    """Lower-case, strip accents, turn punctuation into single spaces."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = re.sub(r"[^a-z0-9]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def street_key(address: str) -> str:
    """Canonical key of the street part of a French postal address.

    >>> street_key("12 bis, Av. du Pdt Wilson 80080 AMIENS")
    'avenue du pdt wilson'
    >>> street_key("3 r. Jean-Moulin")
    'rue jean moulin'
    """
    first_line = address.split("\n")[0]
    first_line = _POSTCODE_TOWN.sub("", first_line)
    first_line = first_line.split(",")[0] if re.match(r"^\s*\d", first_line) is None else first_line
    first_line = _NUMBER.sub("", first_line)
    first_line = first_line.split(",")[0]
    words = fold(first_line).split()
    return " ".join(_ABBREVIATIONS.get(w, w) for w in words)


def resolve_priority_district(
    address: str,
    commune_insee: str,
    *,
    streets: Mapping[tuple[str, str], str],
    district_names: Mapping[str, Iterable[str]],
) -> str | None:
    """Name of the priority district the address lies in, or ``None``.

    Parameters
    ----------
    address : str
        Postal address as typed (street line first).
    commune_insee : str
        INSEE code of the home commune.
    streets : mapping
        ``(commune_insee, street_key) -> district name`` (the ``priority_streets`` table).
    district_names : mapping
        ``commune_insee -> district names`` of the referential's priority districts.
    """
    if not address:
        return None
    district = streets.get((commune_insee, street_key(address)))
    if district:
        return district
    folded = f" {fold(address)} "
    for name in district_names.get(commune_insee, ()):
        parts = [p for p in re.split(r"\s+-\s+|/", name) if p.strip()]
        for part in [name, *parts]:
            key = fold(part)
            if key and f" {key} " in folded:
                return name
    return None
