"""EOS reader (Région Auvergne-Rhône-Alpes): sessions and events extracts (``sources.md`` §2).

``eos_sessions_<YYYYMMDD>.csv`` and ``eos_evenements_<YYYYMMDD>.csv``: Windows-1252 (UTF-8
accepted when the bytes say so), ``;`` separated, one header line, CRLF, quoted fields that
may hold ``;`` and line breaks, optional trailing empty columns, ``dd/mm/yy`` list dates and
``dd/mm/yyyy`` lot dates, decimal commas.

Both readers are plain functions that never raise on bad input:

- a file-level failure (unreadable, empty, undecodable, malformed quoting, wrong separator,
  duplicated or missing essential column) is one ``DQ000`` error finding per problem on the
  file and ``ok=False``; every data row that could be split into fields goes to quarantine
  with the reason, so that row conservation holds;
- a row without a usable ``Identifiant EOS`` (empty, not an integer, already seen for
  sessions), or with more fields than the header, goes to quarantine (``DQ000``);
- an unreadable cell becomes null with a ``DQ000`` error finding naming the line, the column
  and the raw value.

Columns are matched by header name, never by position (exact trimmed name first, then a
case/accent/space-insensitive match). Parsing is column-wise (vectorised); the csv module is
only used to split records, in chunks, keeping the physical line where each record starts.
"""

from __future__ import annotations

import codecs
import csv
import gc
import hashlib
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa

from passerelle import model
from passerelle.findings import FindingCollector, concat_findings, findings_from_frame
from passerelle.model import EVENTS, QUARANTINE, SESSIONS, empty_frame
from passerelle.sources import tabular, text
from passerelle.sources.base import ExtractRead, extract_date_of
from passerelle.sources.spec import ExtractKind, RuleParameters, Source

SOURCE = "eos"
EXPECTED_ENCODING = "cp1252"
SEPARATOR = ";"
RULE_FILE = "DQ000"

# --- the contract: column name in the extract -> canonical field it feeds --------------------
# Several columns may feed one field (address_line). ``lot_title`` is read but not kept on the
# session (the formation's lot title comes from SAM).
SESSION_COLUMNS: dict[str, str] = {
    "Dossier": "dossier",
    "Lot": "lot",
    "Intitulé du lot": "lot_title",
    "Programme": "programme",
    "Date début lot": "parent_period_start",
    "Date fin lot": "lot_end",
    "Fin exéc.": "parent_period_end",
    "N° marché": "marche_numero",
    "Identifiant EOS": "session_key",
    "N° ses.": "session_number",
    "N° BC": "purchase_order",
    "Action": "action_number",
    "Oblig/Facul/Suppl": "obligation",
    "Libellé grand public": "title",
    "Organisme formateur": "organisme_formateur",
    "SIRET formateur": "siret_formateur",
    "N° voie": "address_line",
    "Bis/Ter": "address_line",
    "Nature voie": "address_line",
    "Nom voie": "address_line",
    "Complément d'adresse": "address_complement",
    "Code postal": "postcode",
    "Ville": "city",
    "Code INSEE": "insee_code",
    "Lieu": "place_label",
    "Durée moy stg Cent": "hours_centre_avg",
    "Durée moy stg Ent.": "hours_company_avg",
    "Eff. visé tot.": "places",
    "Eff. min. MO": "places_min",
    "Eff. visé région.": "places_region",
    "Eff. visé PE": "places_pole_emploi",
    "nb Stagiaires.": "trainees",
    "Vol H Cent tot.": "hours_centre_total",
    "Vol H Ent. tot.": "hours_company_total",
    "Date début prescr.": "prescription_start",
    "Date fin prescr.": "prescription_end",
    "Date début session": "start_date",
    "Date fin session": "end_date",
    "Type entrée": "entry_mode",
    "Etat session": "workflow_state",
    "Session annulée": "cancelled",
    "Date état": "state_date",
    "Contact nom": "contact_name",
    "Contact tél": "contact_phone",
    "Contact mail": "contact_email",
    "Etat recrutement": "recruitment_state",
}

# Missing one of these rejects the file: keys (session, formation, action) and the dates and
# states the rules need. The others, when missing, are a warning and read as empty.
SESSION_ESSENTIAL: frozenset[str] = frozenset(
    {
        "Identifiant EOS",
        "Dossier",
        "Lot",
        "Action",
        "SIRET formateur",
        "Code postal",
        "Date début lot",
        "Fin exéc.",
        "Date début prescr.",
        "Date fin prescr.",
        "Date début session",
        "Date fin session",
        "Type entrée",
        "Etat session",
        "Session annulée",
    }
)

EVENT_COLUMNS: dict[str, str] = {
    "Identifiant EOS": "session_key",
    "Type": "event_type",
    "Date de début": "start_date",
    "Date de fin": "end_date",
    "Heure de début": "start_time",
    "Heure de fin": "end_time",
    "N° voie": "address_line",
    "Nom voie": "address_line",
    "Code postal": "postcode",
    "Ville": "city",
    "Description": "description",
}

EVENT_ESSENTIAL: frozenset[str] = frozenset(
    {"Identifiant EOS", "Type", "Date de début", "Heure de début", "Heure de fin"}
)

# list dates are dd/mm/yy, lot dates dd/mm/yyyy (both widths are accepted everywhere)
_SHORT_DATE_COLUMNS = ("Date début prescr.", "Date fin prescr.", "Date début session", "Date fin session", "Date état")
_LONG_DATE_COLUMNS = ("Date début lot", "Date fin lot", "Fin exéc.")
_INT_COLUMNS = ("Eff. visé tot.", "Eff. min. MO", "Eff. visé région.", "Eff. visé PE", "nb Stagiaires.")
_DECIMAL_COLUMNS = ("Durée moy stg Cent", "Durée moy stg Ent.", "Vol H Cent tot.", "Vol H Ent. tot.")
_TEXT_COLUMNS = {  # column -> field, kept as received (stripped, empty -> null)
    "Dossier": "dossier",
    "N° ses.": "session_number",
    "N° marché": "marche_numero",
    "N° BC": "purchase_order",
    "Oblig/Facul/Suppl": "obligation",
    "Programme": "programme",
    "Organisme formateur": "organisme_formateur",
    "Complément d'adresse": "address_complement",
    "Code postal": "postcode",
    "Ville": "city",
    "Code INSEE": "insee_code",
    "Lieu": "place_label",
    "Contact nom": "contact_name",
    "Contact tél": "contact_phone",
    "Contact mail": "contact_email",
}

ENTRY_MODE_LABELS = {"Entrées/Sorties fixes": model.ENTRY_FIXED, "Entrées/Sorties permanentes": model.ENTRY_PERMANENT}
RECRUITMENT_LABELS = {
    "Ouvert": model.RECRUITMENT_OPEN,
    "Suspendu": model.RECRUITMENT_SUSPENDED,
    "Fermé": model.RECRUITMENT_CLOSED,
}
EVENT_TYPE_CODES = {
    "Information Collective": "ic",
    "Test": "test",
    "Bilan": "bilan",
    "Entretien": "entretien",
}
EVENT_TYPE_OTHER = "autre"

_CHUNK_ROWS = 20_000  # records split by the csv module per batch before going columnar
_LINE_BREAK = r"\r\n|\r|\n"
# runs of white space, written as literal characters so that pyarrow (RE2) runs the regex
_SPACES = "[ \t\r\n\u00a0\u202f]+"


# --- public API -------------------------------------------------------------------------------


def read_sessions(path: Path | None, extract_date=None) -> ExtractRead:
    """Read ``eos_sessions_<YYYYMMDD>.csv`` into ``tables["sessions"]`` (``model.SESSIONS``).

    ``path`` None means no extract in the inbox: ``ok`` True, ``file`` None, empty table.
    ``extract_date`` overrides the date taken from the file name (``ExtractRead.extract_date``).
    """
    parsed = _read_file(path, "sessions", SESSION_COLUMNS, SESSION_ESSENTIAL, "sessions", SESSIONS, extract_date)
    if parsed.frame is not None:
        _build_sessions(parsed)
    return parsed.finish()


def read_events(path: Path | None, extract_date=None) -> ExtractRead:
    """Read ``eos_evenements_<YYYYMMDD>.csv`` into ``tables["events"]`` (``model.EVENTS``)."""
    parsed = _read_file(path, "evenements", EVENT_COLUMNS, EVENT_ESSENTIAL, "events", EVENTS, extract_date)
    if parsed.frame is not None:
        _build_events(parsed)
    return parsed.finish()


# --- file level -------------------------------------------------------------------------------


T = TypeVar("T")


def _known(value: T | None) -> T:
    """A part of the parse state that is set by then (a None here is a bug in this module)."""
    if value is None:
        raise AssertionError("EOS parse state used before the file was opened and split")
    return value


@dataclass
class _Parsed:
    """Working state of one file between splitting and building the canonical table."""

    read: ExtractRead
    collector: FindingCollector | None
    table: str
    schema: object
    frame: pd.DataFrame | None = None  # contract column -> raw text ("" when empty), one row per record
    lines: pd.Series | None = None  # physical source line where each record starts
    named: pd.DataFrame | None = None  # every named column of the file (for the raw JSON)
    too_wide: pd.Series | None = None  # record has non-empty cells beyond the header
    widths: pd.Series | None = None
    header_width: int = 0
    extra_findings: list = field(default_factory=list)

    quarantine_parts: list = field(default_factory=list)

    # the parsed state, once the file has been opened and split (typed for the checker)
    @property
    def fc(self) -> FindingCollector:
        return _known(self.collector)

    @property
    def rows(self) -> pd.DataFrame:
        return _known(self.frame)

    @property
    def line_of(self) -> pd.Series:
        return _known(self.lines)

    @property
    def wide(self) -> pd.Series:
        return _known(self.too_wide)

    @property
    def width(self) -> pd.Series:
        return _known(self.widths)

    def fail(self, message: str, *, line: int | None = None, field_name: str | None = None, value=None) -> None:
        self.read.ok = False
        self.fc.add(RULE_FILE, "error", message, line=line, field=field_name, value=value)

    def finish(self) -> ExtractRead:
        r = self.read
        if self.collector is not None:
            r.findings = concat_findings([self.collector.frame(), *self.extra_findings])
        if self.quarantine_parts:
            q = pd.concat([p for p in self.quarantine_parts if len(p)] or [empty_frame(QUARANTINE)], ignore_index=True)
            r.quarantine = model.to_frame(model.conform(q, QUARANTINE))
        return r


def _read_file(path, kind, contract, essential, table, schema, extract_date) -> _Parsed:
    read = ExtractRead(source=SOURCE, kind=kind, file=None)
    read.tables = {table: empty_frame(schema)}
    if path is None:
        return _Parsed(read, None, table, schema)
    path = Path(path)
    read.file = path.name
    read.extract_date = extract_date if extract_date is not None else extract_date_of(path)
    p = _Parsed(read, FindingCollector(SOURCE, path.name), table, schema)

    try:
        data = path.read_bytes()
    except OSError as exc:
        p.fail(f"Fichier illisible ({exc.strerror or exc}) : renvoyer l'extrait EOS.")
        return p
    read.sha256 = hashlib.sha256(data).hexdigest()
    if not data.strip() or not data.removeprefix(codecs.BOM_UTF8).strip():
        read.rows_read = {"": 0}
        p.fail("Fichier vide : l'extrait EOS doit contenir au moins la ligne d'en-tête. Renvoyer un extrait complet.")
        return p
    try:
        decoded, encoding, utf8_lines = text.decode_mixed(data, EXPECTED_ENCODING)
    except text.UndecodableError as exc:
        byte = data[exc.position] if exc.position < len(data) else None
        shown = f"0x{byte:02X}" if byte is not None else "?"
        p.fail(
            f"Encodage illisible : l'octet {shown} de la ligne {exc.line} n'existe pas en {exc.encoding} "
            "et le fichier n'est pas en UTF-8. Renvoyer l'extrait en Windows-1252 (cp1252) ou en UTF-8.",
            line=exc.line,
            value=shown,
        )
        return p
    read.encoding = encoding
    if utf8_lines:
        shown = ", ".join(map(str, utf8_lines[:10])) + (", …" if len(utf8_lines) > 10 else "")
        p.fc.add(
            RULE_FILE,
            "warning",
            f"Encodages mélangés : {len(utf8_lines)} ligne(s) écrite(s) en UTF-8 dans un extrait en Windows-1252 "
            f"(ligne(s) {shown}) ; elles sont lues en UTF-8 pour ne pas altérer les accents. Renvoyer l'extrait "
            "dans un seul encodage.",
            line=utf8_lines[0],
            value=str(len(utf8_lines)),
        )
    other_breaks = encoding == "utf-16" or any(b in data for b in _OTHER_BREAK_BYTES)
    del data  # the text is all we need from here on (large extracts: keep one copy in memory)

    try:
        header, body, lines, widths = _split_records(decoded, other_breaks)
        del decoded
    except _CsvError as exc:
        p.fail(
            f"Fichier mal formé ligne {exc.line} : {exc.detail}. Vérifier les guillemets (un champ "
            "qui contient « ; » ou un retour à la ligne doit être entre guillemets doubles).",
            line=exc.line,
        )
        return p
    names = [_clean_header(h) for h in header or []]
    if not any(names):
        read.rows_read = {"": 0}
        p.fail("En-tête absent : la ligne 1 doit porter les noms de colonnes du contrat EOS.", line=1)
        if len(body):
            p.lines, p.widths = lines, widths
            read.rows_read = {"": len(body)}
            _quarantine_all(p, "Fichier rejeté : la ligne 1 ne porte pas les noms de colonnes attendus.")
        return p

    read.rows_read = {"": len(body)}
    p.lines = lines
    p.widths = widths
    p.header_width = len(names)
    # last named column: the empty header cells after it are the trailing ";;" of Excel exports
    last_named = max(i for i, h in enumerate(names) if h)
    named_cols: dict[str, int] = {}
    seen: dict[str, int] = {}
    for i, h in enumerate(names):
        if h:
            seen[h] = seen.get(h, 0) + 1
            named_cols[h if seen[h] == 1 else f"{h} ({seen[h]})"] = i
    p.named = pd.DataFrame({label: _col(body, i) for label, i in named_cols.items()}, index=body.index)
    beyond = [c for c in body.columns if c > last_named]
    if beyond:
        p.too_wide = (body[beyond].fillna("").apply(lambda s: s.str.strip() != "")).any(axis=1)
    else:
        p.too_wide = pd.Series(False, index=body.index)
    # cells beyond the last named column go into the raw JSON too, so nothing is lost
    for c in beyond:
        filled = body[c].fillna("")
        if (filled.str.strip() != "").any():
            p.named[f"(colonne {c + 1} sans en-tête)"] = filled

    # wrong separator: one column only, whose name holds commas or tabs
    non_empty = [h for h in names if h]
    if len(non_empty) == 1 and ("," in non_empty[0] or "\t" in non_empty[0]):
        reason = (
            f"Séparateur inattendu : l'en-tête ne forme qu'une seule colonne « {_short(non_empty[0])} ». "
            "Le contrat EOS demande le point-virgule (;) comme séparateur ; renvoyer l'extrait avec ce séparateur."
        )
        p.fail(reason, line=1, value=_short(non_empty[0]))
        _quarantine_all(p, reason)
        return p

    # map the file's columns onto the contract
    norm_names = [_norm(h) if h else "" for h in names]
    positions: dict[str, int] = {}
    duplicated: list[str] = []
    for col in contract:
        hits = tabular.header_candidates(names, col, norm_names)
        if len(hits) > 1:
            duplicated.append(col)
        if hits:
            positions[col] = hits[0]
    if duplicated:
        reasons = []
        for col in duplicated:
            msg = (
                f"Colonne « {col} » présente plusieurs fois dans l'en-tête : impossible de savoir laquelle lire. "
                "Renvoyer l'extrait avec une seule colonne de ce nom."
            )
            p.fail(msg, line=1, field_name=col)
            reasons.append(msg)
        _quarantine_all(p, " ".join(reasons))
        return p

    if not positions:
        # not one column of the contract: line 1 is not a header but a record (header line
        # missing, or another extract): one finding, and every line, line 1 included, goes
        # to quarantine (row conservation)
        reason = (
            "En-tête absent : la ligne 1 ne porte aucun nom de colonne du contrat EOS (par exemple « Identifiant EOS ») "
            "et est lue comme une ligne de données. Fichier rejeté : renvoyer l'extrait avec sa ligne d'en-tête."
        )
        p.fail(reason, line=1, value=_short(SEPARATOR.join(header)))
        first = pd.DataFrame({i: pd.Series([cell], dtype="string") for i, cell in enumerate(header)})
        body = pd.concat([first, body], ignore_index=True).fillna("")
        p.lines = pd.Series(np.concatenate([[1], lines.to_numpy()]), index=body.index, dtype="int64")
        p.widths = pd.Series(np.concatenate([[len(header)], widths.to_numpy()]), index=body.index)
        p.named = pd.DataFrame({f"colonne {i + 1}": body[i] for i in body.columns}, index=body.index)
        read.rows_read = {"": len(body)}
        _quarantine_all(p, reason)
        return p

    missing = [c for c in contract if c not in positions]
    missing_essential = [c for c in missing if c in essential]
    for col in missing:
        if col in essential:
            p.fail(
                f"Colonne obligatoire absente : « {col} ». Le fichier est rejeté ; renvoyer un extrait EOS "
                "avec toutes les colonnes du contrat.",
                line=1,
                field_name=col,
            )
        else:
            p.fc.add(
                RULE_FILE,
                "warning",
                f"Colonne absente : « {col} ». Elle est lue comme vide ; la rajouter dans l'extrait EOS.",
                line=1,
                field=col,
            )
    used = set(positions.values())
    for i, h in enumerate(names):
        if i in used:
            continue
        if h:
            p.fc.add(
                RULE_FILE,
                "info",
                f"Colonne inconnue du contrat EOS : « {h} ». Ses valeurs sont ignorées.",
                line=1,
                field=h,
            )
        elif i < last_named:
            p.fc.add(
                RULE_FILE,
                "info",
                f"Colonne sans en-tête en position {i + 1} : ses valeurs sont ignorées.",
                line=1,
                field=f"colonne {i + 1}",
            )
    if missing_essential:
        reason = (
            "Fichier rejeté : colonne(s) obligatoire(s) absente(s) : "
            + ", ".join(f"« {c} »" for c in missing_essential)
            + "."
        )
        _quarantine_all(p, reason)
        return p

    frame = pd.DataFrame(index=body.index)
    for col in contract:
        frame[col] = _col(body, positions[col]) if col in positions else pd.Series("", index=body.index, dtype="string")
    p.frame = frame

    # rows shorter than the header (fields missing at the end): read as empty, but say so
    needed = max(positions.values()) + 1 if positions else 0
    short = widths < needed
    if short.any():
        p.extra_findings.append(
            findings_from_frame(
                _lineage(p, body.index[short.to_numpy()]),
                rule=RULE_FILE,
                severity="warning",
                message=(
                    "La ligne ne compte que "
                    + widths[short].astype(str)
                    + f" champ(s) pour {needed} colonnes attendues : les colonnes manquantes sont lues comme vides "
                    "(retour à la ligne hors guillemets ?)."
                ),
                field=None,
                value=widths[short].astype(str),
            )
        )
    return p


class _CsvError(Exception):
    def __init__(self, line: int, detail: str):
        super().__init__(detail)
        self.line = line
        self.detail = detail


def _split_records(decoded: str, other_breaks: bool = True):
    """Split text into records with the csv module, in chunks, into a columnar frame.

    Returns ``(header, body, lines, widths)``: header cells; one row per non-blank data record
    (column labels are field positions, missing cells ""); the physical line where each
    record starts (header = 1); the number of fields of each record.
    """
    reader = csv.reader(
        _iter_lines(decoded, other_breaks), delimiter=SEPARATOR, quotechar='"', doublequote=True, strict=True
    )
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of short-lived cell strings: the cyclic GC would rescan them for nothing
    try:
        header = next(reader, None)
        next_line = reader.line_num + 1
        frames, line_parts, width_parts = [], [], []
        while True:
            before = reader.line_num
            chunk = list(itertools.islice(reader, _CHUNK_ROWS))
            if not chunk:
                break
            n = len(chunk)
            widths = np.fromiter(map(len, chunk), dtype=np.int64, count=n)
            # blank lines ([]) and lines of empty cells only (";;;") are not records
            not_blank = np.fromiter(map(any, chunk), dtype=bool, count=n)
            df = _columns_of(chunk, widths)
            del chunk
            if reader.line_num - before == n:
                nlines = np.ones(n, dtype=np.int64)  # no record spans several lines
            else:  # some quoted field holds line breaks: count them record by record
                breaks = np.zeros(n, dtype=np.int64)
                for c in df.columns:
                    breaks += df[c].str.count(_LINE_BREAK).to_numpy(dtype=np.int64)
                nlines = 1 + breaks
            starts = next_line + np.cumsum(nlines) - nlines
            next_line = int(starts[-1] + nlines[-1])
            frames.append(df[not_blank] if not not_blank.all() else df)
            line_parts.append(starts[not_blank])
            width_parts.append(widths[not_blank])
    except csv.Error as exc:
        raise _CsvError(reader.line_num, _csv_error_fr(str(exc))) from exc
    finally:
        if gc_was_enabled:
            gc.enable()
    if frames:
        body = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
        if body.isna().any().any():  # chunks of different widths
            body = body.fillna("")
        lines = np.concatenate(line_parts)
        widths = np.concatenate(width_parts)
    else:
        body = pd.DataFrame(index=pd.RangeIndex(0))
        lines = np.zeros(0, dtype=np.int64)
        widths = np.zeros(0, dtype=np.int64)
    return header, body, pd.Series(lines, index=body.index, dtype="int64"), pd.Series(widths, index=body.index)


# str.splitlines also breaks on VT, FF, FS, GS, RS, NEL, LS and PS: when the bytes may hold one
# of them (any encoding we accept), lines are split with a regex instead
_OTHER_BREAK_BYTES = (b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\xc2\x85", b"\xe2\x80\xa8", b"\xe2\x80\xa9")
_LINE_RE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")
_BLOCK_CHARS = 1 << 20


def _iter_lines(decoded: str, other_breaks: bool = True):
    """Physical lines with their terminators (CRLF, LF or CR), a block of text at a time."""
    if other_breaks:
        return (m.group() for m in _LINE_RE.finditer(decoded))

    def blocks():
        pos, n = 0, len(decoded)
        while pos < n:
            end = decoded.find("\n", pos + _BLOCK_CHARS)
            end = n if end == -1 else end + 1  # cut after a LF: a CRLF is never split
            yield decoded[pos:end].splitlines(True)
            pos = end

    return itertools.chain.from_iterable(blocks())


def _columns_of(chunk: list[list[str]], widths: np.ndarray) -> pd.DataFrame:
    """Records (lists of cells) -> one Arrow string column per field position ("" when absent)."""
    width = int(widths.max()) if len(widths) else 0
    if width == 0:
        return pd.DataFrame(index=pd.RangeIndex(len(chunk)))
    if int(widths.min()) != width:  # ragged: pad the short records (blank lines, cut rows)
        chunk = [r + [""] * (width - len(r)) if len(r) < width else r for r in chunk]
    # one Arrow array of all cells, row-major, then one strided take per field position
    flat = pa.array(list(itertools.chain.from_iterable(chunk)), type=pa.string())
    base = np.arange(len(chunk), dtype=np.int64) * width
    dtype = pd.StringDtype("pyarrow")
    return pd.DataFrame({i: pd.Series(flat.take(pa.array(base + i)), dtype=dtype) for i in range(width)})


def _csv_error_fr(detail: str) -> str:
    if "unexpected end of data" in detail:
        return "guillemet ouvert jamais refermé"
    if "expected after" in detail:
        return "caractère inattendu après un guillemet fermant"
    if "field larger than field limit" in detail:
        return "champ démesurément long (guillemet non refermé ?)"
    if "NUL" in detail:
        return "caractère nul dans la ligne"
    return f"découpage impossible ({detail})"


def _col(body: pd.DataFrame, i: int) -> pd.Series:
    if i in body.columns:
        return body[i]
    return pd.Series("", index=body.index, dtype="string")


def _clean_header(h: str) -> str:
    return h.replace("\ufeff", "").replace("\u00a0", " ").strip()


_norm = tabular.norm  # one normalisation for every tabular source
_norm_series = tabular.norm_series


def _via_uniques(s: pd.Series, fn):
    """Apply ``fn`` (Series of distinct values -> Series, or tuple of Series) once per distinct value.

    Extract columns repeat few values (dates, numbers, states, labels): parsing the distinct
    values and taking the results back keeps the cost proportional to the distinct values.
    """
    codes, uniques = pd.factorize(s, use_na_sentinel=False)
    u = pd.Series(uniques, dtype=s.dtype) if len(uniques) else pd.Series([], dtype=s.dtype)
    res = fn(u)

    def expand(r: pd.Series) -> pd.Series:
        if r.dtype == bool:
            return pd.Series(r.to_numpy(dtype=bool)[codes], index=s.index)
        out = r.take(codes)
        out.index = s.index
        return out

    return tuple(expand(r) for r in res) if isinstance(res, tuple) else expand(res)


_short = tabular.short


# --- quarantine and findings helpers ----------------------------------------------------------


def _lineage(p: _Parsed, idx) -> pd.DataFrame:
    n = len(idx)
    out = pd.DataFrame(
        {
            "source": pd.Series([SOURCE] * n, index=idx, dtype="string"),
            "source_file": pd.Series([p.read.file] * n, index=idx, dtype="string"),
            "source_sheet": pd.Series([""] * n, index=idx, dtype="string"),
            "source_line": p.line_of.loc[idx].astype("int32"),
        },
        index=idx,
    )
    return out


def _raw_json(p: _Parsed, idx) -> pd.Series:
    if p.named is None or len(idx) == 0:
        return pd.Series([], dtype="string")
    sub = p.named.loc[idx]
    if sub.shape[1] == 0:
        return pd.Series(["{}"] * len(idx), index=idx, dtype="string")
    js = sub.to_json(orient="records", lines=True, force_ascii=False)
    # "\/" is how to_json escapes "/"; the only backslash right before a slash is that escape
    parts = js.rstrip("\n").replace("\\/", "/").split("\n") if js else []
    return pd.Series(parts, index=idx, dtype="string")


def _quarantine(p: _Parsed, idx, reason, kind: str, session_key=None) -> None:
    if len(idx) == 0:
        return
    p.quarantine_parts.append(
        tabular.quarantine_rows(
            SOURCE, p.read.file, "", p.line_of.loc[idx], kind, reason, _raw_json(p, idx), session_key
        )
    )


def _quarantine_all(p: _Parsed, reason: str) -> None:
    kind = "session" if p.table == "sessions" else "event"
    _quarantine(p, p.line_of.index, reason, kind)


_cell_findings = tabular.cell_findings
_quote = tabular.quote


def _not_negative(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Headcounts and hours below zero (found by the mutation test: ``-1238`` hours reached the
    feeds' ``nombre-heures-entreprise``, an ``xs:long`` >= 0): null, and the mask of those rows."""
    negative = (pd.to_numeric(values, errors="coerce") < 0).fillna(False).astype(bool)
    if negative.any():
        values = values.mask(negative)
    return values, negative


def _parse_columns(f: pd.DataFrame, columns, parser) -> dict[str, tuple[pd.Series, pd.Series]]:
    """Run one vectorised parser over several columns at once (stacked), then split back."""
    columns = list(columns)
    n = len(f)
    values, invalid = _via_uniques(pd.concat([f[c] for c in columns], ignore_index=True), parser)
    out = {}
    for k, c in enumerate(columns):
        v = values.iloc[k * n : (k + 1) * n]
        m = invalid.iloc[k * n : (k + 1) * n]
        v.index = f.index
        m.index = f.index
        out[c] = (v, m)
    return out


def _clean_columns(f: pd.DataFrame, columns) -> dict[str, pd.Series]:
    return {c: text.clean_text(f[c]) for c in columns}


# --- keys shared by both files ----------------------------------------------------------------


def _session_ids(p: _Parsed, kind: str) -> tuple[pd.Series, pd.Series]:
    """Validate ``Identifiant EOS``; quarantine rows without a usable one (and too wide rows).

    Returns ``(session_key, keep)`` aligned on the frame.
    """
    f = p.rows
    raw = f["Identifiant EOS"].str.strip()
    ok = raw.str.fullmatch("[0-9]+").fillna(False).astype(bool)
    ident = _strip_zeros(raw)
    key = ("eos:" + ident).where(ok)

    wide = p.wide.reindex(f.index, fill_value=False).astype(bool)
    empty = (raw == "").fillna(True).astype(bool)
    reason = pd.Series(pd.NA, index=f.index, dtype="string")
    # messages are built for the flagged rows only
    if wide.any():
        reason[wide] = (
            "La ligne compte "
            + p.width[wide].astype(str)
            + f" champs pour {p.header_width} colonnes d'en-tête (point-virgule hors guillemets ?) : "
            "la ligne est écartée ; protéger le texte par des guillemets dans l'extrait."
        )
    m = ~wide & empty
    if m.any():
        reason[m] = "Identifiant EOS vide : la ligne ne peut pas être rattachée à une session ; la ligne est écartée."
    m = ~wide & ~empty & ~ok
    if m.any():
        reason[m] = (
            "Identifiant EOS " + _quote(raw[m]) + " invalide : un nombre entier est attendu ; la ligne est écartée."
        )
    if kind == "session":
        dup, first_line = tabular.duplicates(key, p.line_of, live=reason.isna())
        if dup.any():
            reason[dup] = (
                "Identifiant EOS "
                + ident[dup]
                + " en double : déjà présent ligne "
                + first_line[dup].astype("Int64").astype("string")
                + " ; seule la première ligne est gardée, celle-ci est écartée."
            )
    bad = reason.notna()
    if bad.any():
        idx = f.index[bad.to_numpy()]
        _quarantine(p, idx, reason[bad], kind, key[bad].astype("string"))
        # one DQ000 error finding per quarantined row
        ctx = _lineage(p, idx)
        ctx["session_key"] = key[bad].astype("string")
        p.extra_findings.append(
            findings_from_frame(
                ctx,
                rule=RULE_FILE,
                severity="error",
                message=reason[bad],
                field="Identifiant EOS",
                value=f["Identifiant EOS"][bad],
            )
        )
    return key, ~bad


# --- sessions ---------------------------------------------------------------------------------


def _kept_rows(p: _Parsed, kind: str):
    """The rows whose session id is usable, with their key, lineage context, an empty findings
    list and the output frame started with ``session_key`` (shared by sessions and events)."""
    key, keep = _session_ids(p, kind)
    f = p.rows[keep.to_numpy()]
    key = key[keep].astype("string")
    ctx = _lineage(p, f.index)
    ctx["session_key"] = key
    out = pd.DataFrame(index=f.index)
    out["session_key"] = key
    return f, key, ctx, [], out


def _build_sessions(p: _Parsed) -> None:
    f, key, ctx, found, out = _kept_rows(p, "session")
    out["source_session_id"] = key.str.slice(4)

    cleaned = _clean_columns(
        f, list(_TEXT_COLUMNS) + ["Lot", "Action", "Libellé grand public", "Etat session", "Session annulée"]
    )
    for col, name in _TEXT_COLUMNS.items():
        out[name] = cleaned[col]

    # lot: zero-padded to 3 digits when numeric ("5" and "005" are the same lot)
    lot = cleaned["Lot"]
    numeric_lot = lot.str.fullmatch("[0-9]+").fillna(False).astype(bool)
    out["lot"] = lot.mask(numeric_lot, _strip_zeros(lot).str.zfill(3))

    # action: "<n> - <label>"; the number is the part before the first " - "
    action = cleaned["Action"]
    number, label = _via_uniques(action, _split_action)
    out["action_number"] = number
    found.append(
        _cell_findings(
            ctx,
            number.isna() & action.notna(),
            "Action",
            f["Action"],
            "Numéro d'action illisible dans la colonne « Action » : ",
            " (format attendu « <n°> - <intitulé> », ex. « 1 - Agent thermal »).",
        )
    )
    found.append(
        _cell_findings(
            ctx,
            action.isna(),
            "Action",
            f["Action"],
            "Colonne « Action » vide : le numéro d'action est attendu (ex. « 1 - Agent thermal ») pour rattacher la "
            "session à son action.",
        )
    )
    for col, what in (("Dossier", "le numéro de dossier"), ("Lot", "le numéro de lot")):
        found.append(
            _cell_findings(
                ctx,
                cleaned[col].isna(),
                col,
                f[col],
                f"Colonne « {col} » vide : la session ne peut pas être rattachée à son marché ; saisir {what}.",
            )
        )

    out["title"] = cleaned["Libellé grand public"].fillna(label)
    out["siret_formateur"] = _via_uniques(f["SIRET formateur"], text.digits_only)
    out["address_line"] = _join_address(f, ("N° voie", "Bis/Ter", "Nature voie", "Nom voie"))

    # keys referring to the formation (SAM) and to the EOS action derived from the sessions
    dossier, lot_s, num = out["dossier"].fillna(""), out["lot"].fillna(""), out["action_number"].fillna("")
    out["formation_key"] = "sam:" + dossier + ":" + lot_s + ":" + num
    out["action_key"] = (
        "eos:"
        + dossier
        + ":"
        + lot_s
        + ":"
        + num
        + ":"
        + out["siret_formateur"].fillna("")
        + ":"
        + out["postcode"].fillna("")
    )

    date_formats = {**{c: "jj/mm/aa" for c in _SHORT_DATE_COLUMNS}, **{c: "jj/mm/aaaa" for c in _LONG_DATE_COLUMNS}}
    for col, (values, invalid) in _parse_columns(f, date_formats, text.parse_dates).items():
        out[SESSION_COLUMNS[col]] = values
        found.append(
            _cell_findings(
                ctx,
                invalid,
                col,
                f[col],
                f"Date illisible dans la colonne « {col} » : ",
                f" (format attendu {date_formats[col]})",
            )
        )
    for col, (values, invalid) in _parse_columns(f, _INT_COLUMNS, text.parse_int).items():
        out[SESSION_COLUMNS[col]], negative = _not_negative(values)
        found.append(
            _cell_findings(
                ctx,
                invalid,
                col,
                f[col],
                f"Nombre illisible dans la colonne « {col} » : ",
                " (nombre entier attendu)",
            )
        )
        found.append(
            _cell_findings(
                ctx,
                negative,
                col,
                f[col],
                f"Nombre négatif dans la colonne « {col} » : ",
                " (un effectif est positif ou nul) ; la valeur est ignorée",
            )
        )
    for col, (values, invalid) in _parse_columns(f, _DECIMAL_COLUMNS, text.parse_decimal).items():
        out[SESSION_COLUMNS[col]], negative = _not_negative(values)
        found.append(
            _cell_findings(
                ctx,
                invalid,
                col,
                f[col],
                f"Nombre illisible dans la colonne « {col} » : ",
                " (nombre attendu, virgule décimale acceptée)",
            )
        )
        found.append(
            _cell_findings(
                ctx,
                negative,
                col,
                f[col],
                f"Nombre négatif dans la colonne « {col} » : ",
                " (une durée est positive ou nulle) ; la valeur est ignorée",
            )
        )

    # enumerations
    entry, bad = _enum(
        f["Type entrée"], ENTRY_MODE_LABELS, contains={"fixe": model.ENTRY_FIXED, "permanent": model.ENTRY_PERMANENT}
    )
    out["entry_mode"] = entry
    found.append(
        _cell_findings(
            ctx,
            bad,
            "Type entrée",
            f["Type entrée"],
            "Type d'entrée inconnu dans la colonne « Type entrée » : ",
            " (attendu « Entrées/Sorties fixes » ou « Entrées/Sorties permanentes »).",
        )
    )

    state_raw = cleaned["Etat session"]
    state = _norm_series(state_raw).map({_norm(k): k for k in model.WORKFLOW_PUBLISHABLE}).astype("string")
    out["workflow_state"] = state.fillna(state_raw)
    # isin, not map + fillna: when no state of the file is known, map gives an all-null string
    # column that cannot be filled with False (the reader crashed on such a file)
    publishable_states = [k for k, v in model.WORKFLOW_PUBLISHABLE.items() if v]
    out["workflow_publishable"] = state.isin(publishable_states).fillna(False).astype(bool)
    found.append(
        _cell_findings(
            ctx,
            state_raw.notna() & state.isna(),
            "Etat session",
            f["Etat session"],
            "État de session inconnu dans la colonne « Etat session » : ",
            " (attendu « A finaliser », « Transmise », « Validée OF » ou « Validée ») ; la session n'est pas publiée.",
        )
    )
    found.append(
        _cell_findings(
            ctx,
            state_raw.isna(),
            "Etat session",
            f["Etat session"],
            "Colonne « Etat session » vide : l'état de la session est attendu ; la session n'est pas publiée.",
        )
    )

    cancel_raw = cleaned["Session annulée"]
    is_yes = (_norm_series(cancel_raw) == "oui").fillna(False).astype(bool)
    out["cancelled"] = is_yes
    found.append(
        _cell_findings(
            ctx,
            cancel_raw.notna() & ~is_yes,
            "Session annulée",
            f["Session annulée"],
            "Valeur inattendue dans la colonne « Session annulée » : ",
            " (attendu « Oui » ou vide) ; la session est lue comme non annulée.",
        )
    )

    recruit, bad = _enum(f["Etat recrutement"], RECRUITMENT_LABELS)
    out["recruitment_state"] = recruit
    found.append(
        _cell_findings(
            ctx,
            bad,
            "Etat recrutement",
            f["Etat recrutement"],
            "État de recrutement inconnu dans la colonne « Etat recrutement » : ",
            " (attendu « Ouvert », « Suspendu » ou « Fermé »).",
        )
    )

    out["financer"] = model.FINANCER_REGION
    for c in ("source", "source_file", "source_sheet", "source_line"):
        out[c] = ctx[c]
    p.read.tables["sessions"] = model.to_frame(model.conform(out.reset_index(drop=True), SESSIONS))
    p.extra_findings.extend(x for x in found if x is not None)


def _strip_zeros(s: pd.Series) -> pd.Series:
    """Leading zeros off a digit string, keeping one digit ("007" -> "7", "000" -> "0")."""
    stripped = s.str.lstrip("0")
    return stripped.mask(((stripped == "") & (s != "")).fillna(False).astype(bool), "0")


def _split_action(action: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``"1 - Agent thermal - Titre"`` -> ``("1", "Agent thermal - Titre")``; no number -> null."""
    parts = action.str.extract(r"^(\d+)\s*(?:[-\u2013]\s*(.*))?$")
    number = _strip_zeros(parts[0].astype("string"))
    return number, text.clean_text(parts[1].astype("string"))


def _join_address(f: pd.DataFrame, columns) -> pd.Series:
    """Address parts joined with single spaces; null when all parts are empty."""
    joined = f[columns[0]]
    for c in columns[1:]:
        joined = joined + " " + f[c]
    return text.clean_text(joined.str.replace(_SPACES, " ", regex=True))


def _enum(
    raw: pd.Series, labels: dict[str, str], contains: dict[str, str] | None = None
) -> tuple[pd.Series, pd.Series]:
    """Map an enumeration written by people onto canonical codes (case/accent/space-insensitive).

    Returns ``(codes, invalid)``; empty cells are null and not invalid.
    """
    cleaned = text.clean_text(raw)
    norm = _norm_series(cleaned)
    codes = norm.map({_norm(k): v for k, v in labels.items()}).astype("string")
    if contains:
        for needle, code in contains.items():
            codes = codes.mask(codes.isna() & norm.str.contains(needle, regex=False).fillna(False), code)
    invalid = (cleaned.notna() & codes.isna()).fillna(False).astype(bool)
    return codes.where(cleaned.notna()), invalid


# --- events -----------------------------------------------------------------------------------


def _build_events(p: _Parsed) -> None:
    f, key, ctx, found, out = _kept_rows(p, "event")

    etype = text.clean_text(f["Type"])
    type_norm = _norm_series(etype)
    code = type_norm.map({_norm(k): v for k, v in EVENT_TYPE_CODES.items()}).astype("string")
    out["event_type"] = type_norm.map({_norm(k): k for k in EVENT_TYPE_CODES}).astype("string").fillna(etype)
    found.append(
        _cell_findings(
            ctx,
            code.isna(),
            "Type",
            f["Type"],
            "Type d'événement inconnu dans la colonne « Type » : ",
            " (attendu « Information Collective », « Test », « Bilan » ou « Entretien ») ; il est classé « autre ».",
            severity="warning",
        )
    )
    code = code.fillna(EVENT_TYPE_OTHER)
    out["is_information_collective"] = (code == "ic").astype(bool)

    dates = {"Date de début": "start_date", "Date de fin": "end_date"}
    for col, (values, invalid) in _parse_columns(f, dates, text.parse_dates).items():
        out[dates[col]] = values
        found.append(
            _cell_findings(
                ctx,
                invalid,
                col,
                f[col],
                f"Date illisible dans la colonne « {col} » : ",
                " (format attendu jj/mm/aaaa)",
            )
        )
    hours = {"Heure de début": "start_time", "Heure de fin": "end_time"}
    for col, (values, invalid) in _parse_columns(f, hours, text.parse_hours).items():
        out[hours[col]] = values
        # an unreadable hour is a DQ000 cell finding here; the rules (DQ013) then see a null
        found.append(
            _cell_findings(
                ctx,
                invalid,
                col,
                f[col],
                f"Heure illisible dans la colonne « {col} » : ",
                " (format attendu HH:MM, ex. 09:30)",
            )
        )

    out["address_line"] = _join_address(f, ("N° voie", "Nom voie"))
    out["postcode"] = text.clean_text(f["Code postal"])
    out["city"] = text.clean_text(f["Ville"])
    out["description"] = text.clean_text(f["Description"].str.replace(r"\r\n?", "\n", regex=True))
    out["places"] = pd.Series(pd.NA, index=f.index, dtype="Int32")
    out["cancelled"] = False

    day = out["start_date"].dt.strftime("%Y%m%d").astype("string")
    out["event_key"] = tabular.event_keys(key, code, day, out["start_time"])

    for c in ("source", "source_file", "source_sheet", "source_line"):
        out[c] = ctx[c]
    p.read.tables["events"] = model.to_frame(model.conform(out.reset_index(drop=True), EVENTS))
    p.extra_findings.extend(x for x in found if x is not None)


# --- the source's declaration (passerelle.sources.registry) -------------------------------

# The field as named in the extract, per canonical field: what a finding shows Carif staff.
FIELD_NAMES_SESSIONS = {
    "session_key": "Identifiant EOS",
    "source_session_id": "Identifiant EOS",
    "session_number": "N° ses.",
    "marche_numero": "N° marché",
    "dossier": "Dossier",
    "lot": "Lot",
    "action_number": "Action",
    "formation_key": "Dossier / Lot / Action",
    "action_key": "Dossier / Lot / Action",
    "purchase_order": "N° BC",
    "organisme_formateur": "Organisme formateur",
    "siret_formateur": "SIRET formateur",
    "address_line": "Nom voie",
    "address_complement": "Complément d'adresse",
    "postcode": "Code postal",
    "city": "Ville",
    "insee_code": "Code INSEE",
    "place_label": "Lieu",
    "start_date": "Date début session",
    "end_date": "Date fin session",
    "prescription_start": "Date début prescr.",
    "prescription_end": "Date fin prescr.",
    "parent_period_start": "Date début lot",
    "parent_period_end": "Fin exéc.",
    "lot_end": "Date fin lot",
    "entry_mode": "Type entrée",
    "places": "Eff. visé tot.",
    "places_min": "Eff. min. MO",
    "places_region": "Eff. visé région.",
    "places_pole_emploi": "Eff. visé PE",
    "trainees": "nb Stagiaires.",
    "hours_centre_avg": "Durée moy stg Cent",
    "hours_company_avg": "Durée moy stg Ent.",
    "hours_centre_total": "Vol H Cent tot.",
    "hours_company_total": "Vol H Ent. tot.",
    "workflow_state": "Etat session",
    "cancelled": "Session annulée",
    "state_date": "Date état",
    "recruitment_state": "Etat recrutement",
    "contact_name": "Contact nom",
    "contact_phone": "Contact tél",
    "contact_email": "Contact mail",
}
FIELD_NAMES_EVENTS = {
    "session_key": "Identifiant EOS",
    "event_type": "Type",
    "start_date": "Date de début",
    "end_date": "Date de fin",
    "start_time": "Heure de début",
    "end_time": "Heure de fin",
    "address_line": "Nom voie",
    "postcode": "Code postal",
    "city": "Ville",
    "description": "Description",
}

SPEC = Source(
    name=SOURCE,
    label="EOS",
    kinds=(
        ExtractKind(
            "sessions",
            ("csv",),
            "EOS sessions as finalised by the training bodies",
            read_sessions,
            asset="raw_eos_sessions",
            sessions=True,
            label="sessions",
        ),
        ExtractKind(
            "evenements",
            ("csv",),
            "EOS events (informations collectives, tests, interviews)",
            read_events,
            asset="raw_eos_events",
            label="événements",
        ),
    ),
    field_names={"sessions": FIELD_NAMES_SESSIONS, "events": FIELD_NAMES_EVENTS},
    rules=RuleParameters(
        session_marche=(r"[A-Z]\d{7}", "une lettre majuscule et 7 chiffres, ex. M1451401"),
        trainer_siret_required=True,
        fills_plans=True,
        formation_reference="dossier_lot_action",
    ),
    session_key_pattern=r"eos:\d+",
    derives_actions=True,
)
