"""LHEO reader: the offer as published by another producer (sources.md section 4).

``lheo_<producer>_<YYYYMMDD>.xml`` or ``.xml.gz`` (an Intercarif export, another Carif's
catalogue, Onisep Idéo, a training body's EDOF catalogue...). One canonical *formation* per
``<formation>``, one *action* per ``<action>``, one *session* per ``<session>``, keyed by the
producer's ``numero``: ``lheo:<producer>:<numero>`` (formation, action and session keys live in
separate tables, so a producer that reuses one ``numero`` for a formation, its action and its
session is read as it is). Events are the ``<extras info="evenement">`` of our own feeds.

Versions and dialects, told by the namespace of the root:

- LHEO 2.3 ``http://lheo.gouv.fr/2.3``; LHEO 2.2 ``http://www.lheo.org/2.2`` (Intercarif,
  Onisep; 2.2 to 2.3 is officially a namespace change); the EDOF catalogue dialect
  ``https://www.of.moncompteformation.gouv.fr`` (ISO-8859-1, LHEO 2.3 structure plus EDOF
  ``extras``: session contact in ``extras info="session"``, ``garantie``, prices in
  ``extras info="action"``); a file without namespace is read as LHEO 2.3. An ``<lheo-index>``
  of ``<resume-offre>`` (Intercarif "offre info" summaries) is read too: one formation and one
  action per summary, its sessions under it.
- The XML declaration gives the encoding (libxml2 decodes it). A file that declares a Latin
  encoding but whose bytes are UTF-8 is read as UTF-8 with a warning (never mojibake).
- ``.xml.gz`` (or any file starting with the gzip magic) is decompressed as a stream, with a
  bound on the decompressed size (:func:`max_decompressed_bytes`) against gzip bombs.

Safe and streaming, as SAM:

1. A DOCTYPE is refused before the parser sees the document (the whole prolog is scanned), and
   again if the parser meets one; no DTD is loaded, no entity resolved, no network access;
   libxml2's default limits stay on (``huge_tree=False``: depth 256, 10 MB per text node).
2. ``lxml.etree.iterparse`` yields one ``<formation>`` at a time; it is checked, mapped to rows,
   then cleared with its preceding siblings, so that a national file never sits in memory. Rows
   are kept as Arrow arrays, a chunk at a time.
3. Lines: libxml2 gives the line where a start tag *ends* and is wrong past line 65 535, so the
   bytes handed to the parser are also scanned (C-speed regular expression and newline counts)
   for the start of every ``<formation``, ``<action`` and ``<session`` tag: each record keeps the
   line where its element begins. Other elements (in findings) are placed relative to their
   formation.
4. Each formation is validated against the official LHEO 2.3 XSD (``PASSERELLE_LHEO_XSD`` or
   ``../shared/reference/lheo/lheo.xsd``, as the feed checks find it), compiled once per
   namespace (the schema's target namespace rewritten to the file's). A valid formation costs
   one libxml2 call; an invalid one is diagnosed: missing required elements, unknown elements,
   elements out of LHEO order or repeated too often (from the XSD's content models), and
   values that fail their type (libxml2's messages, translated). Each problem is one DQ000
   ``warning`` naming the formation ``numero``, the line and the element path: real producers
   omit required elements (EDOF files routinely lack ``domaine-formation``,
   ``code-public-vise``, ``numero-activite``) and what can be mapped is read. After
   :data:`FINDINGS_PER_PROBLEM` findings of the same problem in a file, one more finding counts
   the rest (an EDOF catalogue would otherwise bury the report).
5. Records that cannot be mapped go to quarantine with one DQ000 ``error``: a formation,
   action or session without ``numero`` (no key) and what is under it; a formation whose
   mapping failed on an unforeseen structure; a ``numero`` repeated by the producer (see below).
   The rest of the file is read. A file that is not well-formed XML, truncated, has another
   root than ``<lheo>`` / ``<lheo-index>``, holds a DOCTYPE or decompresses beyond the bound is
   rejected as a whole (``ok=False``, one DQ000 error, every record read in quarantine): a
   broken extract never publishes half a catalogue, and the previous publication of its
   sessions is kept.

Row conservation: ``rows_read[""]`` counts the ``<formation>``, ``<action>``, ``<session>``
(and ``<resume-offre>``: formation and action) elements and our event ``extras``; it equals the
records of the four canonical tables plus the quarantine rows (``kind`` says which).

Repeated ``numero``: when every occurrence carries the same content, the first is kept and the
others are quarantined with a ``warning`` (a harmless repetition). When they differ, the reader
cannot know which one is right: every occurrence (and what is under it) is quarantined with an
``error`` naming all their lines; a session that was published before keeps its last good
version.

Values: LHEO dates ``AAAAMMJJ``; ``00000000`` (unknown start) and ``99999999`` (unknown end) are
null; partial dates ``AAAAMM00`` / ``AAAA0000`` are null too (the canonical dates are days) and
kept as written in ``lheo_session_extras``, with one ``info`` per file; an impossible date is
null with a ``warning``. A text that is only ``-`` (what LHEO producers write for "unknown") is
null. HTML in texts (``<p>``, ``<br/>``, ``<li>``, entities, in CDATA or escaped) is turned into
plain text: line breaks for paragraphs, breaks and list items (``- `` before an item), other
tags removed, entities decoded; one ``info`` per file says how many texts were cleaned. The
feeds escape every text anyway; no markup reaches them as markup.

Canonical columns (``tests/unit/test_lheo_source.py`` checks each one against the XML of every
real file, and lists those LHEO does not carry): a formation has its texts, every
``code-FORMACODE`` (the one tagged ``principal`` first) with the principal's ``ref``, every
``code-ROME`` and ``code-NSF`` (space-separated; codes of the wrong shape are left out with a
warning), ``code-RNCP`` (or ``code-RS``) and ``code-CERTIFINFO``, ``certifiante`` and the
responsible body's name, SIRET and NDA (a summary's ``nom-organisme`` and ``SIRET``); an action
its training body (name, SIRET), place of training, entry mode, hours and financed places; a
session its producer numero (``source_session_id``, ``session_number``), its formation's numero
(``action_number``), period, registration period and address (``adresse-inscription``), the name
of its action's place of training (``place_label``), recruitment state, contact, buyer
(``financer``: the action's first ``code-financeur``) and what it takes from its action.

What the canonical model has no column for (prices, every financer with its places, the
responsible body's own contact and address, public codes, ``datecrea``/``datemaj``, levels,
URLs, raw and partial dates, EDOF ``garantie``...) is returned in four more tables, keyed like
the canonical ones: ``lheo_formation_extras``, ``lheo_action_extras``,
``lheo_session_extras`` and ``lheo_financers`` (schemas below).

Places: LHEO gives places per action and financer (``organisme-financeur``). They go to
``lheo_financers`` and to the action's ``places`` (their total); a session gets them
(``places``, ``places_region`` for code 2, ``places_pole_emploi`` for code 4) only when it is the
action's only session that is not cancelled: the file does not say how several sessions
share them. The session's contact is taken whole from one of (in this order): its
``contact-session``, the EDOF ``contact-inscription``, its action's ``contact-formateur``, the
EDOF ``contact-information`` of its action, the formation's ``contact-formation`` (a summary's
``contact-formation-resume``), the responsible body's ``contact-organisme``: the first with a
person and a phone, else the first with a phone, else the first with a name
(``lheo_session_extras.contact_origin`` says which; a name is never joined to another
contact's phone).
The session's address is its ``adresse-inscription`` (its action's ``lieu-de-formation`` when it
has none at all); the action's is its ``lieu-de-formation``. An action without
``organisme-formateur`` (EDOF) is given by the
responsible body: its SIRET and name.

Structure: an ``<action>`` or ``<session>`` out of its place (outside a formation, a session
directly under a formation) is counted and quarantined with a DQ000 error saying where it is.

Workflow: an LHEO session is publishable (cancelled ones are published as cancelled: our own
``extras info="passerelle"`` flag; a closed recruitment is published not public, as EOS
``Fermé``), except a session the producer marks outdated (Intercarif ``session-perimee`` or
``action-perimee`` = 1). An EDOF session is publishable only when it is open to registration
(``etat-recrutement`` 1, the only status the EDOF dialect carries); the others are read and
counted but not publishable (DQ018), like EOS ``A finaliser``.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import html
import itertools
import json
import os
import re
import zlib
from collections import deque
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from lxml import etree

from passerelle import model
from passerelle.findings import FindingCollector, concat_findings
from passerelle.model import ACTIONS, EVENTS, FORMATIONS, QUARANTINE, SESSIONS, conform, empty_frame, to_frame
from passerelle.sources.base import ExtractRead
from passerelle.sources.spec import ExtractKind, Source

SOURCE = "lheo"
RULE = "DQ000"

NS_23 = "http://lheo.gouv.fr/2.3"
NS_22 = "http://www.lheo.org/2.2"
NS_EDOF = "https://www.of.moncompteformation.gouv.fr"
DIALECTS = {NS_23: "LHEO 2.3", NS_22: "LHEO 2.2", NS_EDOF: "EDOF", "": "LHEO sans espace de noms"}

FILE_NAME = re.compile(r"^lheo_(?P<producer>[a-z][a-z0-9]*)_(?P<date>\d{8})\.xml(?:\.gz)?$", re.IGNORECASE)
PRODUCER = re.compile(r"^[a-z][a-z0-9]{0,31}$")

FINDINGS_PER_PROBLEM = 50  # per file, findings of one schema problem before the rest is counted
GZIP_MAX_BYTES = 8 << 30  # decompressed bound (PASSERELLE_LHEO_MAX_BYTES overrides)
GZIP_MAX_RATIO = 100  # ... and at most this many times the compressed size (real LHEO: 10 to 30)
GZIP_MIN_BOUND = 32 << 20  # the ratio never bounds a small file below this
_READ_CHUNK = 1 << 16
_PROLOG_MAX = 1 << 20  # a prolog (declaration, comments) longer than this is refused
_ROW_CHUNK = 2048  # rows held as Python objects before they become Arrow arrays
UNKNOWN = "-"  # what LHEO producers (and our writer) write for an unknown text

# --- the extra tables: what the file carries that the canonical model has no column for -------

_S = pa.string()
_LS = pa.list_(pa.string())
_LINE = pa.field("source_line", pa.int32(), nullable=False)

FORMATION_EXTRAS = pa.schema(
    [
        pa.field("formation_key", _S, nullable=False),
        _LINE,
        pa.field("numero", _S),  # the producer's numero
        pa.field("datecrea", _S),
        pa.field("datemaj", _S),  # as written (AAAAMMJJ, may be 00000000)
        pa.field("formacode_ref", _S),  # version of the principal FORMACODE (V12, V14...)
        pa.field("formacodes", _LS),
        pa.field("formacode_refs", _LS),  # every code-FORMACODE, in order
        pa.field("nsf", _LS),
        pa.field("rome", _LS),
        pa.field("rncp", _S),
        pa.field("rs", _S),
        pa.field("certifinfo", _S),
        pa.field("cpf", _S),
        pa.field("niveau_entree", _S),
        pa.field("niveau_sortie", _S),
        pa.field("objectif_general", _S),
        pa.field("parcours", _S),
        pa.field("resultats_attendus", _S),
        pa.field("url", _S),
        pa.field("contact_nom", _S),
        pa.field("contact_tel", _S),
        pa.field("contact_courriel", _S),
        pa.field("responsable_numero", _S),
        pa.field("responsable_nom", _S),
        pa.field("responsable_raison_sociale", _S),
        pa.field("responsable_siret", _S),
        pa.field("responsable_nda", _S),
        pa.field("responsable_uai", _S),
        pa.field("responsable_contact_nom", _S),
        pa.field("responsable_contact_tel", _S),
        pa.field("responsable_contact_courriel", _S),
        pa.field("responsable_adresse", _S),
        pa.field("responsable_codepostal", _S),
        pa.field("responsable_ville", _S),
        pa.field("edof_resume_contenu", _S),
    ]
)
ACTION_EXTRAS = pa.schema(
    [
        pa.field("action_key", _S, nullable=False),
        pa.field("formation_key", _S, nullable=False),
        _LINE,
        pa.field("numero", _S),
        pa.field("datecrea", _S),
        pa.field("datemaj", _S),
        pa.field("public_vise", _LS),
        pa.field("public_vise_ref", _S),
        pa.field("rythme", _S),
        pa.field("modalites_enseignement", _S),
        pa.field("conditions_specifiques", _S),
        pa.field("url", _S),
        pa.field("lieu_nom", _S),
        pa.field("prix_total_ttc", pa.float64()),
        pa.field("prix_horaire_ttc", pa.float64()),
        pa.field("frais_ht", pa.float64()),
        pa.field("frais_ttc", pa.float64()),
        pa.field("taux_tva", pa.float64()),
        pa.field("nombre_heures_total", pa.float64()),
        pa.field("duree_indicative", _S),
        pa.field("formateur_numero", _S),
        pa.field("formateur_contact_nom", _S),
        pa.field("formateur_contact_tel", _S),
        pa.field("formateur_contact_courriel", _S),
        pa.field("autres_formateurs_siret", _LS),
        pa.field("dates_information", _LS),
        pa.field("adresse_information", _S),
    ]
)
SESSION_EXTRAS = pa.schema(
    [
        pa.field("session_key", _S, nullable=False),
        pa.field("action_key", _S, nullable=False),
        _LINE,
        pa.field("numero", _S),
        pa.field("datecrea", _S),
        pa.field("datemaj", _S),
        pa.field("debut", _S),
        pa.field("fin", _S),  # period as written (partial dates kept here)
        pa.field("inscription_debut", _S),
        pa.field("inscription_fin", _S),
        pa.field("etat_recrutement", _S),
        pa.field("contact_origin", _S),  # where the contact comes from: session|edof|formateur|formation|responsable
        pa.field("garantie", pa.bool_()),  # EDOF
        pa.field("perimee", pa.bool_()),  # Intercarif session-perimee / action-perimee
        pa.field("statut_publication", _S),
        pa.field("public", pa.bool_()),  # our own feeds' extras
        pa.field("mouvement", _S),
        pa.field("url", _S),
        pa.field("modalites_particulieres", _S),
    ]
)
FINANCERS = pa.schema(
    [
        pa.field("action_key", _S, nullable=False),
        pa.field("formation_key", _S, nullable=False),
        _LINE,
        pa.field("code_financeur", _S),
        pa.field("nb_places", pa.int32()),
    ]
)
EXTRA_TABLES: dict[str, pa.Schema] = {
    "lheo_formation_extras": FORMATION_EXTRAS,
    "lheo_action_extras": ACTION_EXTRAS,
    "lheo_session_extras": SESSION_EXTRAS,
    "lheo_financers": FINANCERS,
}

DOCTYPE_MESSAGE = (
    "Le fichier LHEO contient une déclaration DOCTYPE, refusée par sécurité (risque d'entités "
    "malveillantes) : le fichier n'est pas lu. Demander au producteur un export sans DOCTYPE "
    "(le format LHEO n'en utilise pas)."
)


# ============================================================================================
# entry point
# ============================================================================================


def read_lheo(path: Path, producer: str | None = None) -> ExtractRead:
    """Read one LHEO file of ``producer`` (from the file name ``lheo_<producer>_<YYYYMMDD>.xml``
    when not given). Never raises on bad input (see the module docstring); raises ValueError
    only for a ``producer`` argument that cannot make keys (a programming error)."""
    path = Path(path)
    name = path.name
    m = FILE_NAME.match(name)
    if producer is not None and not PRODUCER.match(producer):
        raise ValueError(f"producer must match {PRODUCER.pattern}, got {producer!r}")
    extract_date = _name_date(m["date"]) if m else None
    if producer is None and m and PRODUCER.match(m["producer"].lower()):
        producer = m["producer"].lower()
    reader = _Reader(path, name, producer, extract_date)
    return reader.run()


def _name_date(text: str) -> date | None:
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def official_xsd() -> Path | None:
    """The official LHEO 2.3 XSD, found as the feed checks find it."""
    from passerelle.feeds.conformance import official_lheo_xsd

    return official_lheo_xsd()


def max_decompressed_bytes(compressed: int) -> int:
    """How many bytes a gzipped LHEO file of ``compressed`` bytes may expand to."""
    raw = os.environ.get("PASSERELLE_LHEO_MAX_BYTES", "").strip()
    cap = int(raw) if raw.isdigit() else GZIP_MAX_BYTES
    return min(cap, max(GZIP_MIN_BOUND, GZIP_MAX_RATIO * compressed))


class _Rejected(Exception):
    """The file as a whole is refused (the message is French, for the finding)."""

    def __init__(self, message: str, line: int | None = None, field: str | None = None, value: object = None):
        super().__init__(message)
        self.message, self.line, self.field, self.value = message, line, field, value


# ============================================================================================
# byte streams: hashing, gzip with a bound, tag lines
# ============================================================================================


class _HashingFile:
    """The raw file, hashed (sha256 of the bytes as received) as it is read."""

    def __init__(self, fh):
        self.fh = fh
        self.sha = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.sha.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


class _BoundedGzip:
    """A gzip stream that refuses to expand beyond ``limit`` bytes."""

    def __init__(self, raw: Any, limit: int):
        self.gz = gzip.GzipFile(fileobj=raw, mode="rb")
        self.limit = limit
        self.total = 0

    def read(self, n: int = -1) -> bytes:
        try:
            data = self.gz.read(n if n and n > 0 else _READ_CHUNK)
        except (OSError, EOFError, zlib.error) as exc:
            raise _Rejected(
                f"Le fichier compressé (gzip) est illisible ou tronqué ({exc}) : le fichier n'est pas lu. "
                "Demander au producteur de renvoyer l'export complet."
            ) from exc
        self.total += len(data)
        if self.total > self.limit:
            raise _Rejected(
                f"Le fichier compressé (gzip) dépasse {self.limit // (1 << 20)} Mo une fois décompressé : refusé "
                "par sécurité (bombe de décompression possible). Vérifier le fichier ; la limite se règle avec "
                "PASSERELLE_LHEO_MAX_BYTES."
            )
        return data


_TAG_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(formation|action|session|resume-offre)[\s/>]")
_TAGS = ("formation", "action", "session", "resume-offre")


class _Feed:
    """What the parser reads: the peeked prolog first, then the stream. Each chunk handed to the
    parser is scanned for the start lines of the record tags (see the module docstring)."""

    def __init__(self, stream, head: bytes, scan: bool):
        self.stream = stream
        self.head = head
        self.scan = scan
        self.pending = b""
        self.line = 1  # line number at the start of ``pending``
        self.queues: dict[str, deque] = {t: deque() for t in _TAGS}
        self.eof = False

    def read(self, n: int = -1) -> bytes:
        if self.head:
            data, self.head = self.head, b""
        else:
            data = self.stream.read(n if n and n > 0 else _READ_CHUNK)
        if self.scan:
            self._scan(data, final=not data)
        if not data:
            self.eof = True
        return data

    def _scan(self, chunk: bytes, final: bool) -> None:
        buf = self.pending + chunk if self.pending else chunk
        limit = len(buf) if final else max(0, len(buf) - 64)
        pos, line = 0, self.line
        for m in _TAG_START.finditer(buf, 0, len(buf)):
            start = m.start()
            if start >= limit:
                break
            line += buf.count(b"\n", pos, start)
            pos = start
            self.queues[m.group(1).decode()].append(line)
        line += buf.count(b"\n", pos, limit)
        self.line = line
        self.pending = buf[limit:]

    def line_of(self, tag: str, approx: int | None) -> int | None:
        """The start line of the next ``tag`` element (document order); ``approx`` is libxml2's
        line (to skip a false match, such as a tag written inside a comment)."""
        q = self.queues.get(tag)
        if not q:
            return approx
        if approx is not None:
            while len(q) > 1 and q[0] < approx - 500:
                q.popleft()
        return q.popleft()


def _approx_line(el) -> int | None:
    """libxml2's line for ``el``, corrected past 65 535 (None when libxml2 lost it)."""
    n = el.sourceline
    if n is None or n == 65535:
        return None
    return n - 1 if n > 65535 else n


# ============================================================================================
# the prolog: encoding, DOCTYPE
# ============================================================================================

_XML_DECL = re.compile(rb"""^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_LATIN = {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "iso-8859-15", "iso8859-15", "windows-1252", "cp1252"}


def _prolog(head: bytes) -> tuple[str, int | None, str | None]:
    """Scan the prolog: ``("doctype", line, text)``, ``("root", None, None)`` when the root
    element starts without any DOCTYPE, or ``("incomplete", None, None)``."""
    data = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    i, n = 0, len(data)
    while i < n:
        while i < n and data[i] in b" \t\r\n":
            i += 1
        if i >= n:
            break
        if data.startswith(b"<?", i):
            j = data.find(b"?>", i + 2)
            if j < 0:
                return "incomplete", None, None
            i = j + 2
        elif data.startswith(b"<!--", i):
            j = data.find(b"-->", i + 4)
            if j < 0:
                return "incomplete", None, None
            i = j + 3
        elif data.startswith(b"<!", i):  # <!DOCTYPE, or any other declaration before the root
            snippet = data[i : i + 80].split(b"\n")[0].decode("utf-8", errors="replace")
            return "doctype", data.count(b"\n", 0, i) + 1, snippet
        else:
            return "root", None, None
    return "incomplete", None, None


def _utf16(head: bytes) -> bool:
    return head[:2] in (b"\xff\xfe", b"\xfe\xff") or head[:4] in (b"<\x00?\x00", b"\x00<\x00?", b"<\x00\x00\x00")


# ============================================================================================
# the schema: compiled per namespace, content models for the diagnosis
# ============================================================================================


@lru_cache(maxsize=8)
def _schema(xsd_path: str, namespace: str) -> etree.XMLSchema:
    """The official XSD with its target namespace set to ``namespace`` ('' = no namespace)."""
    text = Path(xsd_path).read_text(encoding="utf-8")
    if namespace == "":
        text = text.replace(f' targetNamespace="{NS_23}"', "").replace(f' xmlns:lheo="{NS_23}"', "")
        text = re.sub(r'(\s(?:ref|type|base)=")lheo:', r"\1", text)
    elif namespace != NS_23:
        text = text.replace(f'"{NS_23}"', f'"{namespace}"')
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.fromstring(text.encode("utf-8"), parser))


@dataclass(frozen=True)
class _Models:
    """Per element name: its children in LHEO order with (minOccurs, maxOccurs or None)."""

    sequences: dict[str, tuple[tuple[str, int, int | None], ...]]
    elements: frozenset[str]
    orders: dict[str, dict[str, int]]  # per element name: child name -> its rank in the sequence


@lru_cache(maxsize=2)
def _models(xsd_path: str) -> _Models:
    xs = "{http://www.w3.org/2001/XMLSchema}"
    doc = etree.parse(xsd_path, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    sequences: dict[str, tuple] = {}
    for ct in doc.getroot().iterfind(f"{xs}complexType"):
        name = ct.get("name") or ""
        seq = ct.find(f"{xs}sequence")
        if not name.endswith("-subtype") or seq is None:
            continue
        children = []
        for el in seq.iterfind(f"{xs}element"):
            ref = (el.get("ref") or "").rpartition(":")[2]
            hi = el.get("maxOccurs", "1")
            children.append((ref, int(el.get("minOccurs", "1")), None if hi == "unbounded" else int(hi)))
        sequences[name[: -len("-subtype")]] = tuple(children)
    elements = frozenset(e.get("name") for e in doc.getroot().iterfind(f"{xs}element"))
    orders = {name: {child: i for i, (child, _, _) in enumerate(seq)} for name, seq in sequences.items()}
    return _Models(sequences, elements, orders)


# ============================================================================================
# small element helpers: children are looked up by qualified name (C-level ``find``), and a
# missing element reads as None all the way down
# ============================================================================================


class _Q(dict):
    """Qualified tag of a local name in the file's namespace: ``Q["periode"]``."""

    def __init__(self, namespace: str):
        super().__init__()
        self.prefix = f"{{{namespace}}}" if namespace else ""

    def __missing__(self, name: str) -> str:
        value = self[name] = self.prefix + name
        return value


class _LocalNames(dict):
    """Local name of a tag, computed once per tag: ``L["{ns}periode"]`` -> ``periode``."""

    def __missing__(self, tag):
        value = self[tag] = _local(tag)
        return value


def _local(tag) -> str:
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2] if tag[:1] == "{" else tag


def _text(el) -> str | None:
    """Stripped text of ``el`` (all of it when it holds elements); None when empty or absent."""
    if el is None:
        return None
    t = el.text if len(el) == 0 else "".join(el.itertext())
    if not t:
        return None
    t = t.strip()
    return t or None


def _find(el, tag: str):
    return None if el is None else el.find(tag)


def _ft(el, tag: str) -> str | None:
    """Stripped text of the first child ``tag`` of ``el`` (a leaf: one C call)."""
    if el is None:
        return None
    v = el.findtext(tag)
    if v:
        v = v.strip()
        return v or None
    return None


def _kid(el) -> dict:
    """The first child of ``el`` of each tag (one pass: cheaper than a ``find`` per field)."""
    if el is None:
        return {}
    return {c.tag: c for c in reversed(el)}


def _leaf(kids: dict, tag: str) -> str | None:
    """Stripped text of the leaf child ``tag`` (from :func:`_kid`)."""
    c = kids.get(tag)
    if c is None:
        return None
    t = c.text
    if t:
        t = t.strip()
        return t or None
    return None


def _long(kids: dict, tag: str) -> str | None:
    """Stripped text of the child ``tag``, all of it when it holds elements."""
    return _text(kids.get(tag))


def _texts(el, tag: str) -> list[str]:
    if el is None:
        return []
    return [t for t in (_text(c) for c in el.iterfind(tag)) if t]


def _clean_attr(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _attr_text(el, name: str) -> str | None:
    return None if el is None else _clean_attr(el.get(name))


def _extras_values(el, extra: str) -> dict[str, Any]:
    """``extra`` children (qualified tag ``extra``) of an ``extras`` element, by ``info`` (the
    first occurrence of each wins)."""
    out: dict[str, Any] = {}
    for c in el:
        if c.tag == extra:
            info = c.get("info")
            if info and info not in out:
                out[info] = c
    return out


def _sub_extras(el, info: str, extras: str) -> list:
    """``extras`` children (qualified tag ``extras``) of ``el`` whose ``info`` is ``info``."""
    return [c for c in el if c.tag == extras and c.get("info") == info]


def _named(*names: str | None) -> str | None:
    """The first name that is not empty nor LHEO's ``-``."""
    return next((n for n in names if n and n != UNKNOWN), None)


def _address_parts(lines: list[str] | None) -> tuple[str | None, str | None]:
    """``ligne`` elements -> (address line, complement): the first real line, then the others."""
    real = [x for x in (lines or ()) if x and x != UNKNOWN]
    if not real:
        return None, None
    return real[0], (" ".join(real[1:]) or None)


def _one_line(addr: dict) -> str | None:
    parts = [x for x in (addr.get("lines") or ()) if x != UNKNOWN]
    tail = " ".join(p for p in (addr.get("postcode"), addr.get("city")) if p)
    text = ", ".join([*parts, tail] if tail else parts)
    return text or None


_NO_ADDRESS: dict = {"denomination": None, "lines": [], "postcode": None, "city": None, "insee": None}
_NO_CONTACT: dict = {"name": None, "phone": None, "email": None, "place": None, **_NO_ADDRESS}


# ============================================================================================
# the reader
# ============================================================================================

# Raw columns (text unless said) of each level, before typing. ``*_id`` number the elements of a
# level in document order: a record refers to its parent's occurrence by id (its ``numero`` may be
# missing or repeated, and a minified file has every element on line 1).
_F_RAW = [
    "f_id",
    "f_line",
    "numero",
    "title",
    "objective",
    "content",
    "prerequisites",
    "certifiante",
    "formacode",
    "formacode_ref",
    "formacodes",
    "formacode_refs",
    "nsf",
    "rome",
    "rome_all",
    "nsf_all",
    "formacode_others",
    "rncp",
    "rs",
    "certifinfo",
    "cpf",
    "niveau_entree",
    "niveau_sortie",
    "objectif_general",
    "parcours",
    "resultats_attendus",
    "url",
    "datecrea",
    "datemaj",
    "contact_nom",
    "contact_tel",
    "contact_courriel",
    "responsable_numero",
    "responsable_nom",
    "responsable_raison_sociale",
    "responsable_siret",
    "responsable_nda",
    "responsable_uai",
    "responsable_contact_nom",
    "responsable_contact_tel",
    "responsable_contact_courriel",
    "responsable_adresse",
    "responsable_codepostal",
    "responsable_ville",
    "edof_resume_contenu",
    "error",
]
_A_RAW = [
    "a_id",
    "f_id",
    "a_line",
    "f_numero",
    "numero",
    "datecrea",
    "datemaj",
    "public_vise",
    "public_vise_ref",
    "rythme",
    "modalites_enseignement",
    "conditions_specifiques",
    "url",
    "lieu_nom",
    "address_line",
    "address_complement",
    "postcode",
    "city",
    "insee_code",
    "entry",
    "formateur",
    "siret",
    "formateur_numero",
    "formateur_contact_nom",
    "formateur_contact_tel",
    "formateur_contact_courriel",
    "autres_formateurs_siret",
    "hours_centre",
    "hours_company",
    "nombre_heures_total",
    "duree_indicative",
    "prix_total_ttc",
    "prix_horaire_ttc",
    "frais_ht",
    "frais_ttc",
    "taux_tva",
    "dates_information",
    "adresse_information",
    "financer",
    "places",
    "places_region",
    "places_pole_emploi",
    "perimee",
]
_S_RAW = [
    "s_id",
    "a_id",
    "f_id",
    "s_line",
    "f_numero",
    "a_numero",
    "numero",
    "datecrea",
    "datemaj",
    "debut",
    "fin",
    "inscription_debut",
    "inscription_fin",
    "etat",
    "site",
    "address_line",
    "address_complement",
    "postcode",
    "city",
    "insee_code",
    "contact_nom",
    "contact_tel",
    "contact_courriel",
    "contact_origin",
    "annulee",
    "public",
    "statut_publication",
    "mouvement",
    "marche",
    "places_pe_extra",
    "garantie",
    "perimee",
    "url",
    "modalites_particulieres",
    "edof",
]
_E_RAW = [
    "e_id",
    "s_id",
    "e_line",
    "s_numero",
    "numero",
    "type",
    "date",
    "heure_debut",
    "heure_fin",
    "lieu",
    "places",
    "annule",
]
_FI_RAW = ["a_id", "f_id", "fi_line", "f_numero", "a_numero", "code", "places"]
_M_RAW = ["kind", "m_line", "numero", "reason"]  # records out of their place (quarantined)
_LIST_COLS = {
    "formacodes",
    "formacode_refs",
    "nsf",
    "rome",
    "public_vise",
    "autres_formateurs_siret",
    "dates_information",
}


_POSITION_COLS = {"f_id", "a_id", "s_id", "e_id", "f_line", "a_line", "s_line", "e_line", "fi_line", "m_line"}


def _raw_type(name: str) -> pa.DataType:
    if name in _POSITION_COLS:
        return pa.int64()
    return _LS if name in _LIST_COLS else _S


class _Rows:
    """Rows of one level (dicts; absent keys are null), turned into Arrow record batches every
    :data:`_ROW_CHUNK` rows so that a national file is not held as Python objects."""

    def __init__(self, names: list[str]):
        self.schema = pa.schema([(n, _raw_type(n)) for n in names])
        self.rows: list[dict] = []
        self.batches: list[pa.RecordBatch] = []
        self.count = 0

    def add(self, row: dict) -> None:
        self.rows.append(row)
        self.count += 1
        if len(self.rows) >= _ROW_CHUNK:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.batches.append(pa.RecordBatch.from_pylist(self.rows, schema=self.schema))
            self.rows = []

    def frame(self) -> pd.DataFrame:
        self.flush()
        table = pa.Table.from_batches(self.batches, schema=self.schema)
        self.batches = []
        return table.to_pandas(types_mapper=pd.ArrowDtype)


class _Problems:
    """Schema findings (warnings), at most :data:`FINDINGS_PER_PROBLEM` per problem and file,
    the rest counted. ``build`` makes ``(message, line, field, value)`` only when it is needed, so
    that a file repeating one problem a million times costs a count, not a million messages."""

    def __init__(self, fc: FindingCollector):
        self.fc = fc
        self.counts: dict[tuple, int] = {}
        self.first: dict[tuple, tuple] = {}

    def add(self, signature: tuple, build, severity: str = "warning") -> None:
        n = self.counts.get(signature, 0) + 1
        self.counts[signature] = n
        if n > FINDINGS_PER_PROBLEM:
            return
        message, line, field, value = build()
        if n == 1:
            self.first[signature] = (message, line, field, severity)
        self.fc.add(RULE, severity, message, line=line, field=field, value=value)

    def close(self) -> None:
        for sig, n in self.counts.items():
            extra = n - FINDINGS_PER_PROBLEM
            if extra > 0:
                message, line, field, severity = self.first[sig]
                self.fc.add(
                    RULE,
                    severity,
                    f"Le même problème se répète {extra} autre(s) fois dans le fichier (seules les "
                    f"{FINDINGS_PER_PROBLEM} premières occurrences sont listées). Première occurrence : {message}",
                    line=line,
                    field=field,
                )


class _Reader:
    def __init__(self, path: Path, name: str, producer: str | None, extract_date: date | None):
        self.path = path
        self.name = name
        self.producer = producer
        self.fc = FindingCollector(SOURCE, name)
        self.problems = _Problems(self.fc)
        self.res = ExtractRead(
            source=SOURCE,
            kind=producer or "",
            file=name,
            extract_date=extract_date,
            rows_read={"": 0},
            tables=_empty_tables(),
        )
        self.F, self.A, self.S, self.E = _Rows(_F_RAW), _Rows(_A_RAW), _Rows(_S_RAW), _Rows(_E_RAW)
        self.FI, self.M = _Rows(_FI_RAW), _Rows(_M_RAW)
        self.edof = False
        self.namespace = ""
        self.Q = _Q("")
        self.local = _LocalNames()
        self.schema: etree.XMLSchema | None = None
        self.models: _Models | None = None
        self.feed: _Feed | None = None
        self.partial_dates = 0
        self.late_findings: list[pd.DataFrame] = []
        self.wrong_root: _Rejected | None = None
        self.ids = itertools.count()  # ids of the records (unique in the file, whatever their level)
        self.staged: list | None = None
        self.responsable: dict = {}  # of the formation being mapped (an action without formateur is given by it)

    # --- file level ---------------------------------------------------------------------------

    def fail(self, message: str, line: int | None = None, field: str | None = None, value: object = None) -> None:
        self.fc.add(RULE, "error", message, line=line, field=field, value=value)
        self.res.ok = False

    def run(self) -> ExtractRead:
        res = self.res
        if self.producer is None:
            self.fail(
                f"Le nom du fichier « {self.name} » ne suit pas le contrat lheo_<producteur>_AAAAMMJJ.xml "
                "(producteur en minuscules, ex. lheo_intercarif_20261120.xml) : le producteur n'est pas connu, "
                "le fichier n'est pas lu. Renommer le fichier.",
                field="nom du fichier",
                value=self.name,
            )
            res.sha256 = _sha256_of(self.path)
            res.findings = self.fc.frame()
            return res
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 (closed below, after the hash is complete)
        except OSError as exc:
            self.fail(f"Le fichier LHEO ne peut pas être lu ({exc.strerror or exc}). Déposer à nouveau l'export.")
            res.findings = self.fc.frame()
            return res
        raw = _HashingFile(fh)
        rejected: _Rejected | None = None
        try:
            try:
                self._parse(raw)
            except _Rejected as exc:
                rejected = exc
            raw.drain()
        except OSError as exc:
            rejected = _Rejected(
                f"Le fichier LHEO n'a pas pu être lu jusqu'au bout ({exc}). Déposer à nouveau l'export."
            )
        finally:
            fh.close()
        res.sha256 = raw.sha.hexdigest()
        if rejected is not None:
            self.fail(rejected.message, line=rejected.line, field=rejected.field, value=rejected.value)
        self.problems.close()
        try:
            self._finish(rejected.message if rejected is not None else None)
        except Exception as exc:  # an unforeseen input must not lose the file silently  # noqa: BLE001
            self.fail(
                f"Le fichier LHEO n'a pas pu être lu jusqu'au bout ({type(exc).__name__} : {exc}). "
                "Fichier non lu ; le signaler à l'équipe Passerelle avec le fichier."
            )
            res.tables = _empty_tables()
            res.quarantine = empty_frame(QUARANTINE)
            res.rows_read = {"": 0}
            self.late_findings = []
        res.findings = _sorted(concat_findings([self.fc.frame(), *self.late_findings]))
        return res

    def _parse(self, raw: _HashingFile) -> None:
        head = raw.read(_READ_CHUNK)
        if not head.strip(b" \t\r\n\x00"):
            raise _Rejected("Le fichier LHEO est vide. Demander au producteur un export complet (racine <lheo>).")
        stream: Any = raw
        if head[:2] == b"\x1f\x8b":
            stream = _BoundedGzip(_Replay(head, raw), max_decompressed_bytes(self.path.stat().st_size))
            head = stream.read(_READ_CHUNK)
            if not head.strip(b" \t\r\n\x00"):
                raise _Rejected("Le fichier LHEO (décompressé) est vide. Demander au producteur un export complet.")
        # the whole prolog, to refuse a DOCTYPE before the parser sees it
        while True:
            status, line, snippet = _prolog(_to_utf8(head) if _utf16(head) else head)
            if status != "incomplete" or len(head) > _PROLOG_MAX:
                break
            more = stream.read(_READ_CHUNK)
            if not more:
                break
            head += more
        if status == "doctype":
            raise _Rejected(DOCTYPE_MESSAGE, line=line, field="DOCTYPE", value=snippet)
        if status == "incomplete" and len(head) > _PROLOG_MAX:
            raise _Rejected(
                "Le début du fichier LHEO (déclaration et commentaires avant la racine) dépasse 1 Mo : "
                "refusé par sécurité. Demander au producteur un export LHEO ordinaire."
            )
        stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if not _utf16(head) and not stripped.startswith(b"<"):
            raise _Rejected(
                "Le fichier n'est pas un document XML (il ne commence pas par une balise) : ce n'est pas "
                "un export LHEO. Vérifier le fichier déposé.",
                line=1,
                field="contenu",
                value=stripped[:40].decode("utf-8", errors="replace"),
            )
        force = self._encoding(head)
        self.feed = _Feed(stream, head, scan=not _utf16(head))
        self._iterate(force)

    def _encoding(self, head: bytes) -> str | None:
        m = _XML_DECL.match(head[:512])
        declared = m[1].decode("ascii").lower() if m else None
        self.res.encoding = declared or ("utf-16" if _utf16(head) else "utf-8")
        if declared in _LATIN and not head.isascii():
            sample = head[: 1 << 20]
            try:
                sample.decode("utf-8")
            except UnicodeDecodeError as exc:
                if exc.start < len(sample) - 4:  # a real Latin byte, not a character cut at the end
                    return None
            self.fc.add(
                RULE,
                "warning",
                f"Le fichier LHEO déclare l'encodage « {declared} » mais son contenu est en UTF-8 : il est lu "
                "en UTF-8. Demander au producteur de corriger la déclaration <?xml ... encoding=...?>.",
                line=1,
                field="encoding",
                value=declared,
            )
            self.res.encoding = "utf-8"
            return "utf-8"
        return None

    def _iterate(self, force: str | None) -> None:
        ctx = etree.iterparse(
            self.feed,
            events=("start", "end"),
            tag=("{*}formation", "{*}resume-offre", "{*}action", "{*}session"),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
            encoding=force,
        )
        checked = False
        depth = 0  # open records (formation / resume-offre)
        etree.clear_error_log()  # (libxml2's log of this thread: the errors of this file only)
        try:
            for event, el in ctx:
                if not checked:
                    checked = True
                    self._check_root(el.getroottree())
                tag = el.tag
                record = tag.endswith(("}formation", "}resume-offre")) or tag in ("formation", "resume-offre")
                if event == "start":
                    depth += record
                    continue
                if record:
                    depth -= 1
                    if depth:  # a formation inside a formation: handled with the outer one
                        continue
                    self._record(el)
                elif depth:
                    continue  # read with its formation
                else:
                    parent = el.getparent()
                    if parent is not None and _local(parent.tag) == "action":
                        continue  # a session of a stray action: counted with it
                    self._stray(el)
                el.clear(keep_tail=False)
                parent = el.getparent()
                if parent is not None:
                    while el.getprevious() is not None:
                        del parent[0]
        except etree.XMLSyntaxError as exc:
            # iterparse sometimes reports a generic "no element found" at 0:0: libxml2's own first
            # fatal error says what and where
            fatal = next((e for e in exc.error_log if e.level_name == "FATAL"), None)
            msg, line, col = (
                (fatal.message, fatal.line, fatal.column)
                if fatal is not None
                else (exc.msg or str(exc), *(exc.position or (exc.lineno, exc.offset)))
            )
            feed = self.feed
            at_end = feed is not None and feed.eof and line is not None and line >= feed.line - 1
            raise _Rejected(_syntax_message(msg, line, col, at_end), line=line) from None
        root = ctx.root
        if root is None:
            raise _Rejected("Le fichier LHEO ne contient aucun élément XML. Demander au producteur un export complet.")
        if not checked:
            self._check_root(root.getroottree())
        if self.wrong_root is not None:
            raise self.wrong_root

    def _check_root(self, tree) -> None:
        info = tree.docinfo
        if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
            raise _Rejected(DOCTYPE_MESSAGE, field="DOCTYPE", value=info.doctype or None)
        root = tree.getroot()
        tag = root.tag if isinstance(root.tag, str) else ""
        ns, local = tag[1:].split("}", 1) if tag.startswith("{") else ("", tag)
        if local not in ("lheo", "lheo-index"):
            # the file is refused, but its records are still counted (and quarantined)
            self.wrong_root = _Rejected(
                f"La racine du fichier est <{local or '?'}> au lieu de <lheo> : ce n'est pas un "
                "export LHEO (offres de formation). Vérifier le fichier déposé.",
                line=_approx_line(root),
                field="/" + (local or "?"),
                value=tag,
            )
        self.namespace = ns
        self.Q = _Q(ns)
        self.edof = ns == NS_EDOF
        if ns not in DIALECTS:
            self.fc.add(
                RULE,
                "warning",
                f"Espace de noms « {ns} » inconnu pour un fichier LHEO (attendu {NS_23}, {NS_22} ou "
                f"{NS_EDOF}) : le fichier est lu comme du LHEO 2.3.",
                line=_approx_line(root),
                field="/" + local,
                value=ns,
            )
        elif ns == "":
            self.fc.add(
                RULE,
                "info",
                "Le fichier LHEO ne déclare pas d'espace de noms : il est lu comme du LHEO 2.3.",
                line=_approx_line(root),
                field="/" + local,
            )
        if local == "lheo-index":
            self.fc.add(
                RULE,
                "info",
                "Fichier d'index LHEO (<lheo-index>, résumés d'offres) : chaque <resume-offre> est lu comme une "
                "formation et une action avec leurs sessions ; un résumé ne donne ni contact ni organisme "
                "responsable.",
                line=_approx_line(root),
                field="/lheo-index",
            )
        xsd = official_xsd()
        if xsd is None:
            self.fc.add(
                RULE,
                "info",
                "Le schéma officiel LHEO 2.3 (lheo.xsd) n'est pas disponible : les formations ne sont pas "
                "vérifiées contre lui (PASSERELLE_LHEO_XSD).",
                field="lheo.xsd",
            )
        else:
            self.schema = _schema(str(xsd), ns)
            self.models = _models(str(xsd))

    # --- one record ------------------------------------------------------------------------------

    def _line(self, el) -> int | None:
        approx = _approx_line(el)
        return self.feed.line_of(el.tag.rpartition("}")[2], approx) if self.feed is not None else approx

    def _stray(self, el) -> None:
        """An ``<action>`` or ``<session>`` outside any formation: counted, quarantined."""
        where = _local(el.getparent().tag) if el.getparent() is not None else "?"
        line = self._line(el)
        for sub in el.iter("{*}action", "{*}session"):
            sub_kind = _local(sub.tag)
            self.M.add(
                {
                    "kind": sub_kind,
                    "m_line": line if sub is el else self._line(sub),
                    "numero": _clean_attr(sub.get("numero")),
                    "reason": f"<{sub_kind}> placée hors d'une <formation> (dans <{where}>) : elle ne peut pas être "
                    "rattachée à une formation. Le producteur doit corriger la structure de son export.",
                }
            )

    def _record(self, el) -> None:
        local = _local(el.tag)
        line = self._line(el)
        lines = {el: line}
        for sub in el.iter("{*}action", "{*}session", "{*}formation"):
            if sub is not el:
                lines[sub] = self._line(sub)
        numero = _clean_attr(el.get("numero"))
        base = _approx_line(el)
        if self.schema is not None:
            try:
                valid = self.schema.validate(el)
            except etree.XMLSchemaValidateError:
                valid = False
            if not valid:
                self._diagnose(el, numero, line, base)
        # the rows of one formation are staged, then added together: a formation whose mapping
        # fails on an unforeseen structure leaves no half of itself behind
        self.staged = []
        f_id = next(self.ids)
        mapped: set = set()
        try:
            if local == "resume-offre":
                self._map_resume(el, f_id, numero, line, lines, mapped)
            else:
                self._map_formation(el, f_id, numero, line, lines, mapped)
        except Exception as exc:  # an unforeseen structure: this formation only  # noqa: BLE001
            self.F.add({"f_id": f_id, "f_line": line, "numero": numero, "error": f"{type(exc).__name__} : {exc}"})
            reason = (
                f"Mise de côté avec la formation « {numero or 'sans numéro'} » (ligne {line}), illisible "
                f"({type(exc).__name__} : {exc})."
            )
            for sub, sub_line in lines.items():
                if sub is not el:
                    self.M.add(
                        {
                            "kind": _local(sub.tag),
                            "m_line": sub_line,
                            "numero": _clean_attr(sub.get("numero")),
                            "reason": reason,
                        }
                    )
            for ev in el.iter("{*}extras"):
                if ev.get("info") == "evenement":
                    self.M.add(
                        {
                            "kind": "event",
                            "m_line": self._rel_line(ev, line, base),
                            "numero": _clean_attr(ev.get("numero")),
                            "reason": reason,
                        }
                    )
            return
        finally:
            staged, self.staged = self.staged, None
        for rows, row in staged:
            rows.add(row)
        for sub, sub_line in lines.items():
            if sub is el or sub in mapped:
                continue
            kind = _local(sub.tag)
            self.M.add(
                {
                    "kind": kind,
                    "m_line": sub_line,
                    "numero": _clean_attr(sub.get("numero")),
                    "reason": f"<{kind}> placée dans <{_local(sub.getparent().tag)}> de la formation "
                    f"« {numero or 'sans numéro'} » au lieu de sa place LHEO (formation > action > "
                    f"session) : elle n'est pas lue. Le producteur doit corriger la structure.",
                }
            )

    def _emit(self, rows: _Rows, row: dict) -> None:
        assert self.staged is not None, "rows are emitted while a formation is mapped"
        self.staged.append((rows, row))

    def _rel_line(self, el, line: int | None, base: int | None) -> int | None:
        """``el``'s line, placed relative to a record whose exact line is ``line`` (libxml2's ``base``)."""
        n = _approx_line(el)
        if line is None or base is None or n is None:
            return line
        return line + max(0, n - base)

    # --- schema diagnosis --------------------------------------------------------------------------

    def _diagnose(self, formation, numero: str | None, line: int | None, base: int | None) -> None:
        """Findings for a formation that failed the XSD: its structure checked against the content
        models (every problem, where libxml2 stops at the first of each element), then the value
        errors libxml2 reported. Messages are built only for the findings that are written."""
        models = self.models
        who = f"Formation « {numero} »" if numero else "Formation sans numéro"
        add = self.problems.add

        def place(el):
            return self._rel_line(el, line, base), _path(el, formation)

        assert models is not None and self.schema is not None, "diagnosed only when the XSD is there"
        unknown: set = set()
        local = self.local
        for el in formation.iter():
            name = local[el.tag]
            seq = models.sequences.get(name) if name else None
            if seq is None:
                continue
            order = models.orders[name]
            counts: dict[str, int] = {}
            last, disorder = -1, None
            for c in el:
                cname = local[c.tag]
                if not cname:
                    continue
                if cname not in order:
                    unknown.add(c)

                    def unknown_child(c=c, cname=cname, name=name, seq=seq):
                        allowed = ", ".join(f"<{n}>" for n, _, _ in seq[:10]) + (" …" if len(seq) > 10 else "")
                        return (
                            f"{who} : élément <{cname}> inconnu du format LHEO à cet endroit, dans <{name}> "
                            f"(éléments admis : {allowed}) ; son contenu est ignoré.",
                            *place(c),
                            cname,
                        )

                    add(("unknown", name, cname), unknown_child)
                    continue
                counts[cname] = counts.get(cname, 0) + 1
                if order[cname] < last and disorder is None:
                    disorder = c
                last = max(last, order[cname])
            if disorder is not None:
                dname = _local(disorder.tag)
                add(
                    ("order", name, dname),
                    lambda d=disorder, dname=dname, name=name: (
                        f"{who} : dans <{name}>, l'élément <{dname}> n'est pas à sa place dans l'ordre LHEO ; "
                        "il est lu quand même.",
                        *place(d),
                        dname,
                    ),
                )
            for child, lo, hi in seq:
                n = counts.get(child, 0)
                if n < lo:
                    add(
                        ("missing", name, child),
                        lambda el=el, child=child, name=name: (
                            f"{who} : l'élément <{child}>, obligatoire en LHEO, manque dans <{name}>. La formation est "
                            "lue sans lui ; le producteur devrait le renseigner.",
                            self._rel_line(el, line, base),
                            f"{_path(el, formation)}/{child}",
                            None,
                        ),
                    )
                elif hi is not None and n > hi:
                    add(
                        ("too-many", name, child),
                        lambda el=el, child=child, name=name, n=n, hi=hi: (
                            f"{who} : <{name}> contient {n} éléments <{child}> alors que LHEO en admet au plus "
                            f"{hi} ; ils sont lus quand même.",
                            self._rel_line(el, line, base),
                            f"{_path(el, formation)}/{child}",
                            None,
                        ),
                    )
        for err in self.schema.error_log:
            if err.type_name in ("SCHEMAV_ELEMENT_CONTENT", "SCHEMAV_CVC_ELT_1"):
                continue  # structure: diagnosed above, with every problem instead of the first
            el = _error_element(formation, err.path)
            if el is None or el in unknown or any(a in unknown for a in el.iterancestors()):
                continue
            name = _local(el.tag)
            message = err.message or ""
            m = _ATTR_IN_MESSAGE.search(message)
            attr = m[1] if m else ""
            detail = _value_problem(message)

            def value_problem(el=el, name=name, attr=attr, detail=detail):
                value = el.get(attr) if attr else _text(el)
                where = f"l'attribut « {attr} » de <{name}>" if attr else f"<{name}>"
                return (
                    f"{who} : valeur « {value if value is not None else ''} » non conforme au format LHEO pour "
                    f"{where} ({detail}). Elle est lue telle quelle ; le producteur devrait la corriger.",
                    self._rel_line(el, line, base),
                    _path(el, formation) + (f"/@{attr}" if attr else ""),
                    value,
                )

            add(("value", name, attr, detail), value_problem)

    # --- element readers ---------------------------------------------------------------------------

    def _adresse(self, el) -> dict:
        if el is None:
            return _NO_ADDRESS
        Q = self.Q
        k = _kid(el)
        return {
            "denomination": _leaf(k, Q["denomination"]),
            "lines": _texts(el, Q["ligne"]),
            "postcode": _leaf(k, Q["codepostal"]),
            "city": _leaf(k, Q["ville"]),
            "insee": _leaf(k, Q["code-INSEE-commune"]),
        }

    def _coordonnees(self, el) -> dict:
        """Name, phone, mail and address of a ``coordonnees`` element."""
        if el is None:
            return _NO_CONTACT
        Q = self.Q
        k = _kid(el)
        nom, prenom = _leaf(k, Q["nom"]), _leaf(k, Q["prenom"])
        name = " ".join(p for p in (prenom, nom) if p and p != UNKNOWN) or None
        phone = None
        for kind in ("telfixe", "portable"):
            t = k.get(Q[kind])
            if t is not None:
                phone = _ft(t, Q["numtel"]) or _text(t)
                if phone:
                    break
        out: dict[str, Any] = {"name": name, "phone": phone, "email": _leaf(k, Q["courriel"]), "place": nom}
        out.update(self._adresse(k.get(Q["adresse"])))
        if not out["lines"]:
            out["lines"] = _texts(el, Q["ligne"])
        return out

    def _contact(self, el) -> dict:
        """The contact of a ``contact-*`` (or ``coordonnees-organisme``) element."""
        return self._coordonnees(_find(el, self.Q["coordonnees"]))

    def _siret(self, el, wrapper: str) -> str | None:
        w = _find(el, self.Q[wrapper])
        if w is None:
            return None
        return _ft(w, self.Q["SIRET"]) or _text(w)

    # --- mapping -----------------------------------------------------------------------------------

    def _codes(self, el) -> dict:
        """``domaine-formation`` and ``certification`` of a formation or a summary."""
        Q = self.Q
        k = _kid(el)
        dom = k.get(Q["domaine-formation"])
        fcodes = [] if dom is None else dom.findall(Q["code-FORMACODE"])
        principal = next((c for c in fcodes if (c.get("tag") or "").strip().lower() == "principal"), None)
        if principal is None and fcodes:
            principal = fcodes[0]
        romes = _texts(dom, Q["code-ROME"])
        cert = k.get(Q["certification"])
        return {
            "formacode": _text(principal),
            "formacode_ref": _attr_text(principal, "ref"),
            "formacodes": [_text(c) or "" for c in fcodes],
            "formacode_others": " ".join(t for t in (_text(c) for c in fcodes if c is not principal) if t) or None,
            "formacode_refs": [_attr_text(c, "ref") or "" for c in fcodes],
            "nsf": _texts(dom, Q["code-NSF"]),
            "nsf_all": " ".join(_texts(dom, Q["code-NSF"])) or None,
            "rome": romes,
            "rome_all": " ".join(romes) or None,
            "rncp": _ft(cert, Q["code-RNCP"]),
            "rs": _ft(cert, Q["code-RS"]),
            "certifinfo": _ft(cert, Q["code-CERTIFINFO"]),
            "cpf": _ft(cert, Q["code-CPF"]),
            "certifiante": _leaf(k, Q["certifiante"]),
            "title": _long(k, Q["intitule-formation"]),
            "niveau_entree": _leaf(k, Q["code-niveau-entree"]),
        }

    def _map_formation(self, el, f_id: int, numero, line, lines: dict, mapped: set) -> None:
        Q = self.Q
        k = _kid(el)
        contact = self._contact(k.get(Q["contact-formation"]))
        row = self._codes(el)
        row.update(
            {
                "f_id": f_id,
                "f_line": line,
                "numero": numero,
                "objective": _long(k, Q["objectif-formation"]),
                "content": _long(k, Q["contenu-formation"]),
                "niveau_sortie": _leaf(k, Q["code-niveau-sortie"]),
                "objectif_general": _leaf(k, Q["objectif-general-formation"]),
                "parcours": _leaf(k, Q["parcours-de-formation"]),
                "resultats_attendus": _long(k, Q["resultats-attendus"]),
                "url": _ft(k.get(Q["url-formation"]), Q["urlweb"]),
                "datecrea": _clean_attr(el.get("datecrea")),
                "datemaj": _clean_attr(el.get("datemaj")),
                "contact_nom": contact["name"],
                "contact_tel": contact["phone"],
                "contact_courriel": contact["email"],
            }
        )
        resp = self._responsable(k.get(Q["organisme-formation-responsable"]), numero, line)
        row.update(resp)
        self.responsable = resp
        responsable = {
            "name": resp.get("responsable_contact_nom"),
            "phone": resp.get("responsable_contact_tel"),
            "email": resp.get("responsable_contact_courriel"),
        }
        for ex in el.iterfind(Q["extras"]):
            if ex.get("info") == "formation":  # EDOF
                row["edof_resume_contenu"] = _text(_extras_values(ex, Q["extra"]).get("resume-contenu"))
        conditions = None
        fallback = [("formation", contact), ("responsable", responsable)]
        for a in el.iterfind(Q["action"]):
            mapped.add(a)
            cond = self._map_action(a, f_id, numero, lines, fallback, mapped)
            if conditions is None and cond and cond != UNKNOWN:
                conditions = cond
        row["prerequisites"] = conditions
        self._emit(self.F, row)

    def _responsable(self, el, numero: str | None, line: int | None) -> dict:
        if el is None:
            return {}
        Q = self.Q
        k = _kid(el)
        siret = self._siret(el, "SIRET-organisme-formation") or _leaf(k, Q["SIRET"])
        if len(el) == 0 and _text(el):
            siret = _text(el)
            who = f"Formation « {numero} »" if numero else "Formation sans numéro"
            self.problems.add(
                ("bare-siret", "organisme-formation-responsable"),
                lambda: (
                    f"{who} : l'organisme responsable est écrit comme un SIRET nu « {siret} » au lieu de "
                    "<SIRET-organisme-formation><SIRET>…</SIRET></SIRET-organisme-formation> : le SIRET est lu.",
                    line,
                    "formation/organisme-formation-responsable",
                    siret,
                ),
            )
        contact = self._contact(k.get(Q["contact-organisme"]))
        coords = self._contact(k.get(Q["coordonnees-organisme"]))
        return {
            "responsable_numero": _clean_attr(el.get("numero")),
            "responsable_nom": _leaf(k, Q["nom-organisme"]),
            "responsable_raison_sociale": _leaf(k, Q["raison-sociale"]),
            "responsable_siret": siret,
            "responsable_nda": _leaf(k, Q["numero-activite"]),
            "responsable_uai": _leaf(k, Q["code-UAI-organisme-formation"]),
            "responsable_contact_nom": contact["name"],
            "responsable_contact_tel": contact["phone"],
            "responsable_contact_courriel": contact["email"],
            "responsable_adresse": _one_line(coords),
            "responsable_codepostal": coords["postcode"],
            "responsable_ville": coords["city"],
        }

    def _map_action(self, a, f_id: int, f_numero, lines: dict, f_contacts: list, mapped: set) -> str | None:
        Q = self.Q
        ka = _kid(a)
        a_id = next(self.ids)
        a_line = lines.get(a)
        a_numero = _clean_attr(a.get("numero"))
        place = self._coordonnees(_find(ka.get(Q["lieu-de-formation"]), Q["coordonnees"]))
        line1, complement = _address_parts(place["lines"])
        formateurs = a.findall(Q["organisme-formateur"])
        first = formateurs[0] if formateurs else None
        formateur_contact = self._contact(_find(first, Q["contact-formateur"]))
        public = a.findall(Q["code-public-vise"])
        info = ka.get(Q["adresse-information"])
        row = {
            "a_id": a_id,
            "f_id": f_id,
            "a_line": a_line,
            "f_numero": f_numero,
            "numero": a_numero,
            "datecrea": _clean_attr(a.get("datecrea")),
            "datemaj": _clean_attr(a.get("datemaj")),
            "public_vise": [t for t in (_text(c) for c in public) if t],
            "public_vise_ref": _attr_text(public[0], "ref") if public else None,
            "rythme": _leaf(ka, Q["rythme-formation"]),
            "modalites_enseignement": _leaf(ka, Q["modalites-enseignement"]),
            "conditions_specifiques": _long(ka, Q["conditions-specifiques"]),
            "url": _ft(ka.get(Q["url-action"]), Q["urlweb"]),
            "lieu_nom": place["place"],
            "address_line": line1,
            "address_complement": complement,
            "postcode": place["postcode"],
            "city": place["city"],
            "insee_code": place["insee"],
            "entry": _leaf(ka, Q["modalites-entrees-sorties"]),
            "formateur": _ft(first, Q["raison-sociale-formateur"])
            if first is not None
            else _named(self.responsable.get("responsable_raison_sociale"), self.responsable.get("responsable_nom")),
            "siret": self._siret(first, "SIRET-formateur")
            if first is not None
            else self.responsable.get("responsable_siret"),
            "formateur_numero": _attr_text(first, "numero"),
            "formateur_contact_nom": formateur_contact["name"],
            "formateur_contact_tel": formateur_contact["phone"],
            "formateur_contact_courriel": formateur_contact["email"],
            "autres_formateurs_siret": [self._siret(o, "SIRET-formateur") or "" for o in formateurs[1:]],
            "hours_centre": _leaf(ka, Q["nombre-heures-centre"]),
            "hours_company": _leaf(ka, Q["nombre-heures-entreprise"]),
            "nombre_heures_total": _leaf(ka, Q["nombre-heures-total"]),
            "duree_indicative": _leaf(ka, Q["duree-indicative"]),
            "prix_total_ttc": _leaf(ka, Q["prix-total-TTC"]),
            "prix_horaire_ttc": _leaf(ka, Q["prix-horaire-TTC"]),
            "dates_information": [t for t in (_ft(d, Q["date"]) for d in a.iterfind(Q["date-information"])) if t],
            "adresse_information": _one_line(self._adresse(info.find(Q["adresse"]))) if info is not None else None,
        }
        perimee = False
        edof_contact = _NO_CONTACT
        for ex in a.iterfind(Q["extras"]):
            values = _extras_values(ex, Q["extra"])
            if ex.get("info") == "action":  # EDOF
                for fees in _sub_extras(ex, "frais-pedagogiques", Q["extras"]):
                    v = _extras_values(fees, Q["extra"])
                    row.update(
                        {
                            "frais_ht": _text(v.get("frais-ht")),
                            "frais_ttc": _text(v.get("frais-ttc")),
                            "taux_tva": _text(v.get("taux-tva")),
                        }
                    )
                ci = values.get("contact-information")
                if ci is not None:
                    edof_contact = self._coordonnees(ci.find(Q["coordonnees"]))
            if _text(values.get("action-perimee")) == "1":
                perimee = True
        row["perimee"] = "1" if perimee else None
        # financers: places per action and financer
        total: int | None = None
        by_code: dict[str, int] = {}
        first_code: str | None = None
        codes: list[str] = []
        a_base = _approx_line(a)
        for fin in a.iterfind(Q["organisme-financeur"]):
            code = _ft(fin, Q["code-financeur"])
            places = _ft(fin, Q["nb-places-financees"])
            self._emit(
                self.FI,
                {
                    "a_id": a_id,
                    "f_id": f_id,
                    "fi_line": self._rel_line(fin, a_line, a_base),
                    "f_numero": f_numero,
                    "a_numero": a_numero,
                    "code": code,
                    "places": places,
                },
            )
            codes.append(code or "?")
            if first_code is None and code:
                first_code = code
            if places is not None and places.isdigit():
                total = (total or 0) + int(places)
                if code:
                    by_code[code] = by_code.get(code, 0) + int(places)
        if codes and total is None:
            self.problems.add(
                ("financers-without-places",),
                lambda: (
                    f"Action « {a_numero or 'sans numéro'} » : aucun de ses financeurs (code(s) {', '.join(codes)}) ne "
                    "donne de nombre de places financées (nb-places-financees) : les places de ses sessions restent "
                    "inconnues.",
                    a_line,
                    "action/organisme-financeur/nb-places-financees",
                    None,
                ),
                severity="info",
            )
        row.update(
            {
                "financer": first_code,
                "places": None if total is None else str(total),
                "places_region": str(by_code["2"]) if "2" in by_code else None,
                "places_pole_emploi": str(by_code["4"]) if "4" in by_code else None,
            }
        )
        self._emit(self.A, row)
        fallback = [("formateur", formateur_contact), ("edof-action", edof_contact), *f_contacts]
        for s in a.iterfind(Q["session"]):
            mapped.add(s)
            self._map_session(s, a_id, f_id, a_numero, f_numero, lines, fallback, perimee)
        return row["conditions_specifiques"]

    def _map_session(
        self,
        s,
        a_id: int,
        f_id: int,
        a_numero,
        f_numero,
        lines: dict,
        fallback: list,
        perimee: bool,
        numero: str | None = None,
    ) -> None:
        Q = self.Q
        ks = _kid(s)
        s_id = next(self.ids)
        s_line = lines.get(s)
        s_numero = numero if numero is not None else _clean_attr(s.get("numero"))
        per = ks.get(Q["periode"])
        insc = _find(ks.get(Q["periode-inscription"]), Q["periode"])
        addr = self._adresse(_find(ks.get(Q["adresse-inscription"]), Q["adresse"]))
        line1, complement = _address_parts(addr["lines"])
        candidates = [("session", self._contact(ks.get(Q["contact-session"])))]
        row = {
            "s_id": s_id,
            "a_id": a_id,
            "f_id": f_id,
            "s_line": s_line,
            "f_numero": f_numero,
            "a_numero": a_numero,
            "numero": s_numero,
            "datecrea": _clean_attr(s.get("datecrea")),
            "datemaj": _clean_attr(s.get("datemaj")),
            "debut": _ft(per, Q["debut"]),
            "fin": _ft(per, Q["fin"]),
            "inscription_debut": _ft(insc, Q["debut"]),
            "inscription_fin": _ft(insc, Q["fin"]),
            "etat": _leaf(ks, Q["etat-recrutement"]),
            "site": addr["denomination"],
            "address_line": line1,
            "address_complement": complement,
            "postcode": addr["postcode"],
            "city": addr["city"],
            "insee_code": addr["insee"],
            "url": _ft(ks.get(Q["url-session"]), Q["urlweb"]),
            "perimee": "1" if perimee else None,
            "edof": "1" if self.edof else None,
        }
        events: list = []
        for ex in s.iterfind(Q["extras"]):
            info = ex.get("info")
            values = _extras_values(ex, Q["extra"])
            if info == "passerelle":  # our own feeds
                row.update(
                    {
                        "annulee": _text(values.get("annulee")),
                        "public": _text(values.get("public")),
                        "statut_publication": _text(values.get("statut-publication")),
                        "mouvement": _text(values.get("mouvement")),
                        "marche": _text(values.get("numero-marche")),
                        "places_pe_extra": _text(values.get("places-pole-emploi")),
                    }
                )
                for group in _sub_extras(ex, "evenements", Q["extras"]):
                    events.extend(_sub_extras(group, "evenement", Q["extras"]))
            elif info == "session":  # EDOF
                ci = values.get("contact-inscription")
                if ci is not None:
                    candidates.append(("edof", self._coordonnees(ci.find(Q["coordonnees"]))))
                row["garantie"] = _text(values.get("garantie"))
                row["modalites_particulieres"] = _text(values.get("modalites-particulieres"))
            if _text(values.get("session-perimee")) == "1":
                row["perimee"] = "1"
        # the first complete contact (a person and a phone), else the first with a phone, else
        # the first with a name: taken whole (never a name from one and a phone from another)
        found = [(where, c) for where, c in (*candidates, *fallback) if c["name"] or c["phone"]]
        origin, contact = None, _NO_CONTACT
        for test in (lambda c: c["name"] and c["phone"], lambda c: c["phone"], lambda c: c["name"]):
            best = next(((where, c) for where, c in found if test(c)), None)
            if best is not None:
                origin, contact = best
                break
        row["contact_nom"] = contact["name"]
        row["contact_tel"] = contact["phone"]
        row["contact_courriel"] = contact["email"]
        row["contact_origin"] = origin
        self._emit(self.S, row)
        if events:
            s_base = _approx_line(s)
            for ev in events:
                v = _extras_values(ev, Q["extra"])
                self._emit(
                    self.E,
                    {
                        "e_id": next(self.ids),
                        "s_id": s_id,
                        "e_line": self._rel_line(ev, s_line, s_base),
                        "s_numero": s_numero,
                        "numero": _clean_attr(ev.get("numero")),
                        "type": _text(v.get("type")),
                        "date": _text(v.get("date")),
                        "heure_debut": _text(v.get("heure-debut")),
                        "heure_fin": _text(v.get("heure-fin")),
                        "lieu": _text(v.get("lieu")),
                        "places": _text(v.get("places")),
                        "annule": _text(v.get("annule")),
                    },
                )

    def _map_resume(self, el, f_id: int, numero, line, lines: dict, mapped: set) -> None:
        """An ``<lheo-index>`` summary: formation and action at once, its sessions under it."""
        Q = self.Q
        k = _kid(el)
        org = k.get(Q["nom-organisme"])
        # contact-formation-resume has the children of a coordonnees (nom, telfixe, courriel)
        resume_contact = k.get(Q["contact-formation-resume"])
        contact = _NO_CONTACT if resume_contact is None else self._coordonnees(resume_contact)
        fallback = [("formation", contact)]
        a_id = next(self.ids)
        self._emit(
            self.A,
            {
                "a_id": a_id,
                "f_id": f_id,
                "a_line": line,
                "f_numero": numero,
                "numero": numero,
                "public_vise": _texts(el, Q["code-public-vise"]),
                "modalites_enseignement": _leaf(k, Q["modalites-enseignement"]),
                "postcode": _leaf(k, Q["codepostal"]),
                "city": _leaf(k, Q["ville"]),
                "insee_code": _leaf(k, Q["code-INSEE-commune"]),
                "formateur": _text(org),
                "formateur_numero": _attr_text(org, "numero"),
                "siret": _leaf(k, Q["SIRET"]),
                "nombre_heures_total": _leaf(k, Q["nombre-heures-total"]),
            },
        )
        sessions = el.findall(Q["session"])
        for i, s in enumerate(sessions, start=1):
            mapped.add(s)
            own = _clean_attr(s.get("numero"))
            key = own or (numero if len(sessions) == 1 else (f"{numero}:{i}" if numero else None))
            if own is None and len(sessions) > 1 and numero:
                self.problems.add(
                    ("positional-key", "resume-offre"),
                    lambda s=s: (
                        f"Résumé d'offre « {numero} » : ses {len(sessions)} sessions n'ont pas de numéro ; elles sont "
                        f"identifiées par leur rang (« {numero}:1 »…), ce qui n'est stable d'un jour à l'autre que "
                        "si le producteur garde leur ordre.",
                        lines.get(s),
                        "resume-offre/session",
                        None,
                    ),
                )
            self._map_session(s, a_id, f_id, numero, numero, lines, fallback, False, numero=key)
        row = self._codes(el)
        # the summary's organisation is the offer's: the responsible body (``nom-organisme`` and
        # ``SIRET`` are the children of organisme-formation-responsable in a full offer)
        row.update(
            {
                "f_id": f_id,
                "f_line": line,
                "numero": numero,
                "responsable_numero": _attr_text(org, "numero"),
                "responsable_nom": _text(org),
                "responsable_siret": _leaf(k, Q["SIRET"]),
                "contact_nom": contact["name"],
                "contact_tel": contact["phone"],
                "contact_courriel": contact["email"],
            }
        )
        self._emit(self.F, row)

    # --- tables ------------------------------------------------------------------------------------

    def _finish(self, rejected: str | None) -> None:
        F, A, S, E, FI, M = (
            self.F.frame(),
            self.A.frame(),
            self.S.frame(),
            self.E.frame(),
            self.FI.frame(),
            self.M.frame(),
        )
        res = self.res
        res.rows_read = {"": len(F) + len(A) + len(S) + len(E) + len(M)}
        prefix = f"lheo:{self.producer}:"
        q = _Quarantine(self.name, prefix)
        if len(M):
            q.add(M["kind"].astype("string"), M, "m_line", M["reason"].astype("string"))

        if rejected is not None:
            reason = f"Fichier rejeté : {rejected}"
            for kind, df, ln in (
                ("formation", F, "f_line"),
                ("action", A, "a_line"),
                ("session", S, "s_line"),
                ("event", E, "e_line"),
            ):
                q.add(kind, df, ln, pd.Series(reason, index=df.index, dtype="string"), log=False)
            res.quarantine = q.frame()
            self.late_findings = q.findings
            return

        # each level: what its parents' quarantine takes with it, no numero, repeated numero
        bad_f = q.flag(
            "formation",
            F,
            "f_line",
            F["error"].notna(),
            "Formation illisible (" + F["error"].astype("string").fillna("") + ") : elle est mise de côté "
            "avec ses actions et sessions, le reste du fichier est lu. Signaler le fichier à l'équipe "
            "Passerelle.",
        )
        bad_f = _screen(
            q,
            "formation",
            F,
            bad_f,
            [],
            F["numero"],
            _F_RAW,
            "Formation sans attribut « numero » : elle ne peut pas être identifiée d'un jour à l'autre ; elle "
            "est mise de côté avec ses actions et sessions. Le producteur doit renseigner le numéro.",
        )
        bad_a = _screen(
            q,
            "action",
            A,
            None,
            [("f_id", F.loc[bad_f, "f_id"], "la formation", "f_numero")],
            A["numero"],
            _A_RAW,
            "Action sans attribut « numero » : elle ne peut pas être identifiée ; elle est mise de côté avec "
            "ses sessions. Le producteur doit renseigner le numéro de l'action.",
        )
        bad_s = _screen(
            q,
            "session",
            S,
            None,
            [
                ("f_id", F.loc[bad_f, "f_id"], "la formation", "f_numero"),
                ("a_id", A.loc[bad_a, "a_id"], "l'action", "a_numero"),
            ],
            S["numero"],
            _S_RAW,
            "Session sans attribut « numero » : elle ne peut pas être identifiée d'un jour à l'autre ; elle "
            "est mise de côté. Le producteur doit renseigner le numéro de la session.",
        )
        bad_e = _screen(
            q,
            "event",
            E,
            None,
            [("s_id", S.loc[bad_s, "s_id"], "la session", "s_numero")],
            E["numero"],
            _E_RAW,
            "Événement sans attribut « numero » : il ne peut pas être identifié ; il est mis de côté.",
        )

        res.quarantine = q.frame()
        self.late_findings = q.findings
        kept = {"F": _keep(F, bad_f), "A": _keep(A, bad_a), "S": _keep(S, bad_s), "E": _keep(E, bad_e)}
        kept["FI"] = _keep(FI, ~FI["a_id"].isin(kept["A"]["a_id"]))
        del F, A, S, E, FI, bad_f, bad_a, bad_s, bad_e
        self._build(kept, prefix)

    def _build(self, kept: dict[str, pd.DataFrame], prefix: str) -> None:
        """The canonical and extra tables, one level after the other: each level's raw rows are
        released once its tables are built (at national size the raw and typed tables of every
        level at once would double the reader's memory)."""
        res = self.res
        vf = _Values(self.name)
        tables: dict[str, pd.DataFrame] = {}

        # ---- formations
        F = kept.pop("F")
        fkey = prefix + F["numero"].astype("string")
        f = pd.DataFrame(index=F.index)
        f["formation_key"] = fkey
        _lineage(f, self.name, F["f_line"])
        f["action_number"] = F["numero"].astype("string")
        f["title"] = _token(_dash_null(_clean_html(F["title"], vf)))
        f["objective"] = _multiline(_clean_html(F["objective"], vf))
        f["content"] = _multiline(_clean_html(F["content"], vf))
        f["prerequisites"] = _multiline(_clean_html(F["prerequisites"], vf))
        # every code of the domain, space-separated, the principal FORMACODE first (model.FORMATIONS)
        principal = vf.pattern(F, "formacode", "f_line", _FORMACODE, "code-FORMACODE", _FORMACODE_TEXT)
        others = vf.codes(F, "formacode_others", "f_line", _FORMACODE, "code-FORMACODE", _FORMACODE_TEXT)
        f["formacode"] = _join_codes(principal, others)
        f["formacode_ref"] = _token(_dash_null(F["formacode_ref"])).where(f["formacode"].notna())
        f["rome"] = vf.codes(
            F, "rome_all", "f_line", r"[A-Z]\d{4}", "code-ROME", "un code ROME (une lettre et 4 chiffres)", upper=True
        )
        f["nsf"] = vf.codes(F, "nsf_all", "f_line", r"\d{3}", "code-NSF", "un code NSF de 3 chiffres")
        f["certifinfo"] = vf.pattern(
            F, "certifinfo", "f_line", r"\d{1,10}", "code-CERTIFINFO", "un code CERTIFINFO (1 à 10 chiffres)"
        )
        f["certifying"] = _bool01(F["certifiante"])
        f["rncp"] = _certification(F["rncp"], "RNCP").fillna(_certification(F["rs"], "RS"))
        f["holder_name"] = _token(_dash_null(F["responsable_raison_sociale"])).fillna(
            _token(_dash_null(F["responsable_nom"]))
        )
        f["holder_siret"] = _identifier(F["responsable_siret"])
        f["holder_nda"] = _identifier(F["responsable_nda"])
        tables["formations"] = to_frame(conform(f.reset_index(drop=True), FORMATIONS))
        tables["lheo_formation_extras"] = self._formation_extras(F, fkey, vf)
        del F, f, fkey

        # ---- actions
        A = kept.pop("A")
        akey = prefix + A["numero"].astype("string")
        a_fkey = prefix + A["f_numero"].astype("string")
        a = pd.DataFrame(index=A.index)
        a["action_key"] = akey
        a["formation_key"] = a_fkey
        _lineage(a, self.name, A["a_line"])
        a["organisme_formateur"] = _token(_dash_null(A["formateur"]))
        a["siret_formateur"] = _identifier(A["siret"])
        a["address_line"] = _token(A["address_line"])
        a["postcode"] = _token(A["postcode"])
        a["city"] = _token(_dash_null(A["city"]))
        a["insee_code"] = _token(A["insee_code"])
        a["entry_mode"] = _entry(A["entry"])
        vf.invalid(
            A,
            "entry",
            "a_line",
            _token(A["entry"]).notna() & a["entry_mode"].isna(),
            "modalites-entrees-sorties",
            "0 (entrées fixes) ou 1 (entrées permanentes)",
        )
        a["places"] = vf.count(A, "places", "a_line", "organisme-financeur/nb-places-financees")
        a["hours_centre"] = vf.number(A, "hours_centre", "a_line", "nombre-heures-centre")
        a["hours_company"] = vf.number(A, "hours_company", "a_line", "nombre-heures-entreprise")
        tables["actions"] = to_frame(conform(a.reset_index(drop=True), ACTIONS))
        tables["lheo_action_extras"] = self._action_extras(A, akey, a_fkey, vf)
        del a, akey, a_fkey

        # ---- sessions, with what they take from their action
        S = kept.pop("S")
        by_action = A[
            [
                "a_id",
                "formateur",
                "siret",
                "lieu_nom",
                "address_line",
                "address_complement",
                "postcode",
                "city",
                "insee_code",
                "entry",
                "financer",
                "places",
                "places_region",
                "places_pole_emploi",
                "hours_centre",
                "hours_company",
            ]
        ].set_index("a_id")
        del A

        from_action = functools.partial(_from_parent, S["a_id"], by_action)  # col -> the action's value

        skey = prefix + S["numero"].astype("string")
        s = pd.DataFrame(index=S.index)
        s["session_key"] = skey
        s["action_key"] = prefix + S["a_numero"].astype("string")
        s["formation_key"] = prefix + S["f_numero"].astype("string")
        _lineage(s, self.name, S["s_line"])
        s["source_session_id"] = S["numero"].astype("string")
        s["session_number"] = S["numero"].astype("string")
        s["action_number"] = S["f_numero"].astype("string")  # the formation's numero, as SIGMA's N° Action
        s["marche_numero"] = _token(S["marche"])
        s["organisme_formateur"] = _token(_dash_null(from_action("formateur")))
        s["siret_formateur"] = _identifier(from_action("siret"))
        s["site"] = _token(S["site"])
        s["place_label"] = _token(_dash_null(from_action("lieu_nom")))
        s["address_line"] = _token(S["address_line"])
        s["address_complement"] = _token(S["address_complement"])
        s["postcode"] = _token(S["postcode"])
        s["city"] = _token(_dash_null(S["city"]))
        s["insee_code"] = _token(S["insee_code"])
        # no registration address at all (LHEO requires one; some producers omit it): the
        # action's place of training, where the session is given
        no_address = (s["address_line"].isna() & s["postcode"].isna() & s["city"].isna()).to_numpy(dtype=bool)
        if no_address.any():
            for col in ("address_line", "address_complement", "postcode", "city", "insee_code"):
                given = _token(from_action(col))
                s[col] = s[col].mask(no_address, _dash_null(given) if col == "city" else given)
        for col, raw, tag in (
            ("start_date", "debut", "periode/debut"),
            ("end_date", "fin", "periode/fin"),
            ("prescription_start", "inscription_debut", "periode-inscription/periode/debut"),
            ("prescription_end", "inscription_fin", "periode-inscription/periode/fin"),
        ):
            s[col], partial = vf.lheo_date(S, raw, "s_line", tag, skey)
            self.partial_dates += partial
        s["entry_mode"] = _entry(from_action("entry"))
        cancelled = (_token(S["annulee"]) == "1").fillna(False).astype(bool)
        # places financed go to a session only when it is the only live session of its action
        live_per_action = S.loc[~cancelled, "a_id"].value_counts()
        only = S["a_id"].map(live_per_action).fillna(0).astype(int).eq(1) & ~cancelled
        for col in ("places", "places_region", "places_pole_emploi"):
            s[col] = pd.to_numeric(from_action(col), errors="coerce").astype("Int32").where(only, pd.NA)
        pe_extra = pd.to_numeric(_token(S["places_pe_extra"]), errors="coerce").astype("Int32")
        s["places_pole_emploi"] = pe_extra.fillna(s["places_pole_emploi"])
        for col, raw in (("hours_centre_avg", "hours_centre"), ("hours_company_avg", "hours_company")):
            s[col] = pd.to_numeric(_token(from_action(raw)).str.replace(",", ".", regex=False), errors="coerce").astype(
                "Float64"
            )
        etat = _token(S["etat"])
        s["recruitment_state"] = etat.map(_RECRUITMENT).astype("string")
        vf.invalid(
            S,
            "etat",
            "s_line",
            etat.notna() & s["recruitment_state"].isna(),
            "etat-recrutement",
            "1 (ouvert), 2 (fermé) ou 3 (suspendu)",
            skey,
        )
        perimee = (_token(S["perimee"]) == "1").fillna(False).astype(bool)
        edof_closed = S["edof"].notna() & ~(etat == "1").fillna(False).astype(bool)
        state = pd.Series(pd.NA, index=S.index, dtype="string")
        state = state.mask(
            edof_closed, "EDOF : session non ouverte à l'inscription (etat-recrutement " + etat.fillna("absent") + ")"
        )
        s["workflow_state"] = state.mask(perimee, "session périmée chez le producteur")
        s["workflow_publishable"] = ~(perimee | edof_closed)
        s["cancelled"] = cancelled
        s["contact_name"] = _token(_dash_null(S["contact_nom"]))
        s["contact_phone"] = _token(_dash_null(S["contact_tel"]))
        s["contact_email"] = _token(_dash_null(S["contact_courriel"]))
        s["financer"] = _token(from_action("financer"))
        tables["sessions"] = to_frame(conform(s.reset_index(drop=True), SESSIONS))
        tables["lheo_session_extras"] = self._session_extras(S, skey, prefix)
        del S, s, skey, by_action

        # ---- events (our own feeds' extras)
        E = kept.pop("E")
        e = pd.DataFrame(index=E.index)
        e_skey = prefix + E["s_numero"].astype("string")
        e["event_key"] = prefix + E["numero"].astype("string")
        e["session_key"] = e_skey
        _lineage(e, self.name, E["e_line"])
        etype = _token(E["type"]).str.lower()
        e["is_information_collective"] = (etype == "information-collective").fillna(False).astype(bool)
        e["event_type"] = etype.map(_EVENT_TYPES).astype("string").fillna(etype.str.capitalize())
        e["start_date"], _ = vf.lheo_date(E, "date", "e_line", "extra date", e_skey)
        e["end_date"] = e["start_date"]
        e["start_time"] = _token(E["heure_debut"])
        e["end_time"] = _token(E["heure_fin"])
        e["places"] = vf.count(E, "places", "e_line", "extra places")
        e["cancelled"] = (_token(E["annule"]) == "1").fillna(False).astype(bool)
        lieu = _token(E["lieu"])
        place = lieu.str.extract(r"^(?:(?P<line>.*), )?(?P<pc>\d{5})(?: (?P<city>.+))?$")
        has = place["pc"].notna()
        e["address_line"] = place["line"].astype("string").where(has, lieu)
        e["postcode"] = place["pc"].astype("string")
        e["city"] = place["city"].astype("string")
        tables["events"] = to_frame(conform(e.reset_index(drop=True), EVENTS))
        del E, e
        tables["lheo_financers"] = self._financers(kept.pop("FI"), prefix, vf)
        res.tables = {name: tables[name] for name in ("formations", "actions", "sessions", "events", *EXTRA_TABLES)}
        if self.partial_dates:
            self.fc.add(
                RULE,
                "info",
                f"{self.partial_dates} date(s) du fichier ne donnent que le mois ou l'année (AAAAMM00, "
                "AAAA0000) : elles sont lues comme inconnues ; la valeur écrite par le producteur est gardée "
                "avec la session.",
                field="periode",
            )
        if vf.html:
            self.fc.add(
                RULE,
                "info",
                f"{vf.html} texte(s) du fichier contiennent du HTML (balises ou entités) : il est converti en "
                "texte (paragraphes, retours et listes en lignes, autres balises retirées).",
                field="HTML",
            )
        self.late_findings.extend(vf.frames)

    def _formation_extras(self, F, fkey, vf) -> pd.DataFrame:
        x = pd.DataFrame(index=F.index)
        x["formation_key"] = fkey
        x["source_line"] = pd.array(F["f_line"].fillna(0), dtype="Int32")
        for c in FORMATION_EXTRAS.names[2:]:
            if c in ("resultats_attendus", "edof_resume_contenu"):
                x[c] = _multiline(_clean_html(F[c], vf, count=False))
            elif c in _LIST_COLS:
                x[c] = F[c]
            else:
                x[c] = _token(_dash_null(F[c]))
        return to_frame(conform(x.reset_index(drop=True), FORMATION_EXTRAS))

    def _action_extras(self, A, akey, a_fkey, vf) -> pd.DataFrame:
        x = pd.DataFrame(index=A.index)
        x["action_key"] = akey
        x["formation_key"] = a_fkey
        x["source_line"] = pd.array(A["a_line"].fillna(0), dtype="Int32")
        for c in ACTION_EXTRAS.names[3:]:
            if ACTION_EXTRAS.field(c).type == pa.float64():
                x[c] = vf.number(A, c, "a_line", c.replace("_", "-"))
            elif c in _LIST_COLS:
                x[c] = A[c]
            elif c == "conditions_specifiques":
                x[c] = _multiline(_clean_html(A[c], vf, count=False))
            else:
                x[c] = _token(_dash_null(A[c]))
        return to_frame(conform(x.reset_index(drop=True), ACTION_EXTRAS))

    def _session_extras(self, S, skey, prefix) -> pd.DataFrame:
        x = pd.DataFrame(index=S.index)
        x["session_key"] = skey
        x["action_key"] = prefix + S["a_numero"].astype("string")
        x["source_line"] = pd.array(S["s_line"].fillna(0), dtype="Int32")
        x["numero"] = S["numero"].astype("string")
        for c in (
            "datecrea",
            "datemaj",
            "debut",
            "fin",
            "inscription_debut",
            "inscription_fin",
            "contact_origin",
            "statut_publication",
            "mouvement",
            "url",
            "modalites_particulieres",
        ):
            x[c] = _token(S[c])
        x["etat_recrutement"] = _token(S["etat"])
        x["garantie"] = _bool01(S["garantie"])
        x["public"] = _bool01(S["public"])
        x["perimee"] = (_token(S["perimee"]) == "1").fillna(False).astype(bool)
        return to_frame(conform(x.reset_index(drop=True), SESSION_EXTRAS))

    def _financers(self, FI, prefix, vf) -> pd.DataFrame:
        x = pd.DataFrame(index=FI.index)
        x["action_key"] = prefix + FI["a_numero"].astype("string")
        x["formation_key"] = prefix + FI["f_numero"].astype("string")
        x["source_line"] = pd.array(FI["fi_line"].fillna(0), dtype="Int32")
        x["code_financeur"] = _token(FI["code"])
        x["nb_places"] = vf.count(FI, "places", "fi_line", "nb-places-financees", report=False)
        return to_frame(conform(x.reset_index(drop=True), FINANCERS))


_RECRUITMENT = {"1": model.RECRUITMENT_OPEN, "2": model.RECRUITMENT_CLOSED, "3": model.RECRUITMENT_SUSPENDED}


def _content(raw: list[str]) -> list[str]:
    """The columns that make a record's content (ids and lines excluded)."""
    return [c for c in raw if c not in _POSITION_COLS]


def _from_parent(ids: pd.Series, parents: pd.DataFrame, col: str) -> pd.Series:
    """``col`` of each row's parent (``parents`` indexed by id), as text, aligned on ``ids``."""
    return pd.Series(ids.map(parents[col]).to_numpy(), index=ids.index).astype("string")


def _keep(df: pd.DataFrame, bad: pd.Series) -> pd.DataFrame:
    """``df`` without its ``bad`` rows (itself when there are none: no copy)."""
    return df.loc[~bad] if bad.any() else df


# how a message names a record of each kind: with its article, alone, and "repeated" agreed
_LABELS = {
    "formation": ("la formation", "formation", "répétée"),
    "action": ("l'action", "action", "répétée"),
    "session": ("la session", "session", "répétée"),
    "event": ("l'événement", "événement", "répété"),
}
_LINE_COLS = {"formation": "f_line", "action": "a_line", "session": "s_line", "event": "e_line"}


def _screen(
    q: _Quarantine,
    kind: str,
    df: pd.DataFrame,
    bad: pd.Series | None,
    parents: list,
    key: pd.Series,
    raw: list[str],
    no_numero: str,
) -> pd.Series:
    """The records of one level to quarantine: ``bad`` ones already, those under a quarantined
    parent (``parents``: id column, the parents' quarantined ids, the parent's label and numero
    column), those without ``numero``, then the repeated ``key``."""
    line = _LINE_COLS[kind]
    bad = pd.Series(False, index=df.index) if bad is None else bad
    for id_col, ids, parent, numero_col in parents:
        bad |= q.flag(kind, df, line, df[id_col].isin(ids) & ~bad, _parent_reason(df, parent, numero_col))
    bad |= q.flag(kind, df, line, df["numero"].isna() & ~bad, no_numero)
    return bad | q.duplicates(kind, df, line, key, bad, _content(raw))


def _parent_reason(df: pd.DataFrame, parent: str, numero_col: str) -> pd.Series:
    numero = df[numero_col].astype("string").fillna("sans numéro")
    return f"Mise de côté avec {parent} « " + numero + " », elle-même mise en quarantaine."


class _Replay:
    """``head`` then the rest of ``raw`` (the gzip reader starts from the first bytes)."""

    def __init__(self, head: bytes, raw):
        self.head, self.raw = head, raw

    def read(self, n: int = -1) -> bytes:
        if not self.head:
            return self.raw.read(n)
        if n is None or n < 0:
            data, self.head = self.head + self.raw.read(), b""
            return data
        data, self.head = self.head[:n], self.head[n:]
        return data


def _to_utf8(head: bytes) -> bytes:
    for enc in ("utf-16", "utf-32"):
        try:
            return head[: len(head) - len(head) % 4].decode(enc).encode("utf-8")
        except UnicodeDecodeError:
            continue
    return head


def _sha256_of(path: Path) -> str | None:
    try:
        fh = open(path, "rb")  # noqa: SIM115
    except OSError:
        return None
    raw = _HashingFile(fh)
    try:
        raw.drain()
    finally:
        fh.close()
    return raw.sha.hexdigest()


def _syntax_message(message: str, line: int, col: int, at_end: bool = False) -> str:
    """A French message for libxml2's error (``at_end``: it happened where the file stops)."""
    raw = message.split(", line ")[0].strip()
    low = raw.lower()
    where = f"ligne {line}, colonne {col}"
    if "depth" in low:
        return (
            f"Le fichier LHEO a une imbrication d'éléments trop profonde ({where}) : refusé par sécurité. Demander "
            "au producteur un export LHEO conforme."
        )
    if "resource limit" in low or "huge" in low:
        return (
            f"Le fichier LHEO contient un texte ou un nom démesuré ({where} : {raw}) : refusé par sécurité. "
            "Vérifier le fichier auprès du producteur."
        )
    if "entity" in low:
        return (
            f"Le fichier LHEO utilise une entité non définie ou interdite ({where} : {raw}) : refusé. Demander au "
            "producteur un export sans entité (caractères écrits tels quels)."
        )
    if "encoding" in low or "utf-8" in low or "bytes" in low or "char 0x" in low:
        return (
            f"Le fichier LHEO contient des octets invalides pour son encodage ({where} : {raw}). Demander au "
            "producteur un export dans l'encodage qu'il déclare."
        )
    if "document is empty" in low or "start tag expected" in low:
        return "Le fichier n'est pas un document XML lisible : ce n'est pas un export LHEO. Vérifier le fichier déposé."
    if at_end or "premature end" in low or "end of data" in low or "not finished" in low:
        return (
            f"Le fichier LHEO est tronqué : il s'arrête au milieu d'un élément ({where}). Demander au producteur "
            "de renvoyer l'export complet."
        )
    return (
        f"Le fichier LHEO n'est pas un XML bien formé ({where} : {raw}). Demander au producteur un export complet "
        "et bien formé."
    )


# ============================================================================================
# schema messages
# ============================================================================================

_ATTR_IN_MESSAGE = re.compile(r"attribute '([^']+)'")
_XS_TYPES = {
    "integer": "nombre entier",
    "long": "nombre entier",
    "decimal": "nombre",
    "dateTime": "date et heure",
    "anyURI": "adresse web",
    "ID": "identifiant",
    "IDREF": "référence d'identifiant",
}
_FACETS = [
    (
        re.compile(r"\[facet 'maxLength'\].*length of '(\d+)'.*maximum length of '(\d+)'"),
        lambda m: f"{m[1]} caractères, au plus {m[2]} admis",
    ),
    (
        re.compile(r"\[facet 'minLength'\].*length of '(\d+)'.*minimum length of '(\d+)'"),
        lambda m: f"{m[1]} caractères, au moins {m[2]} attendus",
    ),
    (
        re.compile(r"\[facet 'length'\].*length of '(\d+)'.*length of '(\d+)'"),
        lambda m: f"{m[1]} caractères, {m[2]} attendus",
    ),
    (re.compile(r"\[facet 'pattern'\]"), lambda m: "forme non admise"),
    (re.compile(r"\[facet 'enumeration'\]"), lambda m: "code absent de la table LHEO"),
    (re.compile(r"atomic type '(?:\{[^}]*\})?(?:xs:)?(\w+)'"), lambda m: f"attendu : {_XS_TYPES.get(m[1], m[1])}"),
    (re.compile(r"is not allowed"), lambda m: "attribut non prévu par LHEO"),
]


def _value_problem(message: str) -> str:
    for pattern, text in _FACETS:
        m = pattern.search(message)
        if m:
            return text(m)
    return "valeur non admise"


_STEP = re.compile(r"(?:\*|(?P<name>[^\[]+))(?:\[(?P<index>\d+)\])?")


def _error_element(formation, path: str | None):
    """The element a libxml2 error path designates (the validated formation is the root)."""
    if not path or not path.startswith("/"):
        return None
    el = formation
    for step in path.split("/")[2:]:
        m = _STEP.fullmatch(step)
        if not m:
            return None
        index = int(m["index"] or 1)
        children = [c for c in el if isinstance(c.tag, str)]
        if m["name"]:
            local = m["name"].rpartition(":")[2]
            children = [c for c in children if _local(c.tag) == local]
        if len(children) < index:
            return None
        el = children[index - 1]
    return el


def _path(el, formation) -> str:
    """``formation/action[2]/session/periode``: local names, an index when siblings share a name."""
    steps = []
    node = el
    while node is not None:
        name = _local(node.tag)
        parent = node.getparent()
        if node is formation or parent is None:
            steps.append(name)
            break
        same = [c for c in parent if isinstance(c.tag, str) and _local(c.tag) == name]
        steps.append(f"{name}[{same.index(node) + 1}]" if len(same) > 1 else name)
        node = parent
    return "/".join(reversed(steps))


# ============================================================================================
# the quarantine
# ============================================================================================


class _Quarantine:
    def __init__(self, file: str, prefix: str):
        self.file = file
        self.prefix = prefix
        self.parts: list[pd.DataFrame] = []
        self.findings: list[pd.DataFrame] = []

    def flag(self, kind: str, df: pd.DataFrame, line_col: str, mask: pd.Series, reason, log: bool = True) -> pd.Series:
        mask = mask.fillna(False).astype(bool) if len(mask) else pd.Series(False, index=df.index)
        if mask.any():
            reasons = reason if isinstance(reason, pd.Series) else pd.Series(reason, index=df.index, dtype="string")
            self.add(kind, df.loc[mask], line_col, reasons.loc[mask].astype("string"), log=log)
        return mask

    def add(
        self, kind, rows: pd.DataFrame, line_col: str, reasons: pd.Series, log: bool = True, severity: str = "error"
    ) -> None:
        """Quarantine ``rows`` (``kind``: one kind, or a Series of kinds) with their reasons."""
        if not len(rows):
            return
        kinds = (
            kind.astype("string") if isinstance(kind, pd.Series) else pd.Series(kind, index=rows.index, dtype="string")
        )
        lines = pd.array(rows[line_col].fillna(0), dtype="Int32")
        numero = rows["numero"].astype("string")
        session_key = (self.prefix + numero).where(kinds == "session")
        raw = [
            json.dumps(
                {k: v for k, v in r.items() if k not in _POSITION_COLS and not _missing(v)},
                ensure_ascii=False,
                default=_json_default,
            )
            for r in rows.to_dict("records")
        ]
        self.parts.append(
            pd.DataFrame(
                {
                    "source": SOURCE,
                    "source_file": self.file,
                    "source_sheet": "",
                    "source_line": lines,
                    "kind": kinds.to_numpy(),
                    "session_key": session_key.to_numpy(),
                    "rule": RULE,
                    "reason": reasons.to_numpy(),
                    "raw": raw,
                }
            )
        )
        if log:
            self.findings.append(
                pd.DataFrame(
                    {
                        "rule": RULE,
                        "severity": severity,
                        "source": SOURCE,
                        "file": self.file,
                        "sheet": "",
                        "line": lines,
                        "session_key": session_key.to_numpy(),
                        "field": (kinds + "/@numero").to_numpy(),
                        "value": numero.to_numpy(),
                        "message": ("Mise en quarantaine : " + reasons.astype("string")).to_numpy(),
                    }
                )
            )

    def duplicates(
        self, kind: str, df: pd.DataFrame, line_col: str, key: pd.Series, excluded: pd.Series, content: list[str]
    ) -> pd.Series:
        """Repeated ``key`` (among rows not ``excluded``): identical repetitions -> the first is
        kept, the others quarantined (warning); differing ones -> all quarantined (error)."""
        out = pd.Series(False, index=df.index)
        live = key.notna() & ~excluded
        k = key.where(live)
        dup = k.notna() & k.duplicated(keep=False)
        if not dup.any():
            return out
        sub = df.loc[dup]
        digest = pd.util.hash_pandas_object(sub[content].astype("string").fillna("\x00"), index=False)
        groups = k.loc[dup]
        same = digest.groupby(groups.to_numpy()).transform("nunique").eq(1)
        lines = sub[line_col].astype("string").fillna("?")
        all_lines = lines.groupby(groups.to_numpy()).transform(lambda x: ", ".join(x))
        first_line = lines.groupby(groups.to_numpy()).transform("first")
        # identical: keep the first occurrence
        later = same & groups.duplicated(keep="first")
        if later.any():
            the, noun, repeated = _LABELS[kind]
            reason = (
                f"{the[0].upper()}{the[1:]} « "
                + groups
                + f" » {repeated} à l'identique (lignes "
                + all_lines
                + ") : seule la première occurrence (ligne "
                + first_line
                + ") est gardée."
            )
            idx = later[later].index
            self.add(kind, df.loc[idx], line_col, reason.loc[idx], severity="warning")
            out.loc[idx] = True
        differ = ~same
        if differ.any():
            the, noun, _ = _LABELS[kind]
            reason = (
                f"Numéro de {the} « "
                + groups
                + " » répété avec des contenus différents (lignes "
                + all_lines
                + ") : impossible de savoir lequel est juste, toutes les occurrences sont mises de "
                f"côté. Le producteur doit donner un numéro unique à chaque {noun}."
            )
            idx = differ[differ].index
            self.add(kind, df.loc[idx], line_col, reason.loc[idx])
            out.loc[idx] = True
        return out

    def frame(self) -> pd.DataFrame:
        parts = [p for p in self.parts if len(p)]
        if not parts:
            return empty_frame(QUARANTINE)
        return to_frame(conform(pd.concat(parts, ignore_index=True), QUARANTINE))


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def _json_default(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


# ============================================================================================
# vectorised values
# ============================================================================================

_EVENT_TYPES = {
    "information-collective": "Information Collective",
    "test": "Test",
    "bilan": "Bilan",
    "entretien": "Entretien",
    "autre": "Autre",
}


def _lineage(df: pd.DataFrame, file: str, lines: pd.Series) -> None:
    df["source"] = SOURCE
    df["source_file"] = file
    df["source_sheet"] = ""
    df["source_line"] = pd.array(lines.fillna(0), dtype="Int32")


# Text helpers on Arrow kernels (RE2: ``\\s`` is ASCII there, so the classes are written out).
_WS = "\t\n\x0b\x0c\r \u00a0"
_NULL_STR = pa.scalar(None, pa.string())


def _arrow(s: pd.Series) -> pa.ChunkedArray:
    """A text Series as an Arrow string array, without a copy when it is Arrow-backed."""
    arr = getattr(s.array, "_pa_array", None)
    if arr is None:
        arr = pa.chunked_array([pa.array(s.astype(object), type=pa.string(), from_pandas=True)], pa.string())
    elif arr.type != pa.string():
        arr = arr.cast(pa.string())
    return arr


def _series(arr, index) -> pd.Series:
    if isinstance(arr, pa.Array):
        arr = pa.chunked_array([arr])
    return pd.Series(pd.arrays.ArrowExtensionArray(arr), index=index)


def _nullify(arr, *values: str):
    """``arr`` with the empty string and ``values`` as null."""
    bad = pc.is_in(arr, pa.array(["", *values], pa.string()))
    return pc.if_else(pc.fill_null(bad, False), _NULL_STR, arr)


def _token(s: pd.Series) -> pd.Series:
    """White space collapsed and trimmed; empty -> null."""
    a = pc.replace_substring_regex(_arrow(s), f"[{_WS}]+", " ")
    return _series(_nullify(pc.utf8_trim(a, " ")), s.index)


def _dash_null(s: pd.Series) -> pd.Series:
    """``-`` (LHEO's "unknown") -> null."""
    a = _arrow(s)
    dash = pc.fill_null(pc.equal(pc.utf8_trim(a, _WS), UNKNOWN), False)
    return _series(pc.if_else(dash, _NULL_STR, a), s.index)


def _multiline(s: pd.Series) -> pd.Series:
    """Free text: each line trimmed, runs of blank lines reduced to one; empty or ``-`` -> null."""
    a = pc.replace_substring(_arrow(s), "\r\n", "\n")
    a = pc.replace_substring(a, "\r", "\n")
    a = pc.replace_substring_regex(a, "[ \t\u00a0]*\n[ \t\u00a0]*", "\n")
    a = pc.replace_substring_regex(a, "\n{3,}", "\n\n")
    a = pc.replace_substring_regex(a, "[ \t\u00a0]{2,}", " ")
    return _series(_nullify(pc.utf8_trim(a, _WS), UNKNOWN), s.index)


_HTML_TAG = r"</?[A-Za-z][A-Za-z0-9]*(?:[ \t\r\n][^<>]*)?/?>"
_HTML_ANY = _HTML_TAG + r"|&(?:[A-Za-z]{2,8}|#[0-9]{1,6}|#x[0-9A-Fa-f]{1,6});"
_BLOCKS = "p|div|li|ul|ol|h[1-6]|tr|table|blockquote"


def _clean_html(s: pd.Series, vf: _Values, count: bool = True) -> pd.Series:
    """HTML markup as plain text (see the module docstring); other texts unchanged."""
    a = _arrow(s)
    has = pc.fill_null(pc.match_substring_regex(a, _HTML_ANY), False)
    n = pc.sum(has).as_py() or 0
    if not n:
        return _series(a, s.index)
    if count:
        vf.html += n
    h = pc.filter(a, has)
    for pattern, repl in (
        (r"(?i)\s*<br\s*/?>\s*", "\n"),
        (r"(?i)\s*<li(?:\s[^<>]*)?>\s*", "\n- "),
        (rf"(?i)\s*</(?:{_BLOCKS})>\s*", "\n"),
        (rf"(?i)\s*<(?:{_BLOCKS})(?:\s[^<>]*)?>\s*", "\n"),
        (_HTML_TAG, ""),
    ):
        h = pc.replace_substring_regex(h, pattern, repl)
    h = pa.array([None if v is None else html.unescape(v) for v in h.to_pylist()], pa.string())
    h = pc.replace_substring_regex(h, "[ \t\u00a0]+", " ")
    h = pc.replace_substring_regex(h, " ?\n ?", "\n")
    h = pc.utf8_trim(pc.replace_substring_regex(h, "\n{3,}", "\n\n"), _WS)
    out = pc.replace_with_mask(a.combine_chunks(), has.combine_chunks() if isinstance(has, pa.ChunkedArray) else has, h)
    return _series(out, s.index)


def _identifier(s: pd.Series) -> pd.Series:
    """SIRET / NDA: separators removed; a placeholder of zeros or nines is null."""
    a = pc.replace_substring_regex(_arrow(s), f"[{_WS}.\\-]", "")
    placeholder = pc.fill_null(pc.match_substring_regex(a, "^(?:0+|9+)$"), False)
    return _series(pc.if_else(placeholder, _NULL_STR, _nullify(a)), s.index)


def _bool01(s: pd.Series) -> pd.Series:
    t = _token(s)
    return t.map({"1": True, "0": False, "true": True, "false": False}, na_action="ignore").astype("boolean")


def _entry(s: pd.Series) -> pd.Series:
    return _token(s).map({"0": model.ENTRY_FIXED, "1": model.ENTRY_PERMANENT}).astype("string")


_FORMACODE = r"\d{5}"
_FORMACODE_TEXT = "un code FORMACODE de 5 chiffres"


def _join_codes(first: pd.Series, others: pd.Series) -> pd.Series:
    """``first`` then the ``others`` (space-separated) that are not ``first``; null when neither."""
    rest = pd.Series(
        [
            (" ".join(c for c in o.split(" ") if c != f) or None) if isinstance(o, str) else None
            for f, o in zip(first.astype(object), others.astype(object), strict=True)
        ],
        index=first.index,
        dtype="string",
    )
    both = (first + " " + rest).astype("string")
    return both.fillna(first).fillna(rest)


def _certification(s: pd.Series, prefix: str) -> pd.Series:
    """``320`` / ``RNCP320`` / ``RNCP 320`` -> ``RNCP320`` (``RS`` likewise); other text null."""
    t = _token(s).str.upper().str.replace(" ", "", regex=False)
    digits = t.str.extract(rf"^(?:{prefix})?(\d+)$")[0].astype("string")
    return (prefix + digits).where(digits.notna())


class _Values:
    """Typed conversions that report what they cannot read (DQ000 warnings on line and field)."""

    def __init__(self, file: str):
        self.file = file
        self.frames: list[pd.DataFrame] = []
        self.html = 0

    def invalid(
        self,
        df: pd.DataFrame,
        col: str,
        line_col: str,
        mask: pd.Series,
        tag: str,
        expected: str,
        session_key: pd.Series | None = None,
    ) -> None:
        mask = mask.fillna(False).astype(bool)
        if not mask.any():
            return
        rows = df.loc[mask]
        value = rows[col].astype("string")
        self.frames.append(
            pd.DataFrame(
                {
                    "rule": RULE,
                    "severity": "warning",
                    "source": SOURCE,
                    "file": self.file,
                    "sheet": "",
                    "line": pd.array(rows[line_col], dtype="Int32"),
                    "session_key": (
                        session_key.loc[mask]
                        if session_key is not None
                        else pd.Series(pd.NA, index=rows.index, dtype="string")
                    ).to_numpy(),
                    "field": tag,
                    "value": value.to_numpy(),
                    "message": (
                        "Valeur « " + value.fillna("") + f" » illisible pour <{tag}> : attendu {expected}. "
                        "Elle est ignorée ; le producteur devrait la corriger."
                    ).to_numpy(),
                }
            )
        )

    def pattern(self, df, col, line_col, regex, tag, expected) -> pd.Series:
        t = _token(df[col])
        ok = t.str.fullmatch(regex).fillna(False).astype(bool)
        self.invalid(df, col, line_col, t.notna() & ~ok, tag, expected)
        return t.where(ok)

    def codes(self, df, col, line_col, regex, tag, expected, upper: bool = False) -> pd.Series:
        """Space-separated codes: those matching ``regex`` (each once, in order); the others are
        reported and left out. Worked out once per distinct value."""
        t = _token(df[col])
        if upper:
            t = t.str.upper()
        pattern = re.compile(regex)
        kept: dict[str, str | None] = {}
        wrong: dict[str, str] = {}
        for value in t.dropna().unique():
            tokens = list(dict.fromkeys(value.split(" ")))
            good = [c for c in tokens if pattern.fullmatch(c)]
            kept[value] = " ".join(good) or None
            if len(good) < len(tokens):
                wrong[value] = " ".join(c for c in tokens if c not in good)
        if wrong:  # the finding names the wrong codes only
            bad = pd.DataFrame({col: t.map(wrong).astype("string"), line_col: df[line_col]}, index=df.index)
            self.invalid(bad, col, line_col, t.isin(list(wrong)), tag, expected)
        return t.map(kept).astype("string")

    def number(self, df, col, line_col, tag) -> pd.Series:
        t = _token(df[col]).str.replace(",", ".", regex=False).str.replace(" ", "", regex=False)
        v = pd.to_numeric(t, errors="coerce")
        self.invalid(df, col, line_col, t.notna() & v.isna(), tag, "un nombre (ex. 35 ou 12.5)")
        return v.astype("Float64")

    def count(self, df, col, line_col, tag, report: bool = True) -> pd.Series:
        t = _token(df[col])
        ok = t.str.fullmatch(r"\d{1,9}").fillna(False).astype(bool)
        if report:
            self.invalid(df, col, line_col, t.notna() & ~ok, tag, "un nombre entier positif ou nul")
        return pd.to_numeric(t.where(ok), errors="coerce").astype("Int32")

    def lheo_date(self, df, col, line_col, tag, session_key) -> tuple[pd.Series, int]:
        """LHEO ``AAAAMMJJ`` -> date32; unknown (00000000, 99999999) and partial dates -> null.
        Returns the dates and the number of partial ones."""
        t = _token(df[col])
        unknown = t.isin(["00000000", "99999999"]).fillna(False).astype(bool)
        partial = t.str.fullmatch(r"\d{4}(?:\d{2}00|0000)").fillna(False).astype(bool) & ~unknown
        usable = (t.notna() & ~unknown & ~partial).fillna(False).astype(bool)
        shaped = usable & t.str.fullmatch(r"\d{8}").fillna(False).astype(bool)
        text = pa.array(t.where(shaped), type=pa.string(), from_pandas=True)
        parsed = pc.strptime(text, format="%Y%m%d", unit="s", error_is_null=True)
        # strptime rolls 20270231 over to 3 March: a real day writes back as it was read
        exists = pc.fill_null(pc.equal(pc.strftime(parsed, format="%Y%m%d"), text), False)
        parsed = pc.if_else(exists, parsed, pa.scalar(None, parsed.type))
        out = pd.Series(parsed.cast(pa.date32()), index=df.index, dtype=pd.ArrowDtype(pa.date32()))
        bad = usable & out.isna()
        self.invalid(df, col, line_col, bad, tag, "une date LHEO AAAAMMJJ qui existe au calendrier", session_key)
        return out, int(partial.sum())


def _empty_tables() -> dict[str, pd.DataFrame]:
    out = {
        "formations": empty_frame(FORMATIONS),
        "actions": empty_frame(ACTIONS),
        "sessions": empty_frame(SESSIONS),
        "events": empty_frame(EVENTS),
    }
    out.update({name: empty_frame(schema) for name, schema in EXTRA_TABLES.items()})
    return out


def _sorted(f: pd.DataFrame) -> pd.DataFrame:
    if len(f) > 1:
        f = f.sort_values("line", kind="stable", na_position="first").reset_index(drop=True)
    return f


# --- the source's declaration (passerelle.sources.registry) -------------------------------
# Each producer is a source of its own for the life of its sessions: ``lheo:<producer>``.

SPEC = Source(
    name=SOURCE,
    label="LHEO",
    kinds=(
        ExtractKind(
            "producteur",
            ("xml", "xml.gz"),
            "LHEO offer published by another producer (Intercarif, another Carif, Onisep, EDOF)",
            read_lheo,
            asset="raw_lheo",
            sessions=True,
            required=False,
        ),
    ),
    # findings name the LHEO element (sources.md section 4) rather than the canonical field
    field_names={
        "sessions": {
            "session_key": "session/@numero",
            "start_date": "periode/debut",
            "end_date": "periode/fin",
            "entry_mode": "modalites-entrees-sorties",
            "siret_formateur": "SIRET-formateur/siret",
            "recruitment_state": "etat-recrutement",
            "postcode": "codepostal",
            "city": "ville",
            "contact_name": "coordonnees/nom",
            "contact_phone": "coordonnees/telfixe",
            "contact_email": "coordonnees/courriel",
            "title": "intitule-formation",
        },
        "formations": {
            "holder_siret": "organisme-formation-responsable/SIRET-organisme-formation/siret",
            "holder_name": "organisme-formation-responsable/raison-sociale",
            "title": "intitule-formation",
        },
        "actions": {"postcode": "codepostal", "city": "ville", "entry_mode": "modalites-entrees-sorties"},
    },
    session_key_pattern=r"lheo:[a-z][a-z0-9]*:.+",
    filled_fields=(),
    per_producer=True,
)
