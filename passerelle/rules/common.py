"""What every check module shares: the check context, the extract column names, and the vectorised
helpers that turn a slice of a canonical table into findings with French messages.

Conventions of the checks:

- a check is a plain function ``check_xxx(...) -> DataFrame`` (findings, ``model.FINDINGS``
  columns) working column-wise on whole tables; Python loops only run over columns, rules or
  *distinct* values (phones, mails, SIRETs), never over rows;
- dates are compared as ``datetime64[s]`` (see :func:`as_datetime`): a null, unreadable or
  placeholder date (LHEO ``00000000``, ``99999999``, month-only ``AAAAMM00``) is NaT, and every
  comparison with NaT is False, so a missing date never raises a finding by itself (the rules
  that require a date, DQ005, say so explicitly) and never crashes a rule;
- a finding carries the lineage of the record it is about, the session key, the field as it is
  named in the extract (each source declares its names, ``Source.field_names``) and the raw value;
- a check never tests a source's name: what differs between sources is a declared parameter
  (``Source.rules``, read per row with :func:`passerelle.sources.registry.rule_flag`).
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from passerelle import model
from passerelle.findings import concat_findings, findings_frame, findings_from_frame
from passerelle.rules.registry import rule as get_rule
from passerelle.sources.text import parse_dates

EMPTY = "(vide)"  # how a missing value is shown inside a French message


@dataclass
class CheckContext:
    """Everything the checks of one run look at."""

    run_date: date
    formations: pd.DataFrame  # model.FORMATIONS (core_formations)
    actions: pd.DataFrame  # model.ACTIONS (may be empty)
    sessions: pd.DataFrame  # model.SESSIONS (core_sessions)
    events: pd.DataFrame  # model.EVENTS
    extract_dates: dict[str, date] = field(default_factory=dict)  # source -> date of the extract read
    known_session_keys: set[str] = field(default_factory=set)  # every session key stored before
    previous: pd.DataFrame | None = None  # last published state (DQ022)
    sources_read: set[str] = field(default_factory=set)  # sources whose session extract was read OK
    grace_days: int = 7  # DQ022: days a vanished session stays published before it is withdrawn

    def __post_init__(self) -> None:
        self.formations = complete(self.formations, model.FORMATIONS)
        self.actions = complete(self.actions, model.ACTIONS)
        self.sessions = complete(self.sessions, model.SESSIONS)
        self.events = complete(self.events, model.EVENTS)
        self.extract_dates = dict(self.extract_dates or {})
        self.known_session_keys = set(self.known_session_keys or ())
        self.sources_read = set(self.sources_read or ())


def complete(df: pd.DataFrame | None, schema: pa.Schema) -> pd.DataFrame:
    """``df`` with every column of ``schema`` (missing ones added as nulls); None -> empty frame."""
    if df is None:
        return model.empty_frame(schema)
    missing = [f for f in schema if f.name not in df.columns]
    if not missing:
        return df
    df = df.copy()
    for f in missing:
        df[f.name] = pd.Series(pa.nulls(len(df), f.type), index=df.index, dtype=pd.ArrowDtype(f.type))
    return df


# --- column names as written in each extract --------------------------------------------------
# Each source declares them next to its reader (``Source.field_names``, passerelle.sources).


def field_name(source: str, canonical: str, table: str = "sessions") -> str:
    """The column name of ``canonical`` in the extract of ``source`` (canonical name if unknown)."""
    from passerelle.sources.registry import field_name as declared

    return declared(source, canonical, table)


def source_field(rows: pd.DataFrame, canonical: str, table: str = "sessions") -> pd.Series:
    """Per row, the extract column name of ``canonical`` for the row's source."""
    from passerelle.sources.registry import per_row

    return per_row(rows["source"], lambda s: s.field_name(canonical, table)).fillna(canonical).astype("string")


# --- values -----------------------------------------------------------------------------------


def flag(mask: pd.Series) -> pd.Series:
    """A nullable boolean Series as plain numpy booleans (null -> False)."""
    if mask.dtype == bool:
        return mask
    return mask.fillna(False).astype(bool)


_PLACEHOLDER_DATE = r"0{8}|9{8}|\d{6}00"


def as_datetime(s: pd.Series) -> pd.Series:
    """Any date-like Series as ``datetime64[s]``; nulls, placeholders and unreadable text -> NaT.

    Accepts Arrow dates/timestamps, numpy datetimes, python dates and text (``YYYYMMDD`` as in
    LHEO, ISO, ``dd/mm/yyyy``, ``dd/mm/yy``). LHEO placeholders (``00000000``, ``99999999``)
    and month-only dates (``AAAAMM00``) are unknown days: NaT.
    """
    dtype = s.dtype
    if isinstance(dtype, pd.ArrowDtype):
        t = dtype.pyarrow_dtype
        if pa.types.is_date(t) or pa.types.is_timestamp(t):
            # cast in Arrow: pandas' astype would walk the values one by one in Python
            arr = pc.cast(s.array._pa_array, pa.timestamp("s"))
            return pd.Series(arr.to_numpy(), index=s.index, dtype="datetime64[s]")
    elif pd.api.types.is_datetime64_any_dtype(dtype):
        return s.astype("datetime64[s]")
    text = s.astype("string").str.strip()
    text = text.mask(flag(text.str.fullmatch(_PLACEHOLDER_DATE)))
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[s]")
    compact = flag(text.str.fullmatch(r"\d{8}"))
    if compact.any():
        out[compact] = pd.to_datetime(text[compact].astype(object), format="%Y%m%d", errors="coerce").astype(
            "datetime64[s]"
        )
    rest = text.notna() & ~compact
    if rest.any():
        parsed, _ = parse_dates(text[rest])
        out[rest] = parsed.astype("datetime64[s]")
    return out


def as_number(s: pd.Series) -> pd.Series:
    """A numeric Series as float64 with NaN for nulls."""
    return pd.to_numeric(s, errors="coerce").astype("float64")


def _strftime(s: pd.Series, fmt: str) -> pd.Series:
    stamps = pa.array(as_datetime(s).to_numpy(), type=pa.timestamp("s"), from_pandas=True)
    return pd.Series(pc.strftime(stamps, format=fmt), index=s.index, dtype=pd.ArrowDtype(pa.string())).astype("string")


def fr_date(s: pd.Series) -> pd.Series:
    """``dd/mm/yyyy`` text of a date Series, ``(vide)`` when unknown."""
    return _strftime(s, "%d/%m/%Y").fillna(EMPTY)


def iso_date(s: pd.Series) -> pd.Series:
    """``yyyy-mm-dd`` text of a date Series, null when unknown."""
    return _strftime(s, "%Y-%m-%d")


def fr_number(s: pd.Series) -> pd.Series:
    """French text of numbers: ``12``, ``35,5``; ``(vide)`` when unknown."""
    x = as_number(s).round(2)
    txt = pd.Series(x, index=s.index).astype("string")
    return txt.str.replace(r"\.0+$", "", regex=True).str.replace(".", ",", regex=False).fillna(EMPTY)


def text(s: pd.Series) -> pd.Series:
    """A Series as pandas strings (nulls kept)."""
    return s.astype("string")


# --- findings ---------------------------------------------------------------------------------

_EMPTY_FINDINGS = findings_frame()
_FORMATTER = string.Formatter()
BASE_COLUMNS = ("source", "source_file", "source_sheet", "source_line", "session_key")


def no_findings() -> pd.DataFrame:
    """An empty findings frame (a copy of a cached one: building it from the schema is slow)."""
    return _EMPTY_FINDINGS.copy()


def combine(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate findings frames, skipping empty ones."""
    frames = [f for f in frames if f is not None and len(f)]
    if not frames:
        return no_findings()
    return frames[0] if len(frames) == 1 else concat_findings(frames)


def pick(df: pd.DataFrame, mask: pd.Series | None, *columns: str) -> pd.DataFrame:
    """The rows of ``df`` where ``mask`` holds (all when None), with only the lineage columns,
    ``session_key`` (when present) and ``columns``: filtering a wide Arrow-backed table column
    by column is what costs, so a check only takes what it needs."""
    cols = [c for c in BASE_COLUMNS if c in df.columns]
    cols += [c for c in dict.fromkeys(columns) if c not in cols]
    if mask is None:
        return df[cols]
    return df.loc[flag(mask).to_numpy(), cols]


def render(template: str, index: pd.Index, **parts: object) -> pd.Series:
    """Format ``template`` once per row: Series parts are aligned on ``index``, nulls show ``(vide)``.

    A key of the template missing from ``parts`` is a programming error (KeyError).
    """
    out = pd.Series("", index=index, dtype="string")
    for literal, name, _spec, _conv in _FORMATTER.parse(template):
        if literal:
            out = out + literal
        if name is None:
            continue
        if name not in parts:
            raise KeyError(f"template key {name!r} not provided: {template!r}")
        part = parts[name]
        if isinstance(part, pd.Series):
            out = out + part.astype("string").fillna(EMPTY)
        else:
            out = out + (EMPTY if part is None else str(part))
    return out


def emit(
    rule_id: str,
    df: pd.DataFrame,
    mask: pd.Series | None = None,
    *,
    field: str | object | None,
    value: object = None,
    variant: str | None = None,
    table: str = "sessions",
    columns: tuple[str, ...] = (),
    **parts: object,
) -> pd.DataFrame:
    """Findings of ``rule_id`` for the rows of ``df`` where ``mask`` holds (every row when None).

    Nothing is computed when no row is selected. The selected rows carry the lineage columns,
    ``session_key`` and ``columns``. ``field`` is a canonical column name (shown as the
    extract's column name of each row's source), ``value`` the raw offending values; ``value``,
    ``field`` (when not a name) and the template ``parts`` are each either a Series aligned on
    ``df`` (masked here), a callable ``f(rows) -> Series`` evaluated on the selected rows only
    (for formatting), or a scalar.
    """
    if mask is not None:
        mask = flag(mask)
        if not mask.any():
            return no_findings()
    elif len(df) == 0:
        return no_findings()
    rows = pick(df, mask, *columns)
    keep = None if mask is None else mask.to_numpy()

    def resolve(x: object) -> Any:
        if callable(x):
            return x(rows)
        if isinstance(x, pd.Series):
            return x if keep is None else x[keep]
        return x

    r = get_rule(rule_id)
    if field is None:
        fld = pd.Series(pd.NA, index=rows.index, dtype="string")
    elif isinstance(field, str):
        fld = source_field(rows, field, table)
    else:
        fld = resolve(field).astype("string")
    val = resolve(value)
    val = None if val is None else pd.Series(val, index=rows.index).astype("string")
    resolved = {k: resolve(v) for k, v in parts.items()}
    msg = render(r.template(variant), rows.index, field=fld, value=val if val is not None else EMPTY, **resolved)
    out = findings_from_frame(rows, rule=r.id, severity=r.severity, message=msg, value=val)
    out["field"] = pd.array(fld.to_numpy(dtype=object, na_value=None), dtype="string")
    return out


def date_of(column: str):
    """Part/value builder: the ``dd/mm/yyyy`` text of ``column`` of the selected rows."""
    return lambda rows: fr_date(rows[column])


def number_of(column: str):
    """Part/value builder: the French text of the number in ``column`` of the selected rows."""
    return lambda rows: fr_number(rows[column])


def text_of(column: str):
    """Part/value builder: the text of ``column`` of the selected rows."""
    return lambda rows: text(rows[column])


def field_of(column: str, table: str = "sessions"):
    """Part builder: the extract's name of ``column`` for each selected row's source."""
    return lambda rows: source_field(rows, column, table)


def lookup(keys: pd.Series, table: pd.DataFrame, key: str, column: str) -> pd.Series:
    """``table[column]`` looked up by ``keys`` in ``table[key]`` (first row per key), aligned on ``keys``."""
    ref = table.drop_duplicates(key).set_index(key)[column]
    out = ref.reindex(keys.to_numpy())
    out.index = keys.index
    return out


def nonempty(s: pd.Series) -> pd.Series:
    """True where the text is present and not blank."""
    return flag(s.astype("string").str.strip().str.len() > 0)


__all__ = [
    "CheckContext",
    "EMPTY",
    "combine",
    "date_of",
    "field_of",
    "no_findings",
    "number_of",
    "pick",
    "text_of",
    "as_datetime",
    "as_number",
    "complete",
    "emit",
    "field_name",
    "flag",
    "fr_date",
    "fr_number",
    "iso_date",
    "lookup",
    "nonempty",
    "render",
    "source_field",
    "text",
]
