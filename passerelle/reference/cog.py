"""Addresses against the official Code officiel géographique (COG) and the postcode bases.

:func:`resolve_addresses` says, for each (postcode, city, INSEE code) of an extract, which commune
it designates: its INSEE code, département, région (INSEE codes) and official name, or why it
cannot be told without guessing (``status`` and a French ``message`` for the DQ026 finding).

The tables are read once per process, on first use, from ``data/reference/`` (built by
``scripts/build_reference.py`` from ``@etalab/decoupage-administratif`` and ``codes-postaux``;
their versions are in ``data/reference/versions.json``, see :func:`reference_versions`).

How a triple is resolved (the same for every row; each distinct triple is resolved once):

- the city is turned into a matching key (:mod:`passerelle.reference.names`: case, accents,
  ``ST``/``SAINT``, articles, ``CEDEX``, arrondissements...); the communes the postcode serves
  under that name are looked up, official names first, then La Poste's libellé d'acheminement,
  then other names (communes déléguées, associées, merged; an official name without its bracketed
  part): the first tier that matches decides;
- several matches that are arrondissements of one city give that city's code (``Lyon`` at a
  postcode serving two arrondissements is Lyon, 69123); otherwise several matches are
  ``ambiguous`` and nothing is chosen;
- an arrondissement municipal is returned as its own code (``Lyon`` at 69003 is 69383, Lyon 3e
  Arrondissement) when the postcode designates one arrondissement, as La Poste's base and the
  Intercarif producers write it; consumers that want the commune map it (data·inclusion's
  ``stg_carif_oref__adresses`` maps 751xx/693xx/132xx to 75056/69123/13055 and keeps the
  arrondissement); a commune déléguée, associée or a former code gives the commune actuelle;
- a postcode absent from both bases whose city carries ``CEDEX`` is a company (CEDEX) code:
  the city is looked up among the communes of the postcode's département;
- the given INSEE code is kept when the postcode serves it and the city names it (status ``ok``;
  a delegated, associated or former code is replaced by its commune actuelle: ``derived``).
  When two of the three agree, the commune they designate is filled and ``status`` names the
  one that disagrees: postcode and city against the INSEE code (``insee_mismatch``, the commune
  of postcode + city), INSEE code and postcode against the city (``city_not_served``, the given
  code), INSEE code and city against the postcode (``insee_mismatch``, the given code). When
  nothing designates one commune, the INSEE code, département and région are null.
"""

from __future__ import annotations

import json
import threading
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from passerelle.reference.names import STR, match_keys

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "data" / "reference"

STATUS_OK = "ok"
STATUS_DERIVED = "derived"
STATUS_MISSING = "missing"
STATUS_UNKNOWN_POSTCODE = "unknown_postcode"
STATUS_CITY_NOT_SERVED = "city_not_served"
STATUS_INSEE_MISMATCH = "insee_mismatch"
STATUS_INSEE_UNKNOWN = "insee_unknown"
STATUS_AMBIGUOUS = "ambiguous"
STATUSES = (
    STATUS_OK,
    STATUS_DERIVED,
    STATUS_MISSING,
    STATUS_UNKNOWN_POSTCODE,
    STATUS_CITY_NOT_SERVED,
    STATUS_INSEE_MISMATCH,
    STATUS_INSEE_UNKNOWN,
    STATUS_AMBIGUOUS,
)
RESOLVED_STATUSES = (STATUS_OK, STATUS_DERIVED)  # no finding

RESULT_COLUMNS = ["insee_code", "departement", "region", "country", "commune_name", "status", "message"]
COUNTRY = "FR"
POSTCODE_PATTERN = r"\d{5}"
INSEE_PATTERN = r"\d{5}|2[AB]\d{3}"
_LIST_MAX = 6  # communes listed in a message


# --- the tables -----------------------------------------------------------------------------------


def _read(path: Path, types: dict[str, pa.DataType] | None = None) -> pd.DataFrame:
    table = pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            column_types=types, strings_can_be_null=False, quoted_strings_can_be_null=False, null_values=[]
        ),
    )
    return table.to_pandas(types_mapper=pd.ArrowDtype)


class Reference:
    """The reference tables of ``data/reference/`` and the indexes the lookup joins on."""

    def __init__(self, folder: Path = REFERENCE_DIR):
        self.folder = folder
        strings = {
            c: pa.string()
            for c in (
                "code",
                "kind",
                "name",
                "resolved",
                "commune",
                "departement",
                "region",
                "postcode",
                "insee_code",
                "match_name",
                "label",
                "level",
            )
        }
        communes = _read(folder / "cog_communes.csv.gz", strings)
        self.communes = communes.set_index("code", drop=False)
        postcodes = _read(folder / "cog_postcodes.csv.gz", strings | {"tier": pa.int8()})
        postcodes["commune"] = postcodes["insee_code"].map(self.communes["commune"]).astype(STR)
        postcodes["departement"] = postcodes["insee_code"].map(self.communes["departement"]).astype(STR)
        self.postcodes = postcodes
        self.areas = _read(folder / "cog_areas.csv.gz", strings)

    @cached_property
    def known_postcodes(self) -> pd.Index:
        return pd.Index(self.postcodes["postcode"].unique())

    @cached_property
    def served(self) -> pd.Index:
        """``postcode|code`` for every commune or arrondissement a postcode serves, and its city."""
        p = self.postcodes
        return pd.Index(
            pd.concat([_pair_keys(p["postcode"], p["insee_code"]), _pair_keys(p["postcode"], p["commune"])]).unique()
        )

    @cached_property
    def named(self) -> pd.Index:
        """``code|key`` for every name a commune, arrondissement or its city goes by."""
        p = self.postcodes
        return pd.Index(
            pd.concat(
                [_pair_keys(p["insee_code"], p["match_name"]), _pair_keys(p["commune"], p["match_name"])]
            ).unique()
        )

    @cached_property
    def postcode_departements(self) -> pd.Index:
        """``postcode|departement`` for every département a postcode serves a commune of."""
        p = self.postcodes
        return pd.Index(_pair_keys(p["postcode"], p["departement"]).unique())

    @cached_property
    def by_departement(self) -> pd.DataFrame:
        """Names per département (for CEDEX postcodes, absent from both bases)."""
        p = self.postcodes
        return (
            p[["departement", "match_name", "insee_code", "commune", "tier"]]
            .sort_values("tier", kind="stable")
            .drop_duplicates(["departement", "match_name", "insee_code"])
        )

    @cached_property
    def postcode_departement(self) -> pd.Series:
        """Département of each known postcode: the one of the communes it serves; when they lie in
        several, the postcode's own (its first digits) if it is one of them, else none."""
        p = self.postcodes[["postcode", "departement"]].drop_duplicates()
        counts = p.groupby("postcode", sort=False)["departement"].transform("size")
        single = p[counts.to_numpy() == 1].set_index("postcode")["departement"]
        multi = p[counts.to_numpy() > 1]
        own = multi[(_prefix_departement(multi["postcode"]) == multi["departement"]).fillna(False).to_numpy()]
        return pd.concat([single, own.set_index("postcode")["departement"]]).astype(STR)

    @cached_property
    def departement_names(self) -> dict[str, str]:
        a = self.areas[self.areas["level"] == "departement"]
        return dict(zip(a["code"].astype(object), a["name"].astype(object)))

    @cached_property
    def region_names(self) -> dict[str, str]:
        a = self.areas[self.areas["level"] == "region"]
        return dict(zip(a["code"].astype(object), a["name"].astype(object)))


_lock = threading.Lock()
_reference: Reference | None = None


def reference() -> Reference:
    """The reference tables, read once per process (thread-safe)."""
    global _reference
    if _reference is None:
        with _lock:
            if _reference is None:
                _reference = Reference()
    return _reference


def reference_versions() -> dict:
    """``data/reference/versions.json``: packages, versions, licences, rows and sha256 of the tables."""
    return json.loads((REFERENCE_DIR / "versions.json").read_text("utf-8"))


def __getattr__(name: str):  # REGION_NAMES / DEPARTEMENT_NAMES, read lazily with the tables
    if name == "REGION_NAMES":
        return reference().region_names
    if name == "DEPARTEMENT_NAMES":
        return reference().departement_names
    raise AttributeError(name)


# --- helpers for the rules ------------------------------------------------------------------------


def _as_series(values) -> tuple[pd.Series, bool]:
    if isinstance(values, pd.Series):
        return values, False
    return pd.Series([values], dtype=object), True


def _scalar_or_series(result: pd.Series, scalar: bool):
    if not scalar:
        return result
    value = result.iloc[0]
    return None if pd.isna(value) else str(value)


def _clean(values: pd.Series) -> pd.Series:
    s = values.astype(STR).str.strip()
    return s.mask(s.fillna("") == "").astype(STR)


def _prefix_departement(postcode: pd.Series) -> pd.Series:
    """The département a postcode's digits name: 2 digits, 3 overseas (97x, 98x); Corsica 20xxx
    is 2A for 200xx-201xx, 2B for 202xx and 206xx (any other 20xxx does not tell); null when
    not 5 digits or not telling."""
    pc = _clean(postcode)
    ok = pc.str.fullmatch(POSTCODE_PATTERN).fillna(False).astype(bool)
    d2, d3 = pc.str.slice(0, 2), pc.str.slice(0, 3)
    dept = d2.where(~d2.isin(["97", "98"]).fillna(False).astype(bool), d3)
    corsica = (d2 == "20").fillna(False).astype(bool)
    third = pc.str.slice(2, 3)
    dept = dept.mask(corsica, pd.NA)
    dept = dept.mask(corsica & third.isin(["0", "1"]).fillna(False).astype(bool), "2A")
    dept = dept.mask(corsica & third.isin(["2", "6"]).fillna(False).astype(bool), "2B")
    dept = dept.mask((dept == "00").fillna(False).astype(bool), pd.NA)
    return dept.where(ok).astype(STR)


def departement_of_postcode(postcode):
    """Département (INSEE code) of a postcode, or of each of a Series: the département of the
    communes it serves (Corsica 2A/2B by commune, 97133 -> 977, 97150 -> 978); for a postcode in
    neither base (a CEDEX code) the one its digits name; None when unknown or not 5 digits."""
    values, scalar = _as_series(postcode)
    pc = _clean(values)
    known = pc.map(reference().postcode_departement).astype(STR)
    return _scalar_or_series(known.fillna(_prefix_departement(pc)).astype(STR), scalar)


def departement_of_insee(code):
    """Département (INSEE code) of an INSEE commune code, or of each of a Series; a well-formed
    code absent from the COG gets the one its digits name (3 digits overseas); None otherwise."""
    values, scalar = _as_series(code)
    c = _clean(values).str.upper()
    known = c.map(reference().communes["departement"]).astype(STR)
    ok = c.str.fullmatch(INSEE_PATTERN).fillna(False).astype(bool)
    d2, d3 = c.str.slice(0, 2), c.str.slice(0, 3)
    digits = d2.where(~d2.isin(["97", "98"]).fillna(False).astype(bool), d3).where(ok)
    return _scalar_or_series(known.fillna(digits).astype(STR), scalar)


def postcode_in_departement(postcode, departement):
    """Whether a postcode may be written with an address of that département (True/False, or a
    boolean Series for Series): it serves a commune of that département (01200 serves communes
    of 01 and 74, 97133 Saint-Barthélemy 977); a postcode in neither base (a CEDEX code) when
    its digits name that département (a 20xxx that names neither 2A nor 2B: either). False when
    either is missing."""
    pcs, scalar = _as_series(postcode)
    deps, _ = _as_series(departement)
    pc = _clean(pcs)
    dep = _clean(deps.set_axis(pcs.index) if not scalar else deps).str.upper()
    ref = reference()
    known = pc.isin(ref.known_postcodes).fillna(False).astype(bool).to_numpy()
    served = _member(ref.postcode_departements, pc, dep)
    prefix = _obj(_prefix_departement(pc))
    dep_obj = _obj(dep)
    corsica_any = pd.isna(prefix) & (_obj(pc.str.slice(0, 2)) == "20") & np.isin(dep_obj, ["2A", "2B"])
    by_digits = ~known & (((prefix == dep_obj) & pd.notna(prefix)) | corsica_any)
    result = pd.Series(served | by_digits, index=pcs.index, dtype=bool)
    return bool(result.iloc[0]) if scalar else result


def region_of_departement(departement):
    """Région (INSEE code) of a département code, or of each of a Series; None when unknown."""
    values, scalar = _as_series(departement)
    areas = reference().areas
    deps = areas[areas["level"] == "departement"].set_index("code")["region"]
    return _scalar_or_series(_clean(values).str.upper().map(deps).astype(STR), scalar)


# --- the lookup -----------------------------------------------------------------------------------


def resolve_addresses(postcode: pd.Series, city: pd.Series, insee: pd.Series | None = None) -> pd.DataFrame:
    """Index aligned with the inputs; string columns (Arrow-backed), null when unknown:

    insee_code   INSEE code of the commune: the given one when it is consistent with postcode and
                 city, else derived from postcode + city; null when it cannot be determined without
                 guessing (see the module docstring: arrondissements keep their own code)
    departement  INSEE département code ("01", "2A", "2B", "971", "976"; "975", "977", "978",
                 "987", "988" for the overseas collectivities, as the COG package gives them)
    region       INSEE région code since 2016 ("84", "76", "94" Corse, "01".."06" overseas; the
                 collectivity's own code for 975, 977, 978, 986, 987, 988)
    country      "FR" when the commune is resolved
    commune_name official name of that code (an arrondissement's own: « Lyon 3e Arrondissement »)
    status       "ok" | "derived" | "missing" | "unknown_postcode" | "city_not_served"
                 | "insee_mismatch" | "insee_unknown" | "ambiguous"
    message      French sentence for the DQ026 finding (null for ok/derived)
    """
    index = postcode.index
    n = len(postcode)
    if n == 0:
        return pd.DataFrame({c: pd.Series([], dtype=STR, index=index) for c in RESULT_COLUMNS})
    columns = [postcode, city, insee if insee is not None else pd.Series(pa.nulls(n, pa.string()), dtype=STR)]
    columns = [s.reset_index(drop=True) for s in columns]
    # each distinct (postcode, city, INSEE) as written is resolved once
    codes = [pd.factorize(s, use_na_sentinel=True)[0].astype(np.int64) + 1 for s in columns]
    sizes = [int(c.max()) + 1 for c in codes]
    combined = (codes[0] * sizes[1] + codes[1]) * sizes[2] + codes[2]
    inverse, uniques = pd.factorize(combined)
    first = np.empty(len(uniques), dtype=np.int64)
    first[inverse[::-1]] = np.arange(n - 1, -1, -1)
    triples = pd.DataFrame(
        {
            "postcode": _clean(columns[0].take(first)).to_numpy(),
            "city": columns[1].take(first).astype(STR).to_numpy(),
            "insee": _clean(columns[2].take(first)).str.upper().to_numpy(),
        }
    )
    for col in triples.columns:
        triples[col] = triples[col].astype(STR)
    resolved = _resolve(triples, reference())
    out = resolved.take(inverse)
    out.index = index
    return out


def _pick(candidates: pd.DataFrame, size: int) -> pd.DataFrame:
    """Per triple ``i``: the best tier's candidates -> ``code`` (one commune, or one city of
    several arrondissements) or ``count`` > 1 (ambiguous), and the list of candidates."""
    result = pd.DataFrame(
        {
            "code": pd.Series(pd.NA, index=range(size), dtype=object),
            "count": np.zeros(size, dtype=np.int64),
            "listing": pd.Series(pd.NA, index=range(size), dtype=object),
        }
    )
    if candidates.empty:
        return result
    c = candidates.astype({"insee_code": object, "commune": object})
    best = c.groupby("i")["tier"].transform("min")
    c = c[(c["tier"] == best).to_numpy()]
    g = c.groupby("i")
    n_codes, n_communes = g["insee_code"].nunique(), g["commune"].nunique()
    code = g["insee_code"].first().where(n_codes == 1, g["commune"].first().where(n_communes == 1))
    count = n_codes.where((n_codes == 1) | (n_communes > 1), 1)
    result.loc[code.index, "code"] = code
    result.loc[count.index, "count"] = count.astype(np.int64)
    many = count[count > 1].index
    if len(many):
        amb = c[c["i"].isin(many)].drop_duplicates(["i", "insee_code"]).sort_values(["i", "insee_code"])
        for i, codes in amb.groupby("i")["insee_code"].agg(list).items():
            result.at[i, "listing"] = codes
    return result


def _obj(values: pd.Series) -> np.ndarray:
    """Object array with None for missing values (safe for ``==`` between arrays)."""
    s = values.astype(object)
    return s.where(s.notna(), None).to_numpy(dtype=object)


def _pair_keys(first: pd.Series, second: pd.Series) -> pd.Series:
    return first.astype(STR) + "|" + second.astype(STR)


def _member(pairs: pd.Index, first: pd.Series, second: pd.Series) -> np.ndarray:
    """Whether each (first, second) is one of ``pairs`` (built by :func:`_pair_keys`)."""
    return _pair_keys(first, second).isin(pairs).fillna(False).astype(bool).to_numpy()


def _resolve(t: pd.DataFrame, ref: Reference) -> pd.DataFrame:
    m = len(t)
    t = t.copy()
    t["i"] = np.arange(m)
    key, cedex = match_keys(t["city"])
    t["key"] = key
    pc_format = t["postcode"].str.fullmatch(POSTCODE_PATTERN).fillna(False).astype(bool).to_numpy()
    has_pc, has_city = t["postcode"].notna().to_numpy(), t["key"].notna().to_numpy()
    has_g = t["insee"].notna().to_numpy()
    communes = ref.communes
    g_res = pd.Series(_obj(t["insee"].map(communes["resolved"])), dtype=object)
    g_known = g_res.notna().to_numpy()
    pc_known = t["postcode"].isin(ref.known_postcodes).fillna(False).astype(bool).to_numpy()
    # CEDEX: a company code absent from both bases; look in the département the digits name
    cedex_mode = ~pc_known & pc_format & cedex.to_numpy() & has_city
    t["pc_dept"] = _prefix_departement(t["postcode"])

    # candidates of (postcode, city)
    direct = t.loc[pc_known & has_city, ["i", "postcode", "key"]].merge(
        ref.postcodes[["postcode", "match_name", "insee_code", "commune", "tier"]],
        left_on=["postcode", "key"],
        right_on=["postcode", "match_name"],
    )
    via_dept = t.loc[cedex_mode, ["i", "pc_dept", "key"]]
    corsica = via_dept["pc_dept"].isna().to_numpy()  # a 20xxx naming neither 2A nor 2B: both
    via_dept = pd.concat(
        [via_dept[~corsica], via_dept[corsica].assign(pc_dept="2A"), via_dept[corsica].assign(pc_dept="2B")]
    ).astype({"pc_dept": STR})
    via_dept = via_dept.merge(ref.by_departement, left_on=["pc_dept", "key"], right_on=["departement", "match_name"])
    cols = ["i", "insee_code", "commune", "tier"]
    picked = _pick(pd.concat([direct[cols], via_dept[cols]], ignore_index=True), m)
    x = picked["code"].to_numpy(dtype=object)
    has_x = pd.notna(x)
    ambiguous = picked["count"].to_numpy() > 1

    # the given INSEE code against the postcode and against the city
    served_direct = _member(ref.served, t["postcode"], g_res)
    g_dept = _obj(g_res.map(communes["departement"]))
    pc_dept = _obj(t["pc_dept"])
    corsican = np.isin(g_dept, ["2A", "2B"]) & (_obj(t["postcode"].str.slice(0, 2)) == "20")
    served_cedex = cedex_mode & ((g_dept == pc_dept) & (pc_dept != None) | (pd.isna(pc_dept) & corsican))  # noqa: E711
    g_served = g_known & (served_direct | served_cedex)
    g_named = g_known & _member(ref.named, g_res, t["key"])
    g_res_arr = g_res.to_numpy(dtype=object)
    g_is_current = g_known & (g_res_arr == _obj(t["insee"]))

    missing = ~has_pc | ~has_city
    found = pc_known | (cedex_mode & (has_x | ambiguous))  # a CEDEX code stands for its commune when one is named
    consistent = g_known & g_served & g_named
    conditions = [
        missing,
        has_g & ~g_known,
        consistent,
        ~found & g_named,
        ~found,
        has_x & ~has_g,
        has_x,
        ambiguous,
        g_served,
        g_named,
    ]
    statuses: list[Any] = [
        STATUS_MISSING,
        STATUS_INSEE_UNKNOWN,
        np.where(g_is_current, STATUS_OK, STATUS_DERIVED),
        STATUS_UNKNOWN_POSTCODE,
        STATUS_UNKNOWN_POSTCODE,
        STATUS_DERIVED,
        STATUS_INSEE_MISMATCH,
        np.where(has_g, STATUS_INSEE_MISMATCH, STATUS_AMBIGUOUS),
        STATUS_CITY_NOT_SERVED,
        STATUS_INSEE_MISMATCH,
    ]
    status = np.select(conditions, statuses, default=STATUS_CITY_NOT_SERVED)
    # the code retained: two sources out of three agreeing designate it
    none = np.full(m, None, dtype=object)
    x = np.where(has_x, x, none)
    code = np.select(
        [missing, has_g & ~g_known, consistent, ~found & g_named, ~found, has_x, ambiguous, g_served, g_named],
        [none, x, g_res_arr, g_res_arr, none, x, none, g_res_arr, g_res_arr],
        default=none,
    )
    code = pd.Series(code, dtype=object)
    res = pd.DataFrame({"i": t["i"], "code": code, "status": status})
    res["departement"] = res["code"].map(communes["departement"])
    res["region"] = res["code"].map(communes["region"])
    res["commune_name"] = res["code"].map(communes["name"])
    res["country"] = res["code"].notna().map({True: COUNTRY, False: None})
    res["message"] = _messages(t, res, picked, g_res, cedex_mode, pc_format, ref)
    out = pd.DataFrame(
        {
            "insee_code": res["code"],
            "departement": res["departement"],
            "region": res["region"],
            "country": res["country"],
            "commune_name": res["commune_name"],
            "status": res["status"],
            "message": res["message"],
        }
    )
    return out.astype(STR)


# --- French messages (DQ026) -----------------------------------------------------------------------


def _listing(items: list[str]) -> str:
    shown = items[:_LIST_MAX]
    more = len(items) - len(shown)
    return ", ".join(shown) + (f" et {more} autre{'s' if more > 1 else ''}" if more > 0 else "")


def _served_names(ref: Reference, postcodes: pd.Series) -> dict[str, str]:
    """Postcode -> the official names of the communes it serves (« Lyon », « Ajaccio, Lecci »)."""
    p = ref.postcodes[ref.postcodes["postcode"].isin(postcodes.dropna().unique())][["postcode", "commune"]]
    p = p.drop_duplicates().assign(name=lambda d: _obj(d["commune"].map(ref.communes["name"])))
    return {str(pc): _listing(sorted(set(g["name"]))) for pc, g in p.groupby("postcode")}


def _official_postcodes(ref: Reference, keys: pd.Series) -> dict[str, str]:
    """Matching key -> the communes of that official name and their postcodes (« Villeurbanne (69100) »)."""
    p = ref.postcodes
    p = p[(p["tier"] == 1).to_numpy() & p["match_name"].isin(keys.dropna().unique()).to_numpy()]
    p = p.assign(name=_obj(p["commune"].map(ref.communes["name"])))
    out = {}
    for key, g in p.groupby("match_name"):
        per = g.groupby(["name", "commune"])["postcode"].agg(lambda pcs: _listing(sorted(set(pcs))))
        out[str(key)] = _listing([f"{name} ({pcs})" for (name, _), pcs in per.items()])
    return out


def _code_named(code: str, communes: pd.DataFrame) -> str:
    name = communes["name"].get(code)
    return f"{code} ({name})" if isinstance(name, str) and name else code


def _named_code(code: str, communes: pd.DataFrame) -> str:
    name = communes["name"].get(code)
    return f"{name} ({code})" if isinstance(name, str) and name else code


def _messages(
    t: pd.DataFrame,
    res: pd.DataFrame,
    picked: pd.DataFrame,
    g_res: pd.Series,
    cedex_mode: np.ndarray,
    pc_format: np.ndarray,
    ref: Reference,
) -> pd.Series:
    """One French sentence per problem triple (Python over distinct problem triples only)."""
    messages = pd.Series(None, index=res.index, dtype=object)
    todo = np.flatnonzero(~res["status"].isin(RESOLVED_STATUSES).to_numpy())
    if len(todo) == 0:
        return messages
    communes = ref.communes
    served = _served_names(ref, t["postcode"].iloc[todo])
    official = _official_postcodes(ref, t["key"].iloc[todo])
    for i in todo:
        pc, city, given = t["postcode"].iloc[i], t["city"].iloc[i], t["insee"].iloc[i]
        key = t["key"].iloc[i]
        key = None if pd.isna(key) else str(key)
        status, code = res["status"].iat[i], res["code"].iat[i]
        pc, city, given = (None if pd.isna(v) else str(v) for v in (pc, city, given))
        city_q = f"« {city.strip()} »" if city else ""
        served_by_pc = served.get(pc) if pc else None
        elsewhere = official.get(key) if key else None
        desservies = f" (communes desservies : {served_by_pc})" if served_by_pc else ""
        if status == STATUS_MISSING:
            lacking = " et ".join(w for w, v in (("le code postal", pc), ("la ville", key)) if not v)
            text = (
                f"Adresse incomplète : {lacking} manque{'nt' if ' et ' in lacking else ''} ; "
                "la commune (code INSEE, département, région) ne peut pas être déterminée."
            )
        elif status == STATUS_INSEE_UNKNOWN:
            text = f"Le code INSEE « {given} » ne correspond à aucune commune du Code officiel géographique"
            text += (
                f" ; le code postal {pc} et la ville {city_q} désignent {_named_code(code, communes)}, code retenu."
                if code
                else "."
            )
        elif status == STATUS_UNKNOWN_POSTCODE:
            if not pc_format[i]:
                text = f"Le code postal « {pc} » n'a pas 5 chiffres ; la commune ne peut pas être déterminée."
            elif cedex_mode[i]:
                dept = t["pc_dept"].iloc[i]
                where = f"le département {dept}" if isinstance(dept, str) else "la Corse"
                text = (
                    f"Le code postal CEDEX {pc} n'est pas dans la base officielle des codes postaux et aucune "
                    f"commune nommée {city_q} n'existe dans {where}."
                )
            else:
                text = f"Le code postal {pc} n'existe pas dans la base officielle des codes postaux"
                if code:
                    text += f" ; le code INSEE {_code_named(code, communes)}, qui correspond à la ville, est retenu."
                elif elsewhere:
                    text += f" ; communes nommées {city_q} : {elsewhere}."
                else:
                    text += " (s'il s'agit d'un code CEDEX, ajoutez la mention CEDEX après la ville)."
        elif status == STATUS_AMBIGUOUS:
            names = ", ".join(_named_code(c, communes) for c in picked["listing"].iat[i])
            text = (
                f"Plusieurs communes nommées {city_q} sont desservies par le code postal {pc} : {names} ; "
                "indiquez le code INSEE de la commune."
            )
        elif status == STATUS_CITY_NOT_SERVED:
            text = f"Le code postal {pc} ne dessert aucune commune nommée {city_q}{desservies}."
            if code:
                text += f" Le code INSEE {_code_named(code, communes)}, desservi par ce code postal, est retenu."
            elif elsewhere:
                text += f" Communes nommées {city_q} : {elsewhere}."
        else:  # STATUS_INSEE_MISMATCH
            g_cur = g_res.iloc[i]
            g_text = _named_code(g_cur if isinstance(g_cur, str) else str(given), communes)
            listing = picked["listing"].iat[i]
            if code and code != g_cur:
                text = (
                    f"Le code INSEE {given} ({communes['name'].get(g_cur, '')}) ne correspond pas au code postal "
                    f"{pc} et à la ville {city_q}, qui désignent {_named_code(code, communes)} : code retenu."
                )
            elif code:
                text = (
                    f"Le code postal {pc} ne dessert pas {g_text}"
                    f"{' ; communes desservies : ' + served_by_pc if served_by_pc else ''}. "
                    f"Le code INSEE {given}, qui correspond à la ville {city_q}, est retenu."
                )
            else:
                several = ", ".join(_named_code(c, communes) for c in listing) if isinstance(listing, list) else ""
                several = f" : {several}" if several else ""
                text = (
                    f"Le code INSEE {given} ({communes['name'].get(g_cur, '')}) ne correspond pas au code postal "
                    f"{pc} et à la ville {city_q}, qui désignent plusieurs communes{several} ; "
                    "la commune ne peut pas être déterminée."
                )
        messages.iat[i] = text.replace("  ", " ")
    return messages
