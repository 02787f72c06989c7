"""Mission Locale CSV: one row per published session, ready for a spreadsheet.

Contract (``outputs.md``): UTF-8 with BOM, ``;`` separated, ``"`` quoting (when needed), CRLF
line ends, dates ``dd/mm/yyyy``, the header below. Values are in French (``fixes``,
``Ouvert``, ``oui``, ``Conseil régional``); phones in national format (``04 73 19 36 38``).

CSV injection (OWASP): a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return gets a leading ``'`` so that a spreadsheet shows it as text instead of running it.
Phones are formatted first (``+33 4 73...`` becomes ``04 73...``); a raw value that could not
be read as a phone keeps its ``+`` and gets the quote.

Rows are sorted by ``session_key`` and written a chunk at a time (columns built vectorised
per chunk), so memory does not grow with the file.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from passerelle import model
from passerelle.feeds.csv_text import csv_rows
from passerelle.feeds.lheo import format_phone, to_table

HEADER = [
    "session_id", "action_id", "intitule", "organisme_formateur", "siret", "adresse", "code_postal",
    "ville", "code_insee", "date_debut", "date_fin", "entrees_sorties", "places", "etat_recrutement",
    "annulee", "contact_nom", "contact_tel", "contact_mail", "prochaine_info_collective", "financeur",
    "numero_marche", "source",
]  # fmt: skip

# The session columns this writer reads (see catalog.feed_session_columns).
SESSION_COLUMNS = (
    "session_key", "action_key", "formation_key", "title", "organisme_formateur", "siret_formateur",
    "address_line", "address_complement", "postcode", "city", "commune_code", "start_date", "end_date",
    "entry_mode", "places", "recruitment_state", "cancelled", "contact_name", "contact_phone",
    "contact_email", "financer", "marche_numero", "source",
)  # fmt: skip
ENTRY_LABELS = {model.ENTRY_FIXED: "fixes", model.ENTRY_PERMANENT: "permanentes"}
RECRUITMENT_LABELS = {
    model.RECRUITMENT_OPEN: "Ouvert",
    model.RECRUITMENT_SUSPENDED: "Suspendu",
    model.RECRUITMENT_CLOSED: "Fermé",
}
# LHEO dict-financeurs labels (lheo-gml-2.3.0.xml); 2 in the short form the contract uses.
FINANCER_LABELS = {
    "0": "Autre",
    "1": "Code(s) obsolète(s)",
    "2": "Conseil régional",
    "3": "Fonds européens - FSE",
    "4": "Pôle emploi",
    "5": "Entreprise",
    "6": "ACSÉ (anciennement FASILD)",
    "7": "AGEFIPH",
    "8": "Collectivité territoriale - Conseil général",
    "9": "Collectivité territoriale - Commune",
    "10": "Bénéficiaire de l'action",
    "11": "Etat - Ministère chargé de l'emploi",
    "12": "Etat - Ministère de l'éducation nationale",
    "13": "Etat - Autre",
    "14": "Fonds européens - Autre",
    "15": "Collectivité territoriale - Autre",
    "16": "OPCO",
    "17": "Transition Pro",
    "18": "LADOM",
    "19": "État - Ministère de l’intérieur",
    "20": "OFII - Office français de l’immigration et de l'intégration",
}
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")
# C0 controls but tab and line breaks, DEL, and the non-characters XML also refuses
_CONTROL_CHARS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f" + "\ufffe\uffff]"  # escapes valid in re and RE2
_CHUNK = 65_536
BOM = "\ufeff".encode()


def write_mission_locale_csv(path: Path, formations: pd.DataFrame, actions: pd.DataFrame, sessions: pd.DataFrame,
                             events: pd.DataFrame, *, run_date: date | None = None,
                             organisations: pd.DataFrame | None = None) -> int:  # fmt: skip
    """Write the Mission Locale CSV; return the number of session rows.

    ``run_date``: ``prochaine_info_collective`` is the first information collective that is
    not cancelled, on or after this date (any date when None).

    ``organisations``: the published name of each SIRET (:func:`passerelle.organisations.directory`
    or ``cards`` of the publication, as the LHEO feeds get it): a SIRET has one name in every
    feed. Computed from the tables given when None. ``code_insee`` is the commune's INSEE code
    from the Code officiel géographique (empty when it cannot be told, DQ026).
    """
    s = to_table(sessions, model.SESSIONS, ("publication_status", "change"))
    order = pc.sort_indices(s, sort_keys=[("session_key", "ascending")]) if s.num_rows else pa.array([], pa.uint64())
    if organisations is None:
        from passerelle.organisations import directory

        organisations = directory(formations, sessions, actions)
    lookups = _Lookups(formations, actions, events, run_date, organisations)
    positions = lookups.positions(s)  # each session's row in each lookup, computed once
    with open(Path(path), "wb") as fh:
        fh.write(BOM + csv_rows([pa.array([name]) for name in HEADER]))
        for start in range(0, s.num_rows, _CHUNK):
            rows = order.slice(start, _CHUNK)
            chunk = lookups.join(s.take(rows), [p.take(rows) for p in positions])
            columns = _rows(chunk, lookups.names)
            del chunk
            fh.write(csv_rows([columns[name] for name in HEADER]))
            del columns
    return int(s.num_rows)


class _Lookups:
    """Formation / action fallbacks and next information collective, keyed for merging."""

    def __init__(
        self,
        formations: pd.DataFrame,
        actions: pd.DataFrame,
        events: pd.DataFrame,
        run_date: date | None,
        organisations: pd.DataFrame,
    ):
        f = model.to_frame(to_table(formations, model.FORMATIONS))
        f = f[["formation_key", "title", "marche_numero", "financer"]].drop_duplicates("formation_key")
        f.columns = ["formation_key", "f_title", "f_marche", "f_financer"]
        a = model.to_frame(to_table(actions, model.ACTIONS))
        a = a[["action_key", "organisme_formateur", "siret_formateur", "address_line", "postcode", "city",
               "commune_code", "entry_mode", "places"]].drop_duplicates("action_key")  # fmt: skip
        a.columns = ["action_key"] + ["a_" + c for c in a.columns[1:]]
        e = model.to_frame(to_table(events, model.EVENTS))
        e = e[e["is_information_collective"].fillna(False).astype(bool) & ~e["cancelled"].fillna(False).astype(bool)]
        e = e[e["start_date"].notna()]
        if run_date is not None:
            e = e[e["start_date"] >= pd.Timestamp(run_date).date()]
        e = e.sort_values(["session_key", "start_date", "start_time", "event_key"], na_position="last", kind="stable")
        e = e.drop_duplicates("session_key")
        text = _ddmmyyyy(e["start_date"])
        time = e["start_time"].astype("string").fillna("")
        e = pd.DataFrame({"session_key": e["session_key"], "next_ic": (text + " " + time).str.strip()})
        self.names = (
            pd.Series(organisations["name"].to_numpy(), index=organisations["siret"].to_numpy(), dtype="string")
            if len(organisations)
            else pd.Series([], dtype="string")
        )
        # Arrow tables looked up by position: each session's row in each of them is found once
        # for the whole feed (a merge or a reindex per chunk would hash the lookup again and again).
        self.tables = [
            (key, pa.Table.from_pandas(df.reset_index(drop=True), preserve_index=False))
            for key, df in (("formation_key", f), ("action_key", a), ("session_key", e))
        ]

    def positions(self, sessions: pa.Table) -> list[pa.Array]:
        """For each lookup, the row of each session (null when it has none)."""
        return [
            pc.index_in(sessions.column(key), value_set=table.column(key).combine_chunks())
            for key, table in self.tables
        ]

    def join(self, chunk: pa.Table, positions: list[pa.Array]) -> pd.DataFrame:
        """``chunk`` with the columns of its formation, its action and its next information collective."""
        columns = dict(zip(chunk.column_names, chunk.columns))
        for (key, table), rows in zip(self.tables, positions, strict=True):
            found = table.take(rows)
            for name in table.column_names:
                if name != key:
                    columns[name] = found.column(name)
        return pa.table(columns).to_pandas(types_mapper=pd.ArrowDtype)


def _ddmmyyyy(s: pd.Series) -> pd.Series:
    """Dates as ``dd/mm/yyyy`` text, ``""`` when missing."""
    arr = pa.array(s.astype(object), type=pa.date32(), from_pandas=True) if not _is_arrow_date(s) else pa.array(s.array)
    text = pc.fill_null(pc.strftime(arr, format="%d/%m/%Y"), "")
    return pd.Series(pd.arrays.ArrowExtensionArray(text), index=s.index).astype("string")


def _is_arrow_date(s: pd.Series) -> bool:
    return isinstance(s.dtype, pd.ArrowDtype) and pa.types.is_date32(s.dtype.pyarrow_dtype)


def _str(s: pd.Series) -> pd.Series:
    return s.astype("string").str.strip().fillna("")


def _rows(df: pd.DataFrame, names: pd.Series) -> dict[str, list]:
    """The CSV columns of a chunk of sessions joined to their lookups (:meth:`_Lookups.join`);
    ``names``: the published name of each SIRET."""
    # the session's own address when it has one (postcode or city), else its action's
    own = df["postcode"].notna() | df["city"].notna()
    line = _str(df["address_line"])
    complement = _str(df["address_complement"])
    own_address = (line + ", " + complement).str.strip(", ").where(complement != "", line)
    cancelled = df["cancelled"].fillna(False).astype(bool)
    # as in the LHEO feeds: a cancelled session is closed; no state given (SIGMA) means open
    state = df["recruitment_state"].astype("string").fillna(model.RECRUITMENT_OPEN)
    state = state.map(RECRUITMENT_LABELS).astype("string").fillna(state)
    state = state.mask(cancelled, RECRUITMENT_LABELS[model.RECRUITMENT_CLOSED])
    entry = df["entry_mode"].astype("string").fillna(df["a_entry_mode"].astype("string"))
    places = df["places"].astype("Int64").fillna(df["a_places"].astype("Int64"))
    financer = df["financer"].astype("string").fillna(df["f_financer"].astype("string"))
    phones = _str(df["contact_phone"])
    unique = pd.unique(phones.to_numpy(dtype=object))
    formatted = {p: (format_phone(p) or "") for p in unique}
    siret = _str(df["siret_formateur"].astype("string").fillna(df["a_siret_formateur"].astype("string")))
    body = df["organisme_formateur"].astype("string").fillna(df["a_organisme_formateur"].astype("string"))
    cols = {
        "session_id": _str(df["session_key"]),
        "action_id": _str(df["action_key"]),
        "intitule": _str(df["title"].astype("string").fillna(df["f_title"].astype("string"))),
        "organisme_formateur": _str(siret.map(names).astype("string").fillna(body)),
        "siret": siret,
        "adresse": own_address.where(own, _str(df["a_address_line"])),
        "code_postal": _str(df["postcode"]).where(own, _str(df["a_postcode"])),
        "ville": _str(df["city"]).where(own, _str(df["a_city"])),
        "code_insee": _str(df["commune_code"]).where(own, _str(df["a_commune_code"])),
        "date_debut": _ddmmyyyy(df["start_date"]),
        "date_fin": _ddmmyyyy(df["end_date"]),
        "entrees_sorties": entry.map(ENTRY_LABELS).astype("string").fillna(""),
        "places": places.astype("string").fillna(""),
        "etat_recrutement": state,
        "annulee": pd.Series(np.where(cancelled, "oui", "non"), index=df.index, dtype="string"),
        "contact_nom": _str(df["contact_name"]),
        "contact_tel": phones.map(formatted).astype("string"),
        "contact_mail": _str(df["contact_email"]),
        "prochaine_info_collective": _str(df["next_ic"]),
        "financeur": financer.map(lambda c: FINANCER_LABELS.get(c, c) if isinstance(c, str) else "")
        .astype("string")
        .fillna(""),
        "numero_marche": _str(df["marche_numero"].astype("string").fillna(df["f_marche"].astype("string"))),
        "source": _str(df["source"]),
    }
    return {name: neutralise_formulas(col).array.__arrow_array__() for name, col in cols.items()}


def neutralise_formulas(col: pd.Series) -> pd.Series:
    """OWASP CSV injection: prefix cells that a spreadsheet would run as a formula with ``'``.

    Control characters (NUL, VT, FF, ESC...) are dropped first, as in the LHEO feeds: a
    spreadsheet may cut the cell at a NUL, and a control character before ``=`` must not
    hide the formula. Leading blanks do not hide it either (imports may trim them).
    """
    col = col.astype("string").fillna("")
    if col.dtype.storage == "pyarrow":
        arr = col.array.__arrow_array__().cast(pa.string())
    else:
        arr = pa.array(col.to_numpy(dtype=object), pa.string())
    if pc.any(pc.match_substring_regex(arr, _CONTROL_CHARS)).as_py():
        arr = pc.replace_substring_regex(arr, _CONTROL_CHARS, "")
    risky = pc.match_substring_regex(arr, _FORMULA_START)
    out = pc.if_else(risky, pc.binary_join_element_wise("'", arr, ""), arr)
    return pd.Series(pd.arrays.ArrowExtensionArray(out), index=col.index).astype("string")


# what ``str.lstrip(" \u00a0").startswith(FORMULA_PREFIXES)`` tests, as one RE2 pattern
_FORMULA_START = "^[ \u00a0]*[=+\\-@\t\r\n]"
assert set(FORMULA_PREFIXES) == set("=+-@\t\r\n")
