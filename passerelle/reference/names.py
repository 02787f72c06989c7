"""Matching keys for French commune names, as training bodies type them.

One function, :func:`match_keys`, turns names into keys that compare equal when they designate
the same name: the build script applies it to the official names (COG, libellés d'acheminement,
former names) and the lookup to the cities read in the extracts, so both sides always agree.

What is folded (vectorised, on whole Series):

- case, accents and ligatures (``Œ``, ``Æ``), apostrophes, hyphens, dots, spaces (the key has
  no spaces at all: ``Sainte-Foy-lès-Lyon`` = ``STE FOY LES LYON`` = ``SAINTE FOY-LES-LYON``);
- ``ST``/``STE``/``STS``/``STES`` = ``SAINT``/``SAINTE``/``SAINTS``/``SAINTES``; ``S/`` = ``SUR``;
- a leading article (``LE``, ``LA``, ``LES``, ``L'``) or a trailing one in brackets, as La Poste
  writes it (``CHAPELLE-AUX-LYS (LA)``, ``HERBERGEMENT (L')``);
- ``CEDEX`` / ``CDX`` and whatever follows (``LYON CEDEX 03``): removed, and reported in
  ``cedex`` so that the lookup knows the postcode may be a company (CEDEX) code;
- a leading postcode (``69003 LYON``) and a trailing département in brackets (``LYON (69)``);
- arrondissements municipaux of Paris, Lyon and Marseille, written ``LYON 3E``, ``LYON 03``,
  ``PARIS 15EME``, ``MARSEILLE 8E ARRONDISSEMENT``, ``Lyon 1er Arrondissement`` (the official
  name) or ``3E ARRONDISSEMENT DE LYON``: key ``LYON3`` (number without leading zero).
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

STR = pd.ArrowDtype(pa.string())

ARRONDISSEMENT_CITIES = ("PARIS", "LYON", "MARSEILLE")
_CITIES = "|".join(ARRONDISSEMENT_CITIES)
_ORDINAL = r"(?:ER|ERE|E|EME|IEME|EM|EMME)?"
_ARR_WORD = r"(?:ARRONDISSEMENT|ARRONDT|ARRT|ARDT|ARR)"
_ARR_AFTER = rf"^({_CITIES}) 0*(\d{{1,2}}) ?{_ORDINAL}(?: {_ARR_WORD})?$"
_ARR_BEFORE = rf"^0*(\d{{1,2}}) ?{_ORDINAL} {_ARR_WORD}(?: DE| DU)? ({_CITIES})$"


def match_keys(names: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``(key, cedex)`` of each name: the matching key (null when nothing is left, e.g. an empty
    or blank name) and a boolean Series, True when the name carried ``CEDEX``."""
    s = names.astype(STR).str.upper()
    s = s.str.replace("Œ", "OE", regex=False).str.replace("Æ", "AE", regex=False)
    s = s.str.normalize("NFKD").str.replace("[\u0300-\u036f]", "", regex=True)
    s = s.str.replace(r"\bS\s*/\s*", " SUR ", regex=True)
    s = s.str.replace(r"^\s*\d{5}\s+", "", regex=True)
    s = s.str.replace(r"\(\s*(?:\d{2,3}|2[AB])\s*\)", " ", regex=True)
    cedex = s.str.contains(r"\b(?:CEDEX|CDX)\b", regex=True).fillna(False).astype(bool)
    s = s.str.replace(r"\b(?:CEDEX|CDX)\b.*$", "", regex=True)
    s = s.str.replace(r"\(\s*(?:LE|LA|LES|L)\s*['’]?\s*\)", " ", regex=True)
    s = s.str.replace(r"[^A-Z0-9]+", " ", regex=True).str.strip()
    s = (
        s.str.replace(r"\bST\b", "SAINT", regex=True)
        .str.replace(r"\bSTE\b", "SAINTE", regex=True)
        .str.replace(r"\bSTS\b", "SAINTS", regex=True)
        .str.replace(r"\bSTES\b", "SAINTES", regex=True)
    )
    s = s.str.replace(r"^(?:LE|LA|LES|L) ", "", regex=True)
    s = s.str.replace(_ARR_AFTER, r"\1\2", regex=True).str.replace(_ARR_BEFORE, r"\2\1", regex=True)
    key = s.str.replace(" ", "", regex=False)
    key = key.mask(key.fillna("") == "")
    return key.astype(STR), pd.Series(cedex.to_numpy(), index=names.index, dtype=bool)


def match_key(name: str | None) -> str | None:
    """The key of one name (see :func:`match_keys`)."""
    key = match_keys(pd.Series([name], dtype=object))[0].iloc[0]
    return None if pd.isna(key) else str(key)
