"""From what the readers return to the canonical tables of one run.

``build_core`` concatenates the per-source tables, derives the LHEO actions of the sources that
derive them from their sessions (EOS: one per formation, training body and place), fills what a session inherits from its formation, and
casts every table to its exact schema. ``content_hashes`` fingerprints what a consumer sees of
a session (lineage excluded), so that a session whose line moved in the extract is not
"updated".
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from passerelle.findings import concat_findings, findings_frame
from passerelle.model import (
    ACTIONS,
    COG_FIELDS,
    EVENTS,
    FORMATIONS,
    QUARANTINE,
    SESSIONS,
    conform,
    empty_frame,
    to_frame,
)
from passerelle.organisations import fill_sirets_by_name
from passerelle.sources.base import ExtractRead

LINEAGE = ["source", "source_file", "source_sheet", "source_line"]
# Derived from hashed fields (postcode, city, INSEE code) and the COG table: not hashed, so that
# the stored hashes stay valid (adding them did not announce every session as modified).
DERIVED = [f.name for f in COG_FIELDS]

# --- what a content hash covers: an explicit, versioned list ----------------------------------
# The content hash of a session is stored and compared from one day to the next (the delta
# announces a session "modified" when it changes). It covers exactly these fields, in this
# order: adding a column to the model does not change any hash; adding a field here does, for
# every session of the catalogue, so it is a new version (bump CONTENT_HASH_VERSION, say in
# the README what it covers and that the first run after it announces every session modified).
#
# Version 1 (issue 16): every session and event column of the model as of issue 15, lineage
# (source, file, sheet, line) and the COG-derived columns excluded: the hashes the store holds.
CONTENT_HASH_VERSION = 1
SESSION_HASH_FIELDS: tuple[str, ...] = (
    "session_key",
    "action_key",
    "formation_key",
    "source_session_id",
    "session_number",
    "marche_numero",
    "dossier",
    "lot",
    "action_number",
    "composante_number",
    "purchase_order",
    "obligation",
    "programme",
    "title",
    "organisme_formateur",
    "siret_formateur",
    "site",
    "address_line",
    "address_complement",
    "postcode",
    "city",
    "insee_code",
    "place_label",
    "start_date",
    "end_date",
    "prescription_start",
    "prescription_end",
    "parent_period_start",
    "parent_period_end",
    "lot_end",
    "entry_mode",
    "places",
    "places_min",
    "places_region",
    "places_pole_emploi",
    "trainees",
    "hours_centre_avg",
    "hours_company_avg",
    "hours_centre_total",
    "hours_company_total",
    "workflow_state",
    "workflow_publishable",
    "cancelled",
    "state_date",
    "recruitment_state",
    "contact_name",
    "contact_phone",
    "contact_email",
    "offer_info_code",
    "financer",
)
EVENT_HASH_FIELDS: tuple[str, ...] = (
    "event_key",
    "session_key",
    "event_type",
    "is_information_collective",
    "start_date",
    "end_date",
    "start_time",
    "end_time",
    "places",
    "cancelled",
    "address_line",
    "postcode",
    "city",
    "description",
)


@dataclass
class CoreTables:
    formations: pd.DataFrame
    actions: pd.DataFrame
    sessions: pd.DataFrame
    events: pd.DataFrame
    quarantine: pd.DataFrame
    reader_findings: pd.DataFrame = field(default_factory=findings_frame)


def _typed(frames: list[pd.DataFrame], schema) -> pd.DataFrame:
    frames = [f for f in frames if f is not None and len(f)]
    if not frames:
        return empty_frame(schema)
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    return to_frame(conform(df, schema))


def derive_actions(sessions: pd.DataFrame) -> pd.DataFrame:
    """One LHEO action per ``action_key`` (formation × training body × place) of the sessions
    of the sources that derive their actions from their sessions (EOS: ``derives_actions``)."""
    from passerelle.sources.registry import per_row

    derived = sessions[per_row(sessions["source"], lambda s: s.derives_actions).fillna(False).astype(bool)]
    if derived.empty:
        return empty_frame(ACTIONS)
    first = derived.sort_values(["action_key", "source_line"], kind="stable").drop_duplicates("action_key")
    cols = [
        "action_key",
        "formation_key",
        *LINEAGE,
        "organisme_formateur",
        "siret_formateur",
        "address_line",
        "postcode",
        "city",
        "insee_code",
        *DERIVED,
        "entry_mode",
    ]
    return first[cols].reset_index(drop=True)


def enrich_addresses(*frames: pd.DataFrame) -> tuple[pd.DataFrame, ...] | pd.DataFrame:
    """Each frame with the commune of each address from the Code officiel géographique
    (:func:`passerelle.reference.cog.resolve_addresses` on postcode, city and, when the table
    has one, the given INSEE code): ``commune_code``, ``departement``, ``region``, ``country``
    (null when the commune cannot be told without guessing; rule DQ026 says why) and
    ``address_status`` (the reference's answer). The frames are resolved together, each
    distinct address once. One frame in, one frame out."""
    from passerelle.reference.cog import resolve_addresses

    sizes = [len(df) for df in frames]
    if sum(sizes):

        def column(df: pd.DataFrame, name: str) -> pd.Series:
            if name in df and len(df):
                return df[name].astype("string").reset_index(drop=True)
            return pd.Series(pd.NA, index=pd.RangeIndex(len(df)), dtype="string")

        found = resolve_addresses(
            *(
                pd.concat([column(df, c) for df in frames], ignore_index=True)
                for c in ("postcode", "city", "insee_code")
            )
        )
    out = []
    start = 0
    for df, n in zip(frames, sizes, strict=True):
        if not n:
            out.append(df)
            continue
        part = found.iloc[start : start + n]
        start += n
        df = df.copy()
        for col, src in (
            ("commune_code", "insee_code"),
            ("departement", "departement"),
            ("region", "region"),
            ("country", "country"),
            ("address_status", "status"),
        ):
            df[col] = pd.Series(
                pa.array(part[src].to_numpy(dtype=object, na_value=None), pa.string()),
                index=df.index,
                dtype=pd.ArrowDtype(pa.string()),
            )
        out.append(df)
    return out[0] if len(out) == 1 else tuple(out)


def build_core(reads: list[ExtractRead]) -> CoreTables:
    def tables(name: str) -> list[pd.DataFrame]:
        return [r.tables[name] for r in reads if name in r.tables]

    formations = _typed(tables("formations"), FORMATIONS)
    sessions, events, read_actions = enrich_addresses(
        _typed(tables("sessions"), SESSIONS), _typed(tables("events"), EVENTS), _typed(tables("actions"), ACTIONS)
    )
    if len(sessions):
        # a body named without a SIRET (SIGMA Lieu that is not the titulaire) gets the SIRET
        # its name carries elsewhere in the day's extracts, when exactly one does
        sessions["siret_formateur"] = fill_sirets_by_name(sessions, formations)
    actions = _typed([read_actions, derive_actions(sessions)], ACTIONS)
    quarantine = _typed([r.quarantine for r in reads], QUARANTINE)

    if len(sessions) and len(formations):
        # A session inherits the formation's title and programme when it has none of its own.
        ref = formations.set_index("formation_key")[["title", "programme"]]
        ref = ref[~ref.index.duplicated()]
        inherited = ref.reindex(sessions["formation_key"])
        for col in ("title", "programme"):
            sessions[col] = sessions[col].fillna(pd.Series(inherited[col].to_numpy(), index=sessions.index))

    sessions = sessions.sort_values("session_key", kind="stable").reset_index(drop=True)
    events = events.sort_values("event_key", kind="stable").reset_index(drop=True)
    formations = formations.sort_values("formation_key", kind="stable").reset_index(drop=True)
    actions = actions.sort_values("action_key", kind="stable").reset_index(drop=True)
    findings = concat_findings([r.findings for r in reads])
    return CoreTables(formations, actions, sessions, events, quarantine, findings)


# --- fingerprints -----------------------------------------------------------------------------

_SEP = "\x1f"


def _row_strings(df: pd.DataFrame, columns: list[str]) -> pa.ChunkedArray:
    """One string per row joining ``columns`` (nulls as ``\x00``), vectorised."""
    if df.empty:
        return pa.chunked_array([], pa.string())
    return pc.binary_join_element_wise(*[_column_strings(df[c]) for c in columns], _SEP)


def _column_strings(s: pd.Series) -> pa.ChunkedArray:
    """``s.astype("string").fillna("\x00")`` as an Arrow string array, computed by Arrow: the
    same text pandas gives (ints, ISO dates, ``True``/``False``, Python's ``repr`` of floats)."""
    dtype = s.dtype
    arr = None
    if isinstance(dtype, pd.ArrowDtype):
        arr = s.array.__arrow_array__()
    elif isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        arr = s.array.__arrow_array__()
    if arr is not None:
        if isinstance(arr, pa.Array):
            arr = pa.chunked_array([arr], arr.type)
        t = arr.type
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            out = arr.cast(pa.string())
        elif pa.types.is_integer(t) or pa.types.is_date32(t):
            out = pc.cast(arr, pa.string())
        elif pa.types.is_boolean(t):
            out = pc.if_else(arr, "True", "False")
        elif pa.types.is_floating(t):
            values = pc.unique(arr)
            text = pa.array([None if v is None else repr(float(v)) for v in values.to_pylist()], pa.string())
            out = pc.take(text, pc.index_in(arr, value_set=values))
        else:
            out = None
        if out is not None:
            return pc.fill_null(out, "\x00")
    values = s.astype("string").fillna("\x00").to_numpy(dtype=object)
    return pa.chunked_array([pa.array(values, pa.string())])


def _sha256(strings: pa.ChunkedArray) -> list[str]:
    return [hashlib.sha256(s.encode("utf-8")).hexdigest() for s in strings.to_pylist()]


def content_hashes(sessions: pd.DataFrame, events: pd.DataFrame) -> pd.Series:
    """sha256 of each session's content and its events: the fields of
    :data:`SESSION_HASH_FIELDS` and :data:`EVENT_HASH_FIELDS` (version
    :data:`CONTENT_HASH_VERSION`), whatever other columns the frames have.

    The text of a session is those fields joined by ``\x1f``, then, when the day has events,
    ``\x1d`` and the text of its events (by event key) joined by ``\x1e``. Built with Arrow
    kernels, :data:`HASH_CHUNK` sessions at a time (a national catalogue as one string column
    is another gigabyte); the hashes do not depend on the chunking.
    """
    s_cols = list(SESSION_HASH_FIELDS)
    e_cols = list(EVENT_HASH_FIELDS)
    per_session = None
    if len(events):
        ev = events.sort_values(["session_key", "event_key"], kind="stable")
        ev_str = _row_strings(ev, e_cols).combine_chunks()
        keys = pa.array(ev["session_key"], from_pandas=True)
        runs = pc.run_end_encode(keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys)
        offsets = np.concatenate([[0], runs.run_ends.to_numpy().astype(np.int64)])
        joined = pc.binary_join(pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), ev_str), "\x1e")
        per_session = (runs.values, joined)
    hashes: list[str] = []
    for start in range(0, len(sessions), HASH_CHUNK):
        part = sessions.iloc[start : start + HASH_CHUNK]
        text = _row_strings(part, s_cols)
        if per_session is not None:
            keys, joined = per_session
            where = pc.index_in(pa.array(part["session_key"], from_pandas=True), value_set=keys)
            text = pc.binary_join_element_wise(text, pc.fill_null(pc.take(joined, where), ""), "\x1d")
        hashes.extend(_sha256(text))
    return pd.Series(hashes, index=sessions.index, dtype="string")


HASH_CHUNK = 65_536
