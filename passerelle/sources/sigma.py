"""SIGMA reader: the Région Occitanie workbook ``sigma_actions_<YYYYMMDD>.xlsx``.

One workbook, four sheets (``sources.md`` section 3), each with its header on row 1:

- ``Actions``                  -> ``formations`` (key ``sigma:<N° Action>``)
- ``Composantes``              -> ``actions``    (key ``sigma:<N° Action>:<N°>``)
- ``Sessions``                 -> ``sessions``   (key ``sigma:<N° Action>:<Composante>:<Num. de session>``)
- ``Informations collectives`` -> ``events``     (key ``<session_key>:ic:<YYYYMMDD|nodate>:<HHMM|notime>``)

The workbook is read with python-calamine, which hands back Python values per cell: ``str``
for text, ``float`` for numbers, ``date``/``datetime`` for real Excel dates, ``time`` for
time cells, ``""`` for empty cells. Cells are normalised column by column (a type pass, then
vectorised parsing of each type), never by position: columns are matched on their header.

Conventions of this reader (where the contract is silent):

- Identifiers stay text. A number cell in an identifier column loses its ``.0`` and gets back
  the leading zeros Excel dropped: composante ``N°`` / ``Num. de session`` -> 2 digits
  (``1`` -> ``01``, also for the text ``1`` so that keys agree across sheets), postcode -> 5,
  SIRET -> 14, NDA -> 11, Formacode -> 5, phone of 9 digits -> leading ``0``.
- Dates: real Excel dates are taken as they are, text goes through ``text.parse_dates``, a
  plain number in a date column is read as an Excel serial day when it falls between 1990
  and 2100 (a date cell that lost its format), anything else is an unreadable date.
- Hours: text goes through ``text.parse_hours``; an Excel time cell, a datetime (its time),
  a fraction of a day (``0.4166`` -> ``10:00``) and a number ``14`` / ``14.3`` (typed ``14.30``
  and stored as a number) are accepted.
- A sheet that is missing, unreadable or lacks an essential column is reported (DQ000 error)
  and the extract is flagged ``ok=False``; the other sheets are still read. The rows of a
  sheet rejected for a missing column all go to quarantine (one finding on the sheet).
- Row conservation per sheet: ``rows_read[sheet]`` = rows of that sheet in its table + rows
  of that sheet in quarantine. Trailing completely empty rows are not data rows; an empty row
  in the middle of a sheet is quarantined (no key).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from passerelle import model
from passerelle.findings import FindingCollector, concat_findings, findings_from_frame
from passerelle.organisations import normalise_names
from passerelle.sources import tabular, text
from passerelle.sources.base import ExtractRead, extract_date_of, formacode_version
from passerelle.sources.spec import ExtractKind, RuleParameters, Source

log = logging.getLogger(__name__)

SOURCE = "sigma"
KIND = "actions"

SHEET_ACTIONS = "Actions"
SHEET_COMPOSANTES = "Composantes"
SHEET_SESSIONS = "Sessions"
SHEET_EVENTS = "Informations collectives"

EVENT_TYPE_IC = "Information Collective"


# --- sheet contracts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    header: str  # as written in the contract (sources.md)
    name: str  # internal name
    essential: bool = False  # missing -> the sheet is rejected


@dataclass(frozen=True)
class SheetSpec:
    name: str
    kind: str  # quarantine kind: formation | action | session | event
    table: str  # ExtractRead.tables key
    columns: tuple[Column, ...]


ACTIONS_SPEC = SheetSpec(
    SHEET_ACTIONS,
    "formation",
    "formations",
    (
        Column("N° Contrat/Conv.", "contract"),
        Column("N° Action", "action", True),
        Column("Intitulé de l'action", "title"),
        Column("Statut", "status"),
        Column("Année", "year"),
        Column("Date de début réelle", "start"),
        Column("Date de fin prévue", "end"),
        Column("Titulaire/Mandataire", "holder"),
        Column("SIRET titulaire", "siret"),
        Column("NDA titulaire", "nda"),
        Column("Dispositif", "dispositif"),
        Column("Programme", "programme"),
        Column("Formacode", "formacode"),
        Column("Code ROME", "rome"),
    ),
)

COMPOSANTES_SPEC = SheetSpec(
    SHEET_COMPOSANTES,
    "action",
    "actions",
    (
        Column("N° Action", "action", True),
        Column("N°", "comp", True),
        Column("Composante", "label"),
        Column("Date début", "start", True),
        Column("Date fin", "end", True),
        Column("Ville", "city"),
        Column("Code postal", "postcode"),
        Column("Effectif", "places"),
        Column("Volume moyen hc", "hours_centre"),
        Column("Volume moyen he", "hours_company"),
        Column("Modalité entrées", "entry_mode"),
    ),
)

SESSIONS_SPEC = SheetSpec(
    SHEET_SESSIONS,
    "session",
    "sessions",
    (
        Column("N° Action", "action", True),
        Column("Composante", "comp", True),
        Column("Num. de session", "num", True),
        Column("Date début", "start", True),
        Column("Date fin", "end", True),
        Column("Lieu de la session", "lieu"),
        Column("Nb. de places", "places", True),  # 0 = cancelled: never guess it away
        Column("Code Offre Info", "offer_info"),
        Column("Statut", "status", True),  # decides publication
        Column("Contact nom", "contact_name"),
        Column("Contact tél", "contact_phone"),
        Column("Contact mail", "contact_email"),
    ),
)

EVENTS_SPEC = SheetSpec(
    SHEET_EVENTS,
    "event",
    "events",
    (
        Column("N° Action", "action", True),
        Column("Composante", "comp", True),
        Column("Num. de session", "num", True),
        Column("Date", "date", True),
        Column("Heure de début", "start_time"),
        Column("Heure de fin", "end_time"),
        Column("Nb. de places", "places", True),  # 0 = cancelled
        Column("Commentaire", "comment"),
        Column("N° de voie", "street_number"),
        Column("Extension voie", "street_ext"),
        Column("Type de voie", "street_type"),
        Column("Libellé de la voie", "street_name"),
        Column("Code postal", "postcode"),
        Column("Ville", "city"),
    ),
)

SPECS = (ACTIONS_SPEC, COMPOSANTES_SPEC, SESSIONS_SPEC, EVENTS_SPEC)

_SCHEMAS = {
    "formations": model.FORMATIONS,
    "actions": model.ACTIONS,
    "sessions": model.SESSIONS,
    "events": model.EVENTS,
}


_norm = tabular.norm  # one normalisation for every tabular source


WORKFLOW_STATES = {_norm(s): s for s in ("Validée", "En attente d'émission")}
ENTRY_MODES = {
    _norm("Dates fixes"): model.ENTRY_FIXED,
    _norm("Entrées/sorties fixes"): model.ENTRY_FIXED,
    _norm("Entrées/sorties permanentes"): model.ENTRY_PERMANENT,
}
STATUSES = {"EC", "SO", "AN"}


# --- entry point ----------------------------------------------------------------------------------


def read_workbook(path: Path | None, extract_date: _dt.date | None = None) -> ExtractRead:
    """Read one SIGMA workbook. Never raises on bad input (see the module docstring).

    ``extract_date`` is accepted for the common reader signature; the extract date recorded is
    the one in the file name.
    """
    if path is None:
        return ExtractRead(SOURCE, KIND, None, tables=_empty_tables())
    path = Path(path)
    name = path.name
    res = ExtractRead(SOURCE, KIND, name, extract_date=extract_date_of(path), tables=_empty_tables())
    fc = FindingCollector(SOURCE, name)

    def file_error(detail: str) -> ExtractRead:
        fc.add("DQ000", "error", f"Fichier « {name} » : {detail}", field=None, value=None)
        res.ok = False
        res.findings = fc.frame()
        return res

    try:
        data = path.read_bytes()
    except OSError as exc:
        return file_error(f"impossible de lire le fichier ({exc.strerror or exc}).")
    res.sha256 = hashlib.sha256(data).hexdigest()
    if not data.startswith(b"PK\x03\x04"):
        return file_error(
            "ce n'est pas un classeur Excel .xlsx (le fichier n'est pas une archive zip). "
            "Renvoyer l'extrait SIGMA enregistré au format .xlsx."
        )
    try:
        wb = _open_workbook(data)
    except Exception as exc:  # noqa: BLE001 - any failure of the library is a file failure
        return file_error(
            f"classeur .xlsx tronqué ou endommagé, illisible ({type(exc).__name__}: {exc}). "
            "Renvoyer un extrait complet."
        )

    try:
        _read_sheets(wb, res, fc)
    except Exception as exc:  # noqa: BLE001 - safety net: an unforeseen cell never crashes the run
        res.rows_read = {}
        res.tables = _empty_tables()
        res.quarantine = model.empty_frame(model.QUARANTINE)
        log.exception("SIGMA reader failed on %s", name)
        return file_error(
            f"erreur inattendue à la lecture du classeur ({type(exc).__name__}: {exc}). "
            "Aucune ligne n'est reprise ; signaler le fichier à l'équipe Passerelle."
        )
    finally:
        try:
            wb.close()
        except Exception:  # noqa: BLE001
            pass
    return res


def _read_sheets(wb, res: ExtractRead, fc: FindingCollector) -> None:
    name = str(res.file)
    sheets: dict[str, _Sheet] = {}
    for spec in SPECS:
        sh = _load_sheet(wb, spec, fc)
        if sh is None:
            res.ok = False
            continue
        if sh.rejected:
            res.ok = False
        sheets[spec.name] = sh
        res.rows_read[spec.name] = len(sh.data)

    quarantines: list[pd.DataFrame] = []
    findings: list[pd.DataFrame] = []

    formations = _empty_frame("formations")
    if SHEET_ACTIONS in sheets:
        formations, q, f = _read_formations(sheets[SHEET_ACTIONS], name)
        quarantines.append(q)
        findings.append(f)
    actions = _empty_frame("actions")
    if SHEET_COMPOSANTES in sheets:
        actions, q, f = _read_actions(sheets[SHEET_COMPOSANTES], name)
        quarantines.append(q)
        findings.append(f)
    sessions = _empty_frame("sessions")
    if SHEET_SESSIONS in sheets:
        sessions, q, f = _read_sessions(sheets[SHEET_SESSIONS], name, formations, actions)
        quarantines.append(q)
        findings.append(f)
    events = _empty_frame("events")
    if SHEET_EVENTS in sheets:
        events, q, f = _read_events(sheets[SHEET_EVENTS], name)
        quarantines.append(q)
        findings.append(f)

    res.tables = {"formations": formations, "actions": actions, "sessions": sessions, "events": events}
    quarantines = [q for q in quarantines if len(q)]
    if quarantines:
        res.quarantine = model.to_frame(model.conform(pd.concat(quarantines, ignore_index=True), model.QUARANTINE))
    res.findings = concat_findings([fc.frame(), *findings])


def _open_workbook(data: bytes):
    from python_calamine import CalamineWorkbook

    try:
        return CalamineWorkbook.from_filelike(io.BytesIO(data))
    except BaseException as exc:  # pyo3 panics derive from BaseException
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise
        if isinstance(exc, Exception):
            raise
        raise RuntimeError(str(exc)) from None


# --- sheets -------------------------------------------------------------------------------------


@dataclass
class _Sheet:
    spec: SheetSpec
    name: str  # as found in the workbook
    headers: list[str]  # raw headers of the data columns kept in ``data`` (for quarantine JSON)
    data: pd.DataFrame  # object columns, one per raw header (positional), index 0..n-1
    lines: np.ndarray  # sheet row of each data row (header = 1)
    cols: dict[str, pd.Series] = field(default_factory=dict)  # internal name -> object Series
    rejected: str | None = None  # French reason when the sheet is rejected

    def __len__(self) -> int:
        return len(self.data)


def _load_sheet(wb, spec: SheetSpec, fc: FindingCollector) -> _Sheet | None:
    names = list(wb.sheet_names)
    found = spec.name if spec.name in names else next((n for n in names if _norm(n) == _norm(spec.name)), None)
    if found is None:
        fc.add(
            "DQ000",
            "error",
            f"Feuille « {spec.name} » absente du classeur (feuilles trouvées : {', '.join(names) or 'aucune'}). "
            f"Ajouter la feuille « {spec.name} » à l'extrait SIGMA.",
            sheet=spec.name,
            field=spec.name,
        )
        return None
    try:
        rows = wb.get_sheet_by_name(found).to_python(skip_empty_area=False)
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise
        if "entity" in str(exc).lower():  # a DOCTYPE / ENTITY planted in the sheet: never expanded
            detail = (
                "elle contient une entité XML (déclaration DOCTYPE / ENTITY), refusée par sécurité et non "
                "développée ; aucune ligne de la feuille n'est lue"
            )
        else:
            detail = f"{type(exc).__name__}: {exc}"
        fc.add(
            "DQ000",
            "error",
            f"Feuille « {spec.name} » illisible ({detail}). Renvoyer un extrait complet.",
            sheet=spec.name,
            field=spec.name,
        )
        return None

    # trailing completely empty rows are not data
    end = len(rows)
    while end > 0 and all(_blank(v) for v in rows[end - 1]):
        end -= 1
    rows = rows[:end]
    header_row = [("" if _blank(v) else str(v).strip()) for v in (rows[0] if rows else [])]
    body = rows[1:]
    width = len(header_row)
    data = (
        pd.DataFrame(body, columns=range(width), dtype=object)
        if body
        else pd.DataFrame({i: pd.Series([], dtype=object) for i in range(width)})
    )
    lines = np.arange(2, len(body) + 2, dtype=np.int32)
    sh = _Sheet(spec, found, header_row, data, lines)
    if not any(header_row):
        sh.rejected = f"Feuille « {spec.name} » rejetée : elle est vide ou n'a pas de ligne d'en-tête en ligne 1."
        fc.add(
            "DQ000",
            "error",
            sh.rejected + f" {len(data)} ligne(s) non reprise(s) ; renvoyer l'extrait avec les en-têtes de colonnes.",
            line=1,
            sheet=spec.name,
            field=spec.name,
        )
        sh.cols = {col.name: pd.Series([""] * len(data), index=data.index, dtype=object) for col in spec.columns}
        return sh

    # match columns on their header: exact (trimmed), else case/accent/space-insensitive; a
    # column named twice: the first is read, the other reported below
    normed = [_norm(h) if h else "" for h in header_row]
    used: set[int] = set()
    missing_essential: list[str] = []
    empty = pd.Series([""] * len(data), index=data.index, dtype=object)
    for col in spec.columns:
        i = next((c for c in tabular.header_candidates(header_row, col.header, normed) if c not in used), None)
        if i is None:
            sh.cols[col.name] = empty
            if col.essential:
                missing_essential.append(col.header)
            else:
                fc.add(
                    "DQ000",
                    "warning",
                    f"Colonne « {col.header} » absente de la feuille « {spec.name} » : elle est traitée comme vide. "
                    "Ajouter la colonne à l'extrait SIGMA.",
                    line=1,
                    sheet=spec.name,
                    field=col.header,
                )
            continue
        used.add(i)
        sh.cols[col.name] = data[i]
    # unknown extra columns (info); empty headers: silent when the column is empty too
    for i, h in enumerate(header_row):
        if i in used:
            continue
        if h:
            twice = any(_norm(h) == _norm(col.header) for col in spec.columns)
            what = "en double" if twice else "inconnue"
            fc.add(
                "DQ000",
                "info",
                f"Colonne « {h} » {what} dans la feuille « {spec.name} » : ses valeurs sont ignorées.",
                line=1,
                sheet=spec.name,
                field=h,
            )
        elif not data[i].map(_blank).all():
            letter = _column_letter(i)
            fc.add(
                "DQ000",
                "info",
                f"Colonne {letter} sans en-tête dans la feuille « {spec.name} » : ses valeurs sont ignorées.",
                line=1,
                sheet=spec.name,
                field=f"colonne {letter}",
            )
    if missing_essential:
        cols = ", ".join(f"« {c} »" for c in missing_essential)
        sh.rejected = (
            f"Feuille « {spec.name} » rejetée : colonne(s) obligatoire(s) {cols} absente(s) de la ligne d'en-tête."
        )
        fc.add(
            "DQ000",
            "error",
            sh.rejected + f" Aucune des {len(data)} ligne(s) de la feuille n'est reprise ; "
            "ajouter la ou les colonnes et renvoyer l'extrait.",
            line=1,
            sheet=spec.name,
            field=", ".join(missing_essential),
        )
    return sh


def _blank(v) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _column_letter(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


# --- cell conversion (one column at a time) ---------------------------------------------------


_KINDS = ["str", "float", "bool", "date", "datetime", "time", "timedelta", "other"]
# None (never produced by calamine for a cell, but cheap to accept) counts as empty text.
_TYPE_KIND = {
    str: "str",
    type(None): "str",
    float: "float",
    int: "float",
    bool: "bool",
    _dt.date: "date",
    _dt.datetime: "datetime",
    _dt.time: "time",
    _dt.timedelta: "timedelta",
}
_FAST_KIND = {"string": "str", "empty": "str", "floating": "float", "integer": "float", "mixed-integer-float": "float"}


def _kinds(s: pd.Series) -> pd.Series:
    """The Python type of each cell as a categorical (str, float, bool, date, datetime, time...).

    A homogeneous column (the usual case) is recognised in one C-level scan.
    """
    fast = _FAST_KIND.get(pd.api.types.infer_dtype(s, skipna=False))
    if fast is not None:
        codes = np.full(len(s), _KINDS.index(fast), dtype=np.int8)
    else:
        names = s.map(lambda v: _TYPE_KIND.get(type(v), "other"))
        codes = pd.Categorical(names, categories=_KINDS).codes
    return pd.Series(pd.Categorical.from_codes(codes, categories=_KINDS), index=s.index)


def _text(s: pd.Series, pad: int = 0, pad_text: bool = False, digits: bool = False) -> pd.Series:
    """Cells as stripped text (``string`` dtype, null when empty).

    ``pad``: zero-pad whole numbers entered as number cells to that width (Excel drops leading
    zeros); with ``pad_text`` also digit-only text shorter than ``pad``. ``digits``: remove the
    spaces, dots and dashes people put inside identifiers.
    """
    k = _kinds(s)
    if (k == "str").all():
        out = s.astype("string")
    else:
        out = _text_mixed(s, k, pad)
    out = text.clean_text(out)
    if digits:
        out = text.digits_only(out)
        out = out.mask(out == "")
    if pad and pad_text:
        short = out.str.fullmatch(r"\d+").fillna(False).astype(bool) & (out.str.len() < pad).fillna(False).astype(bool)
        if short.any():
            out[short] = out[short].str.zfill(pad)
    return out


def _text_mixed(s: pd.Series, k: pd.Series, pad: int) -> pd.Series:
    out = pd.Series(pd.NA, index=s.index, dtype="string")
    m = k == "str"
    if m.any():
        out[m] = s[m].astype("string")
    m = k == "float"
    if m.any():
        v = s[m].astype("float64")
        integral = (v % 1 == 0) & (v.abs() < 1e15)
        txt = pd.Series(pd.NA, index=v.index, dtype="string")
        if integral.any():
            ints = v[integral].astype("int64").astype("string")
            txt[integral] = ints.str.zfill(pad) if pad else ints
        if (~integral).any():
            txt[~integral] = v[~integral].map(repr).astype("string")
        out[m] = txt
    m = k == "bool"
    if m.any():
        out[m] = s[m].map({True: "VRAI", False: "FAUX"}).astype("string")
    m = k == "date"
    if m.any():
        out[m] = s[m].map(lambda d: d.strftime("%d/%m/%Y")).astype("string")
    m = k == "datetime"
    if m.any():
        out[m] = (
            s[m]
            .map(lambda d: d.strftime("%d/%m/%Y") if d.time() == _dt.time(0) else d.strftime("%d/%m/%Y %H:%M"))
            .astype("string")
        )
    m = k == "time"
    if m.any():
        out[m] = s[m].map(lambda t: t.strftime("%H:%M")).astype("string")
    m = k.isin(["timedelta", "other"])
    if m.any():
        out[m] = s[m].map(str).astype("string")
    return out


_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
_SERIAL_MIN = 32874  # 1990-01-01
_SERIAL_MAX = 73051  # 2100-01-01


def _date(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Real Excel dates, text ``dd/mm/yyyy`` (and the other forms of ``text.parse_dates``)."""
    k = _kinds(s)
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[s]")
    invalid = pd.Series(False, index=s.index)
    m = k.isin(["date", "datetime"])
    if m.any():
        out[m] = pd.DatetimeIndex(pd.to_datetime(s[m].to_numpy(dtype=object))).normalize().astype("datetime64[s]")
    m = k == "str"
    if m.any():
        vals, inv = text.parse_dates(s[m].astype("string"))
        ok = vals.notna()
        if ok.any():
            out[ok[ok].index] = pd.to_datetime(vals[ok].astype(object)).astype("datetime64[s]").values
        invalid[m] = inv.values
    m = k == "float"
    if m.any():
        v = s[m].astype("float64")
        good = (v >= _SERIAL_MIN) & (v < _SERIAL_MAX)
        if good.any():
            out[good[good].index] = (
                (_EXCEL_EPOCH + pd.to_timedelta(np.floor(v[good]), unit="D")).astype("datetime64[s]").values
            )
        invalid[m] = (~good).values
    m = k.isin(["bool", "time", "timedelta", "other"])
    if m.any():
        invalid[m] = True
    return text.to_date32(out), invalid.astype(bool)


def _hour(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Hours as ``HH:MM``: text ``10:00`` / ``10.00`` / ``10 : 00`` / ``10h``, time cells, numbers."""
    k = _kinds(s)
    out = pd.Series(pd.NA, index=s.index, dtype="string")
    invalid = pd.Series(False, index=s.index)
    as_text = pd.Series(pd.NA, index=s.index, dtype="string")
    m = k == "str"
    if m.any():
        as_text[m] = s[m].astype("string")
    m = k.isin(["time", "datetime"])
    if m.any():
        out[m] = s[m].map(lambda t: t.strftime("%H:%M")).astype("string")
    m = k == "timedelta"
    if m.any():
        secs = s[m].map(lambda d: d.total_seconds()).astype("float64")
        good = (secs >= 0) & (secs < 86400)
        mins = (secs[good] // 60).astype("int64")
        out[good[good].index] = ((mins // 60).map("{:02d}".format) + ":" + (mins % 60).map("{:02d}".format)).astype(
            "string"
        )
        invalid[m] = (~good).values
    m = k == "float"
    if m.any():
        v = s[m].astype("float64")
        frac = (v >= 0) & (v < 1)  # fraction of a day
        if frac.any():
            mins = (v[frac] * 1440).round().astype("int64")
            ok = mins < 1440
            hh = (mins // 60).map("{:02d}".format)
            mm = (mins % 60).map("{:02d}".format)
            out[frac[frac].index[ok.values]] = (hh + ":" + mm)[ok].astype("string")
            invalid[frac[frac].index[~ok.values]] = True
        num = (v >= 1) & (v < 24)  # 14 / 14.3 typed as 14.00 / 14.30
        if num.any():
            as_text[num[num].index] = v[num].map("{:.2f}".format).astype("string")
        bad = ~(frac | num)
        invalid[bad[bad].index] = True
    parsed, inv = text.parse_hours(as_text)
    have = as_text.notna()
    out[have] = parsed[have]
    invalid = invalid | inv
    m = k.isin(["bool", "date", "other"])
    invalid[m] = True
    return out, invalid.astype(bool)


def _int(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    k = _kinds(s)
    out = pd.Series(pd.NA, index=s.index, dtype="Int32")
    invalid = pd.Series(False, index=s.index)
    m = k == "str"
    if m.any():
        vals, inv = text.parse_int(s[m].astype("string"))
        out[m] = vals.values
        invalid[m] = inv.values
    m = k == "float"
    if m.any():
        v = s[m].astype("float64")
        good = (v % 1 == 0) & (v.abs() < 2**31)
        out[good[good].index] = v[good].astype("int64").astype("Int32").values
        invalid[m] = (~good).values
    m = ~k.isin(["str", "float"])
    invalid[m] = True
    return out, invalid.astype(bool)


def _decimal(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    k = _kinds(s)
    out = pd.Series(pd.NA, index=s.index, dtype="Float64")
    invalid = pd.Series(False, index=s.index)
    m = k == "str"
    if m.any():
        vals, inv = text.parse_decimal(s[m].astype("string"))
        out[m] = vals.values
        invalid[m] = inv.values
    m = k == "float"
    if m.any():
        out[m] = s[m].astype("float64").values
    m = ~k.isin(["str", "float"])
    invalid[m] = True
    return out, invalid.astype(bool)


def _enum(values: pd.Series, mapping: dict[str, str]) -> tuple[pd.Series, pd.Series]:
    """Map text onto canonical values via ``_norm``; unknown non-empty text is invalid."""
    codes, uniques = pd.factorize(values)  # normalise each distinct value once
    canon = np.array([mapping.get(_norm(u)) for u in uniques] + [None], dtype=object)
    out = pd.Series(canon[codes], index=values.index, dtype="string")  # code -1 (null) -> None
    invalid = (values.notna() & out.isna()).fillna(False).astype(bool)
    return out, invalid


# --- shared building blocks ---------------------------------------------------------------------


class _Cells:
    """Findings for unreadable cells of the kept rows of one sheet."""

    def __init__(self, sh: _Sheet, file: str, keep: pd.Series, session_key: pd.Series | None = None):
        self.sh = sh
        self.file = file
        self.keep = keep
        self.session_key = session_key
        self.frames: list[pd.DataFrame] = []

    def header(self, name: str) -> str:
        return next(c.header for c in self.sh.spec.columns if c.name == name)

    def raw(self, name: str) -> pd.Series:
        return self.sh.cols[name][self.keep]

    def report(
        self,
        name: str,
        invalid: pd.Series,
        what: str,
        raw: pd.Series | None = None,
        severity: str = "error",
        header: str | None = None,
        tail: str = "La valeur est ignorée ; la corriger dans SIGMA.",
    ) -> None:
        """``what``: French sentence end, e.g. ``date illisible`` ; the message names sheet, line, column, value."""
        invalid = invalid.fillna(False).astype(bool)
        if not invalid.any():
            return
        header = header or self.header(name)
        idx = invalid[invalid].index
        raw_text = (raw if raw is not None else _text(self.raw(name)))[idx]
        rows = pd.DataFrame(
            {
                "source": SOURCE,
                "source_file": self.file,
                "source_sheet": self.sh.spec.name,
                "source_line": pd.Series(self.sh.lines, dtype="int32")[idx].values,
                "session_key": (self.session_key[idx].values if self.session_key is not None else None),
            },
            index=idx,
        )
        msg = (
            f"Feuille « {self.sh.spec.name} », ligne "
            + rows["source_line"].astype("string")
            + f", colonne « {header} » : {what} (« "
            + raw_text.fillna("").astype("string")
            + f" »). {tail}"
        )
        self.frames.append(
            findings_from_frame(rows, rule="DQ000", severity=severity, message=msg, field=header, value=raw_text)
        )

    def date(self, name: str) -> pd.Series:
        vals, inv = _date(self.raw(name))
        self.report(name, inv, "date illisible, attendu une date réelle au format jj/mm/aaaa")
        return vals

    def int(self, name: str) -> pd.Series:
        vals, inv = _int(self.raw(name))
        self.report(name, inv, "nombre entier attendu")
        return self._not_negative(name, vals)

    def decimal(self, name: str) -> pd.Series:
        vals, inv = _decimal(self.raw(name))
        self.report(name, inv, "nombre attendu")
        return self._not_negative(name, vals)

    def _not_negative(self, name: str, vals: pd.Series) -> pd.Series:
        """Places, headcounts and hours are never below zero (found by the mutation test: ``-3``
        places failed the run's blocking contract check): null, with a DQ000 error."""
        negative = (pd.to_numeric(vals, errors="coerce") < 0).fillna(False).astype(bool)
        if negative.any():
            self.report(name, negative, "nombre négatif, un effectif ou une durée est positif ou nul")
            vals = vals.mask(negative)
        return vals

    def hour(self, name: str) -> pd.Series:
        vals, inv = _hour(self.raw(name))
        self.report(name, inv, "heure illisible, attendu HH:MM (ex. 09:30)")
        return vals

    def text(self, name: str, **kw) -> pd.Series:
        return _text(self.raw(name), **kw)


def _lineage(sh: _Sheet, file: str, idx: pd.Index) -> dict[str, object]:
    return {
        "source": pd.Series(SOURCE, index=idx, dtype="string"),
        "source_file": pd.Series(file, index=idx, dtype="string"),
        "source_sheet": pd.Series(sh.spec.name, index=idx, dtype="string"),
        "source_line": pd.Series(sh.lines, dtype="int32").reindex(idx),
    }


def _keys(
    sh: _Sheet,
    parts: list[tuple[str, pd.Series]],
    key: pd.Series,
    file: str,
    session_key: pd.Series | None = None,
    what: str = "",
    value: pd.Series | None = None,
) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    """Quarantine rows with a missing key part, duplicates (later rows) or a rejected sheet.

    Returns the mask of kept rows, the quarantine rows and their findings.
    """
    idx = sh.data.index
    if sh.rejected:
        reason = pd.Series(sh.rejected, index=idx, dtype="string")
        drop = pd.Series(True, index=idx)
        q = _quarantine(sh, file, drop, reason, session_key)
        return ~drop, q, pd.DataFrame()  # one finding on the sheet already
    missing_any = pd.Series(False, index=idx)
    missing_names = pd.Series("", index=idx, dtype="string")
    for header, part in parts:
        miss = part.isna()
        missing_any |= miss
        missing_names = missing_names.mask(
            miss, missing_names + np.where(missing_names == "", "", ", ") + f"« {header} »"
        )
    dup, first_line = tabular.duplicates(key, pd.Series(sh.lines, index=idx), live=~missing_any)
    reason = pd.Series(pd.NA, index=idx, dtype="string")
    if missing_any.any():
        reason[missing_any] = (
            f"Feuille « {sh.spec.name} », ligne "
            + pd.Series(sh.lines, index=idx).astype("string")[missing_any]
            + f" : {what} sans identifiant complet, colonne(s) "
            + missing_names[missing_any]
            + " vide(s) ou illisible(s). La ligne n'est pas reprise ; compléter l'identifiant dans SIGMA."
        )
    if dup.any():
        reason[dup] = (
            f"Feuille « {sh.spec.name} », ligne "
            + pd.Series(sh.lines, index=idx).astype("string")[dup]
            + f" : {what} « "
            + key[dup]
            + " » en double (déjà lue ligne "
            + first_line[dup].astype("int64").astype("string")
            + "). Cette ligne n'est pas reprise ; supprimer le doublon ou lui donner un autre numéro."
        )
    drop = missing_any | dup
    q = _quarantine(sh, file, drop, reason, session_key)
    f = pd.DataFrame()
    if drop.any():
        shown = (key if value is None else value).where(~missing_any)
        f = findings_from_frame(
            q,
            rule="DQ000",
            severity="error",
            message=q["reason"],
            field=", ".join(h for h, _ in parts),
            value=shown[drop].reset_index(drop=True).astype("string"),
        )
    return ~drop, q, f


def _quarantine(
    sh: _Sheet, file: str, drop: pd.Series, reason: pd.Series, session_key: pd.Series | None
) -> pd.DataFrame:
    idx = drop[drop].index
    if not len(idx):
        return model.empty_frame(model.QUARANTINE)
    named = [(i, h) for i, h in enumerate(sh.headers) if h]
    raw_rows = sh.data.loc[idx, [i for i, _ in named]]
    keys = [h for _, h in named]
    raws = [
        json.dumps(dict(zip(keys, row)), ensure_ascii=False, default=_json_default)
        for row in raw_rows.itertuples(index=False, name=None)
    ]
    lines = pd.Series(sh.lines, dtype="int32").reindex(idx)
    return tabular.quarantine_rows(
        SOURCE,
        file,
        sh.spec.name,
        lines,
        sh.spec.kind,
        reason[idx],
        raws,
        session_key[idx] if session_key is not None else None,
    )


def _json_default(v):
    if isinstance(v, (_dt.date, _dt.time)):
        return v.isoformat()
    return str(v)


def _finish(df: pd.DataFrame, table: str) -> pd.DataFrame:
    return model.to_frame(model.conform(df.reset_index(drop=True), _SCHEMAS[table]))


def _empty_frame(table: str) -> pd.DataFrame:
    return model.empty_frame(_SCHEMAS[table])


def _empty_tables() -> dict[str, pd.DataFrame]:
    return {name: _empty_frame(name) for name in _SCHEMAS}


def _join(parts: list[pd.Series], sep: str = " ") -> pd.Series:
    """Join the non-empty parts with ``sep``; null when all are empty."""
    out = parts[0].fillna("")
    for p in parts[1:]:
        p = p.fillna("")
        out = out + np.where((out != "") & (p != ""), sep, "") + p
    out = out.astype("string").str.strip()
    return out.mask(out == "")


# --- Actions -> formations ----------------------------------------------------------------------


def _read_formations(sh: _Sheet, file: str):
    c = sh.cols
    action = _text(c["action"])
    key = "sigma:" + action
    keep, q, fq = _keys(sh, [("N° Action", action)], key, file, what="action")
    cells = _Cells(sh, file, keep)
    idx = keep[keep].index
    status_raw = cells.text("status")
    status = status_raw.str.upper()
    bad_status = status.notna() & ~status.isin(list(STATUSES))
    cells.report("status", bad_status, "statut inconnu, attendu EC, SO ou AN", raw=status_raw)
    df = pd.DataFrame(
        {
            "formation_key": key[idx],
            **_lineage(sh, file, idx),
            "marche_numero": cells.text("contract"),
            "programme": cells.text("programme"),
            "action_number": action[idx],
            "title": cells.text("title"),
            "formacode": (formacode := cells.text("formacode", pad=5)),
            "formacode_ref": pd.Series(formacode_version("sigma"), index=idx, dtype="string").where(formacode.notna()),
            "rome": cells.text("rome"),
            "period_start": cells.date("start"),
            "period_end": cells.date("end"),
            "holder_name": cells.text("holder"),
            "holder_siret": cells.text("siret", pad=14, digits=True),
            "holder_nda": cells.text("nda", pad=11, digits=True),
            "status": status.mask(bad_status),
            "year": cells.text("year"),
            "dispositif": cells.text("dispositif"),
            "financer": model.FINANCER_REGION,
        },
        index=idx,
    )
    return _finish(df, "formations"), q, concat_findings([fq, *cells.frames])


# --- Composantes -> actions ---------------------------------------------------------------------


def _read_actions(sh: _Sheet, file: str):
    c = sh.cols
    action = _text(c["action"])
    comp = _text(c["comp"], pad=2, pad_text=True)
    key = "sigma:" + action + ":" + comp
    keep, q, fq = _keys(sh, [("N° Action", action), ("N°", comp)], key, file, what="composante")
    cells = _Cells(sh, file, keep)
    idx = keep[keep].index
    mode_raw = cells.text("entry_mode")
    mode, bad_mode = _enum(mode_raw, ENTRY_MODES)
    cells.report(
        "entry_mode",
        bad_mode,
        "modalité d'entrée inconnue, attendu « Dates fixes » ou « Entrées/sorties permanentes »",
        raw=mode_raw,
    )
    df = pd.DataFrame(
        {
            "action_key": key[idx],
            "formation_key": "sigma:" + action[idx],
            **_lineage(sh, file, idx),
            "composante_number": comp[idx],
            "composante_label": cells.text("label"),
            "postcode": cells.text("postcode", pad=5),
            "city": cells.text("city"),
            "entry_mode": mode,
            "places": cells.int("places"),
            "hours_centre": cells.decimal("hours_centre"),
            "hours_company": cells.decimal("hours_company"),
            "period_start": cells.date("start"),
            "period_end": cells.date("end"),
        },
        index=idx,
    )
    return _finish(df, "actions"), q, concat_findings([fq, *cells.frames])


# --- Sessions -----------------------------------------------------------------------------------

# split from the right: the body (greedy) may itself hold "/"
_LIEU_PATTERNS = (
    (3, r"^(?P<body>.*)/\s*(?P<site>[^/]*?)\s*/\s*(?P<city>[^/]*?)\s*/\s*(?P<postcode>[^/]*)$"),
    (2, r"^(?P<site>[^/]*?)\s*/\s*(?P<city>[^/]*?)\s*/\s*(?P<postcode>[^/]*)$"),
    (1, r"^(?P<city>[^/]*?)\s*/\s*(?P<postcode>[^/]*)$"),
)


def split_lieu(lieu: pd.Series) -> tuple[pd.DataFrame, pd.Series]:
    """``<body> / <site> / <CITY> / <postcode>`` split from the right (the body may hold ``/``).

    Returns columns body, site, city, postcode and the mask of values with fewer than 4 parts
    (what can be read from the right is kept: postcode, city, then site; a value without any
    ``/`` gives nothing). Vectorised with pyarrow (RE2).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    lieu = lieu.astype("string")
    arr = pa.array(lieu.to_numpy(dtype=object, na_value=None), type=pa.string())
    slashes = pc.fill_null(pc.count_substring(arr, "/"), -1).to_numpy(zero_copy_only=False)
    out = pd.DataFrame(
        {c: pd.Series(pd.NA, index=lieu.index, dtype="string") for c in ("body", "site", "city", "postcode")}
    )
    for n, pattern in _LIEU_PATTERNS:
        m = (slashes >= 3) if n == 3 else (slashes == n)
        if not m.any():
            continue
        ext = pc.extract_regex(arr.filter(pa.array(m)), pattern)
        for i in range(ext.type.num_fields):
            name = ext.type.field(i).name
            vals = pd.Series(ext.field(i).to_pandas(types_mapper=None).values, index=lieu.index[m], dtype="string")
            out.loc[m, name] = text.clean_text(vals)
    short = (lieu.notna() & pd.Series(slashes < 3, index=lieu.index)).fillna(False).astype(bool)
    return out, short


def _read_sessions(sh: _Sheet, file: str, formations: pd.DataFrame, actions: pd.DataFrame):
    c = sh.cols
    action = _text(c["action"])
    comp = _text(c["comp"], pad=2, pad_text=True)
    num = _text(c["num"], pad=2, pad_text=True)
    key = "sigma:" + action + ":" + comp + ":" + num
    keep, q, fq = _keys(
        sh,
        [("N° Action", action), ("Composante", comp), ("Num. de session", num)],
        key,
        file,
        session_key=key,
        what="session",
    )
    idx = keep[keep].index
    skey = key[idx]
    cells = _Cells(sh, file, keep, session_key=key)
    action = action[idx]
    action_key = "sigma:" + action + ":" + comp[idx]
    formation_key = "sigma:" + action

    # parents (a missing parent keeps nulls: the rules report DQ020)
    f = formations.drop_duplicates("action_number").set_index("action_number")
    a = actions.drop_duplicates("action_key").set_index("action_key")

    def parent(frame: pd.DataFrame, on: pd.Series, col: str) -> pd.Series:
        if not len(frame):
            return pd.Series(pd.NA, index=on.index, dtype=frame[col].dtype if col in frame else "string")
        return pd.Series(on.map(frame[col]).values, index=on.index, dtype=frame[col].dtype)

    marche = parent(f, action, "marche_numero")
    marche = marche.fillna(action.str.split("_", n=1).str[0].astype("string"))

    lieu_raw = cells.text("lieu")
    lieu, short = split_lieu(lieu_raw)
    cells.report(
        "lieu",
        short,
        "lieu incomplet, attendu « organisme / site / VILLE / code postal » (4 parties séparées par « / »)",
        raw=lieu_raw,
        tail="Seules les parties lisibles en partant de la droite (code postal, ville, site) sont reprises ; "
        "compléter le lieu dans SIGMA.",
    )

    # The training body is the one named in the Lieu; the extract gives only the titulaire's
    # SIRET, which belongs to the body named in the Lieu only when it is the titulaire (or when
    # the Lieu names no body). Another body keeps its name, without a SIRET (see
    # passerelle.organisations: the canonical build looks its SIRET up by name; DQ025).
    holder = parent(f, action, "holder_name")
    holder_siret = parent(f, action, "holder_siret")
    body = lieu["body"]
    same = (normalise_names(body) == normalise_names(holder)).fillna(False).astype(bool)
    trainer = body.fillna(holder).astype("string")
    trainer_siret = holder_siret.where(body.isna() | same).astype("string")

    places = cells.int("places")
    cancelled = (places == 0).fillna(False).astype(bool)

    state_raw = cells.text("status")
    state, bad_state = _enum(state_raw, WORKFLOW_STATES)
    cells.report("status", bad_state, "statut inconnu, attendu « Validée » ou « En attente d'émission »", raw=state_raw)
    empty_state = state_raw.isna()
    cells.report("status", empty_state, "statut vide, attendu « Validée » ou « En attente d'émission »", raw=state_raw)
    workflow = state.fillna(state_raw)
    # isin, not map + fillna: a sheet without any known status gave an all-null string column
    # that cannot be filled with False (the whole workbook was then rejected)
    publishable = state.isin([k for k, v in model.WORKFLOW_PUBLISHABLE.items() if v]).fillna(False).astype(bool)

    df = pd.DataFrame(
        {
            "session_key": skey,
            "action_key": action_key,
            "formation_key": formation_key,
            **_lineage(sh, file, idx),
            "source_session_id": num[idx],
            "session_number": num[idx],
            "marche_numero": marche,
            "action_number": action,
            "composante_number": comp[idx],
            "programme": parent(f, action, "programme"),
            "title": parent(f, action, "title"),
            "organisme_formateur": trainer,
            "siret_formateur": trainer_siret,
            "site": lieu["site"],
            "address_line": lieu["site"],
            "postcode": lieu["postcode"],
            "city": lieu["city"],
            "start_date": cells.date("start"),
            "end_date": cells.date("end"),
            "parent_period_start": parent(a, action_key, "period_start"),
            "parent_period_end": parent(a, action_key, "period_end"),
            "entry_mode": parent(a, action_key, "entry_mode"),
            "places": places,
            "workflow_state": workflow,
            "workflow_publishable": publishable,
            "cancelled": cancelled,
            "recruitment_state": pd.Series(
                np.where(cancelled, model.RECRUITMENT_CLOSED, model.RECRUITMENT_OPEN), index=idx, dtype="string"
            ),
            "contact_name": cells.text("contact_name"),
            "contact_phone": _phone(cells.raw("contact_phone")),
            "contact_email": cells.text("contact_email"),
            "offer_info_code": cells.text("offer_info"),
            "financer": model.FINANCER_REGION,
        },
        index=idx,
    )
    return _finish(df, "sessions"), q, concat_findings([fq, *cells.frames])


def _phone(s: pd.Series) -> pd.Series:
    """Phone as text; a number cell of 9 digits got its leading 0 dropped by Excel."""
    out = _text(s)
    numeric = _kinds(s) == "float"
    fix = numeric & out.str.fullmatch(r"\d{9}").fillna(False).astype(bool)
    return out.mask(fix, "0" + out)


# --- Informations collectives -> events -----------------------------------------------------------


def _read_events(sh: _Sheet, file: str):
    c = sh.cols
    action = _text(c["action"])
    comp = _text(c["comp"], pad=2, pad_text=True)
    num = _text(c["num"], pad=2, pad_text=True)
    skey_all = "sigma:" + action + ":" + comp + ":" + num
    parts = [("N° Action", action), ("Composante", comp), ("Num. de session", num)]
    # events are identified by their line only for the quarantine test: no duplicate check
    line_key = skey_all + ":" + pd.Series(sh.lines, index=sh.data.index).astype("string")
    keep, q, fq = _keys(sh, parts, line_key, file, session_key=skey_all, what="information collective", value=skey_all)
    idx = keep[keep].index
    cells = _Cells(sh, file, keep, session_key=skey_all)
    skey = skey_all[idx]
    day = cells.date("date")
    start_time = cells.hour("start_time")
    end_time = cells.hour("end_time")
    places = cells.int("places")
    event_key = tabular.event_keys(skey, "ic", day.astype("string").str.replace("-", "", regex=False), start_time)
    street = _join(
        [cells.text("street_number"), cells.text("street_ext"), cells.text("street_type"), cells.text("street_name")]
    )
    df = pd.DataFrame(
        {
            "event_key": event_key,
            "session_key": skey,
            **_lineage(sh, file, idx),
            "event_type": EVENT_TYPE_IC,
            "is_information_collective": True,
            "start_date": day,
            "end_date": day,
            "start_time": start_time,
            "end_time": end_time,
            "places": places,
            "cancelled": (places == 0).fillna(False).astype(bool),
            "address_line": street,
            "postcode": cells.text("postcode", pad=5),
            "city": cells.text("city"),
            "description": cells.text("comment"),
        },
        index=idx,
    )
    return _finish(df, "events"), q, concat_findings([fq, *cells.frames])


# --- the source's declaration (passerelle.sources.registry) -------------------------------

# The field as named in the extract, per canonical field: what a finding shows Carif staff.
FIELD_NAMES_SESSIONS = {
    "session_key": "Num. de session",
    "source_session_id": "Num. de session",
    "session_number": "Num. de session",
    "marche_numero": "N° Contrat/Conv.",
    "action_number": "N° Action",
    "formation_key": "N° Action",
    "composante_number": "Composante",
    "action_key": "Composante",
    "site": "Lieu de la session",
    "address_line": "Lieu de la session",
    "postcode": "Lieu de la session",
    "city": "Lieu de la session",
    "organisme_formateur": "Lieu de la session",
    "insee_code": "Code INSEE",
    "siret_formateur": "SIRET titulaire",
    "start_date": "Date début",
    "end_date": "Date fin",
    "parent_period_start": "Date début (composante)",
    "parent_period_end": "Date fin (composante)",
    "entry_mode": "Modalité entrées",
    "places": "Nb. de places",
    "cancelled": "Nb. de places",
    "workflow_state": "Statut",
    "contact_name": "Contact nom",
    "contact_phone": "Contact tél",
    "contact_email": "Contact mail",
    "offer_info_code": "Code Offre Info",
}
FIELD_NAMES_EVENTS = {
    "session_key": "Num. de session",
    "start_date": "Date",
    "end_date": "Date",
    "start_time": "Heure de début",
    "end_time": "Heure de fin",
    "places": "Nb. de places",
    "cancelled": "Nb. de places",
    "address_line": "Libellé de la voie",
    "postcode": "Code postal",
    "city": "Ville",
    "description": "Commentaire",
}
FIELD_NAMES_FORMATIONS = {
    "marche_numero": "N° Contrat/Conv.",
    "action_number": "N° Action",
    "holder_name": "Titulaire/Mandataire",
    "holder_siret": "SIRET titulaire",
    "holder_nda": "NDA titulaire",
    "period_start": "Date de début réelle",
    "period_end": "Date de fin prévue",
    "status": "Statut",
}
FIELD_NAMES_ACTIONS = {
    "action_key": "N°",
    "postcode": "Code postal",
    "city": "Ville",
    "entry_mode": "Modalité entrées",
}

SPEC = Source(
    name=SOURCE,
    label="SIGMA",
    kinds=(
        ExtractKind(
            "actions",
            ("xlsx",),
            "SIGMA workbook: actions, composantes, sessions, informations collectives",
            read_workbook,
            asset="raw_sigma_workbook",
            sessions=True,
        ),
    ),
    field_names={
        "sessions": FIELD_NAMES_SESSIONS,
        "events": FIELD_NAMES_EVENTS,
        "formations": FIELD_NAMES_FORMATIONS,
        "actions": FIELD_NAMES_ACTIONS,
    },
    rules=RuleParameters(
        formation_marche=(r"\d{2}P\d{7}", "2 chiffres, la lettre P et 7 chiffres, ex. 23P0000000"),
        action_number_prefixed=True,
        action_required=True,
        parent_period="période de la composante",
        cancelled_by_places=True,
    ),
    session_key_pattern=r"sigma:[^:]+:[^:]+:[^:]+",
)
