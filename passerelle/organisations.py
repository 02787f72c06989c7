"""Training bodies as the consumers of our feeds key them: one SIRET, one name, one stable numero.

Consumers merge organisations by SIRET (Anotéa's accounts, data·inclusion's structures keyed by
``organisme-formateur@numero``): a SIRET published under two names, or a body published with
another body's SIRET, merges two bodies into one. This module is the one place that decides,
for a day's records:

- the **published name of each SIRET** (:func:`directory`): the name of the contract holder
  (SAM ``titulaire``, SIGMA ``Titulaire/Mandataire``) when the SIRET holds a contract, else the
  name the training body gives most often; rule DQ025 reports every record that names the
  SIRET otherwise;
- the **numero** of an organisation (:func:`numeros`): ``siret:<SIRET>`` when the SIRET is
  known, else ``nom:<NAME>`` (the normalised name, words joined by ``-``), stable from day to
  day because it is built from the data, never from a counter;
- the **SIRET of a body known only by its name** (:func:`fill_sirets_by_name`): a SIGMA
  ``Lieu de la session`` may name a body that is not the action's titulaire (a co-contractor or
  a subcontractor); it does not get the titulaire's SIRET (the reader leaves it empty), but it
  gets its own when exactly one SIRET is known for exactly that name in the day's extracts.

Names are compared once normalised (:func:`normalise_names`): case, accents, punctuation and
spacing do not make two names different (``École des métiers`` = ``ECOLE DES METIERS``); any
other difference does (``AFPA ARA`` is not ``AFPA AUVERGNE-RHONE-ALPES``: DQ025 says so, a
person decides). Everything works on distinct values: a million sessions carry a few thousand
bodies.
"""

from __future__ import annotations

import re
import unicodedata

import pandas as pd

UNKNOWN_SIRET = "00000000000000"  # LHEO requires a 14-character SIRET: the body's is not known
SIRET_PATTERN = r"\d{14}"
NUMERO_SIRET = "siret:"
NUMERO_NAME = "nom:"

# Priority of a record as the source of a SIRET's published name (lower wins).
PRIORITY_HOLDER = 0  # the contract holder, as the financer registered it
PRIORITY_TRAINER = 1  # the training body, as the session names it

_NON_ALNUM = re.compile(r"[^0-9A-Z]+")


def _normalise(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name.upper().replace("Œ", "OE").replace("Æ", "AE"))
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NON_ALNUM.sub(" ", ascii_only).strip()


def normalise_names(names: pd.Series) -> pd.Series:
    """Each name in upper-case ASCII letters and digits separated by single spaces (null when
    empty): ``« Œuvre des Compagnons, Forez »`` -> ``OEUVRE DES COMPAGNONS FOREZ``."""
    text = names.astype("string")
    distinct = text.dropna().unique()
    mapping = {v: (_normalise(v) or None) for v in distinct}
    return text.map(mapping).astype("string")


def valid_sirets(sirets: pd.Series) -> pd.Series:
    """The SIRET when it is 14 digits (separators removed), else null; computed once per
    distinct value."""
    text = sirets.astype("string")
    codes, uniques = pd.factorize(text)
    u = pd.Series(uniques, dtype="string").str.replace(r"[\s.\-]", "", regex=True)
    u = u.where(u.str.fullmatch(SIRET_PATTERN).fillna(False).astype(bool))
    out = (
        pd.Series(
            pd.array(u.to_numpy(dtype=object, na_value=None), dtype="string")[codes], index=sirets.index, dtype="string"
        )
        if len(u)
        else pd.Series(pd.NA, index=sirets.index, dtype="string")
    )
    if len(u):
        out[codes < 0] = pd.NA
    return out


def numeros(sirets: pd.Series, names: pd.Series) -> pd.Series:
    """The ``numero`` of each organisation: ``siret:<SIRET>`` for a 14-digit SIRET, else
    ``nom:<NAME-IN-CAPITALS>`` from the name; null when neither is known."""
    siret = valid_sirets(sirets)
    by_name = NUMERO_NAME + normalise_names(names).str.replace(" ", "-", regex=False)
    return (NUMERO_SIRET + siret).fillna(by_name).astype("string")


def _pairs(formations: pd.DataFrame, sessions: pd.DataFrame, actions: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every (SIRET, name) pair of the day with its priority and how often it occurs:
    contract holders of the formations, training bodies of the sessions and actions. Counted
    by Arrow on the raw values, then cleaned on the distinct pairs (a million sessions carry a
    few thousand)."""
    import pyarrow as pa

    parts = []
    for df, siret, name, priority in (
        (formations, "holder_siret", "holder_name", PRIORITY_HOLDER),
        (sessions, "siret_formateur", "organisme_formateur", PRIORITY_TRAINER),
        (actions, "siret_formateur", "organisme_formateur", PRIORITY_TRAINER),
    ):
        if df is None or not len(df):
            continue
        table = pa.table(
            {
                "siret": pa.array(df[siret].astype("string"), pa.string()),
                "name": pa.array(df[name].astype("string"), pa.string()),
            }
        )
        counted = table.group_by(["siret", "name"], use_threads=False).aggregate([([], "count_all")])
        parts.append(
            pd.DataFrame(
                {
                    "siret": counted["siret"].to_pandas().astype("string"),
                    "name": counted["name"].to_pandas().astype("string"),
                    "priority": priority,
                    "count": counted["count_all"].to_numpy(),
                }
            )
        )
    if not parts:
        return pd.DataFrame(
            {
                "siret": pd.Series([], dtype="string"),
                "name": pd.Series([], dtype="string"),
                "norm": pd.Series([], dtype="string"),
                "priority": pd.Series([], dtype="int64"),
                "count": pd.Series([], dtype="int64"),
            }
        )
    pairs = pd.concat(parts, ignore_index=True)
    pairs["siret"] = valid_sirets(pairs["siret"])
    pairs["name"] = pairs["name"].astype("string").str.strip()
    pairs = pairs[pairs["name"].notna() & (pairs["name"] != "")]
    out = pairs.groupby(["siret", "name", "priority"], dropna=False, sort=False)["count"].sum().reset_index()
    out["siret"] = out["siret"].astype("string")
    out["name"] = out["name"].astype("string")
    out["count"] = out["count"].astype("int64")
    out["norm"] = normalise_names(out["name"])
    return out


def directory(formations: pd.DataFrame, sessions: pd.DataFrame, actions: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per SIRET known today: ``siret``, ``name`` (the name the feeds publish),
    ``norm`` (its normalised form), ``names`` (how many distinct normalised names the SIRET
    carries; more than one is a DQ025 conflict) and ``numero``.

    The published name is the contract holder's when the SIRET holds a contract, else the name
    written most often; ties go to the first name in alphabetical order (deterministic).
    """
    pairs = _pairs(formations, sessions, actions)
    pairs = pairs[pairs["siret"].notna()]
    if pairs.empty:
        return pd.DataFrame(
            {c: pd.Series([], dtype="string") for c in ("siret", "name", "norm", "numero")}
            | {"names": pd.Series([], dtype="int64")}
        )
    ranked = pairs.sort_values(
        ["siret", "priority", "count", "norm", "name"], ascending=[True, True, False, True, True], kind="stable"
    )
    best = ranked.drop_duplicates("siret")[["siret", "name", "norm"]].reset_index(drop=True)
    names = pairs.groupby("siret")["norm"].nunique()
    best["names"] = best["siret"].map(names).astype("int64")
    best["numero"] = (NUMERO_SIRET + best["siret"]).astype("string")
    return best


def sirets_by_name(formations: pd.DataFrame, sessions: pd.DataFrame, actions: pd.DataFrame | None = None) -> pd.Series:
    """Normalised name -> SIRET, for the names that exactly one SIRET carries today."""
    pairs = _pairs(formations, sessions, actions)
    pairs = pairs[pairs["siret"].notna() & pairs["norm"].notna()]
    per_name = pairs.groupby("norm")["siret"].nunique()
    unique = per_name[per_name == 1].index
    known = pairs[pairs["norm"].isin(unique)].drop_duplicates("norm")
    return pd.Series(known["siret"].to_numpy(), index=known["norm"].to_numpy(), dtype="string")


def fill_sirets_by_name(
    sessions: pd.DataFrame, formations: pd.DataFrame, actions: pd.DataFrame | None = None
) -> pd.Series:
    """``siret_formateur`` of the sessions, completed for the bodies named without a SIRET whose
    name exactly one SIRET carries in the day's records (see the module doc)."""
    siret = sessions["siret_formateur"].astype("string")
    missing = siret.isna() & sessions["organisme_formateur"].notna()
    if not missing.any():
        return sessions["siret_formateur"]
    known = sirets_by_name(formations, sessions, actions)
    found = normalise_names(sessions.loc[missing, "organisme_formateur"]).map(known)
    out = siret.copy()
    out.loc[missing] = found.astype("string")
    return out.astype(sessions["siret_formateur"].dtype)


def published_names(sirets: pd.Series, names: pd.Series, table: pd.DataFrame) -> pd.Series:
    """The name to publish for each (SIRET, name): the directory's name of the SIRET when it has
    one, else the name as given."""
    siret = valid_sirets(sirets)
    by_siret = pd.Series(table["name"].to_numpy(), index=table["siret"].to_numpy(), dtype="string")
    out = siret.map(by_siret)
    return out.fillna(names.astype("string")).astype("string")


CARD_COLUMNS = (
    "contact_name",
    "contact_phone",
    "contact_email",
    "address_line",
    "address_complement",
    "postcode",
    "city",
    "commune_code",
    "departement",
    "region",
    "country",
)


def cards(formations: pd.DataFrame, sessions: pd.DataFrame, actions: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per SIRET of the day: ``siret``, ``name`` and ``numero`` (:func:`directory`) and
    the coordinates the sources give for that body (:data:`CARD_COLUMNS`): the contact and the
    place of its first session (by key) as a training body; for a contract holder that trains
    nobody itself, those of the first session of its first formation. The sources carry no head
    office address: the place of training is the address the body is known at."""
    table = directory(formations, sessions, actions)
    if table.empty or sessions is None or sessions.empty:
        for c in CARD_COLUMNS:
            table[c] = pd.Series([], dtype="string") if table.empty else pd.NA
        return table
    cols = ["session_key", "formation_key", "siret_formateur", *[c for c in CARD_COLUMNS if c in sessions.columns]]
    s = sessions[cols]
    if not s["session_key"].is_monotonic_increasing:
        s = s.sort_values("session_key", kind="stable")
    s = s.assign(siret=valid_sirets(s["siret_formateur"]))
    own = s[s["siret"].notna()].drop_duplicates("siret")
    first_of_formation = s.drop_duplicates("formation_key")
    holder = pd.Series(
        valid_sirets(formations["holder_siret"]).to_numpy(), index=formations["formation_key"].to_numpy()
    )
    holder = holder[~holder.index.duplicated()]
    held = first_of_formation.assign(siret=first_of_formation["formation_key"].map(holder).astype("string"))
    held = held[held["siret"].notna()].drop_duplicates("siret")
    both = pd.concat([own, held[~held["siret"].isin(own["siret"])]], ignore_index=True)
    both = both.set_index("siret")
    out = table.copy()
    for c in CARD_COLUMNS:
        if c in both.columns:
            out[c] = out["siret"].map(both[c]).astype("string")
        else:
            out[c] = pd.Series(pd.NA, index=out.index, dtype="string")
    return out
