"""SAM reader: the offer as answered to the call for tenders (``sam_offre_<YYYYMMDD>.xml``).

One canonical *formation* per ``<action>`` (sources.md section 1), keyed
``sam:<dossier>:<lot on 3 digits>:<action numero>``.

Reading is defensive, in this order:

1. The bytes are read once. An empty file is a DQ000 error.
2. Any DOCTYPE is refused before the parser sees the document (the SAM contract has no DTD;
   a DOCTYPE is how entity-expansion bombs and external entities get in). The prolog is
   scanned for ``<!DOCTYPE``, and the parsed tree is checked again.
3. lxml parses with a hardened parser: no entity resolution, no DTD loading, no network,
   default libxml2 limits (``huge_tree=False``: depth 256, 10 MB text nodes). Malformed XML,
   including an excessive nesting depth, is one DQ000 error naming the line and the column.
4. The root must be ``<sam-export>``; otherwise the file is rejected and its ``<action>``
   elements go to quarantine (row conservation).
5. The tree is validated against ``schemas/xsd/sam.xsd`` (xmlschema, schema built once).
   Each schema error is one DQ000 finding (error) with the line, the element/attribute path
   as ``field``, the raw value and a French message. Values that fail their type are read as
   null. Unknown attributes (tolerated by the schema) are reported once per element name and
   attribute name as DQ000 ``info``.
6. An ``<action>`` whose key cannot be built (dossier, lot numero or action numero missing or
   invalid), that is not at its place ``/sam-export/marche/lot/action``, or whose key repeats
   an earlier action's, goes to quarantine with a French reason and one DQ000 error finding.
   The other actions are kept: ``rows_read[""]`` (number of ``<action>`` elements) equals
   formations + quarantine rows.

Lineage: ``source_line`` is the line where the element's start tag begins (``<action``).
libxml2's ``sourceline`` is the line where the start tag *ends* and is off by one past line
65535, so the lines come from a quick expat pass over the already-accepted document
(falling back to lxml's ``sourceline`` when expat cannot read the encoding).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from xml.parsers import expat

import pandas as pd
from lxml import etree

from passerelle.findings import FindingCollector
from passerelle.model import FINANCER_REGION, FORMATIONS, QUARANTINE, conform, empty_frame, to_frame
from passerelle.sources import tabular
from passerelle.sources.base import ExtractRead, extract_date_of, formacode_version
from passerelle.sources.spec import ExtractKind, RuleParameters, Source

SOURCE = "sam"
KIND = "offre"
ROOT_TAG = "sam-export"
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "xsd" / "sam.xsd"
RULE = "DQ000"

DOCTYPE_MESSAGE = (
    "Le fichier SAM contient une déclaration DOCTYPE, refusée par sécurité "
    "(risque d'entités malveillantes) : le fichier n'est pas lu. Renvoyer l'extrait SAM "
    "sans DOCTYPE ni déclaration d'entité (le format SAM n'en utilise pas)."
)

# French description of what each schema type expects (type names of sam.xsd).
EXPECTED_FR = {
    "isoDate": "une date au format AAAA-MM-JJ qui existe au calendrier (ex. 2026-01-05)",
    "count": "un nombre entier positif ou nul, sans décimale ni unité (ex. 210)",
    "lotNumero": "un numéro de lot de 1 à 3 chiffres (ex. 005)",
    "actionNumero": "un numéro d'action de 1 à 4 chiffres, différent de 0 (ex. 1)",
    "ouiNon": "« oui » ou « non »",
    "formacode": "un code Formacode de 5 chiffres (ex. 42829)",
    "rome": "un code ROME : une lettre majuscule et 4 chiffres (ex. G1602)",
    "rncp": "un code RNCP ou RS suivi de chiffres (ex. RNCP12345)",
    "nonEmptyToken": "une valeur non vide",
    "title": "un texte non vide",
    "nonBlankString": "un texte non vide",
}
_EXPECTED_DEFAULT = "la valeur prévue par le format SAM"


# --- the schema, built once -------------------------------------------------------------------


@lru_cache(maxsize=1)
def sam_schema():
    """The compiled ``sam.xsd`` (built on first use, then cached for the process)."""
    import xmlschema

    return xmlschema.XMLSchema(str(SCHEMA_PATH))


@lru_cache(maxsize=1)
def _fast_schema():
    """``sam.xsd`` compiled by libxml2: a quick yes/no before the detailed validation."""
    return etree.XMLSchema(etree.parse(str(SCHEMA_PATH)))


@dataclass(frozen=True)
class _Contract:
    """What the schema declares, by element name: attribute names and their type names."""

    attributes: dict[str, dict[str, str]]  # element tag -> {attribute: type local name}
    text_types: dict[str, str]  # element tag with simple content -> type local name


@lru_cache(maxsize=1)
def _contract() -> _Contract:
    schema = sam_schema()
    attributes: dict[str, dict[str, str]] = {}
    text_types: dict[str, str] = {}

    def type_name(t) -> str:
        return (t.local_name if t is not None and t.name else "") or ""

    def walk(el) -> None:
        tag = el.local_name
        t = el.type
        if tag in attributes:
            return
        attributes[tag] = {name: type_name(a.type) for name, a in t.attributes.items() if name is not None}
        if t.has_simple_content():
            text_types[tag] = type_name(el.type) or type_name(t.content)
        elif not t.is_simple():
            for child in t.content.iter_elements():
                walk(child)

    walk(schema.elements[ROOT_TAG])
    return _Contract(attributes, text_types)


def _expected(tag: str, attr: str | None) -> str:
    c = _contract()
    tname = c.attributes.get(tag, {}).get(attr, "") if attr else c.text_types.get(tag, "")
    return EXPECTED_FR.get(tname, _EXPECTED_DEFAULT)


# --- entry point ------------------------------------------------------------------------------


def read_offer(path: Path | None) -> ExtractRead:
    """Read one SAM offer extract. Never raises on bad input (see the module docstring)."""
    if path is None:
        return ExtractRead(source=SOURCE, kind=KIND, file=None, tables={"formations": empty_frame(FORMATIONS)})
    path = Path(path)
    name = path.name
    fc = FindingCollector(SOURCE, name)
    res = ExtractRead(
        source=SOURCE,
        kind=KIND,
        file=name,
        extract_date=extract_date_of(path),
        rows_read={"": 0},
        tables={"formations": empty_frame(FORMATIONS)},
    )

    def fail(message: str, line: int | None = None, field: str | None = None, value: object = None) -> ExtractRead:
        fc.add(RULE, "error", message, line=line, field=field, value=value)
        res.ok = False
        res.findings = fc.frame()
        return res

    try:
        data = path.read_bytes()
    except OSError as exc:
        return fail(f"Le fichier SAM ne peut pas être lu ({exc.strerror or exc}). Déposer à nouveau l'extrait.")
    res.sha256 = hashlib.sha256(data).hexdigest()

    if not data.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        return fail("Le fichier SAM est vide. Renvoyer un extrait SAM complet (racine <sam-export>).")

    doctype = _prolog_doctype(data)
    if doctype is not None:
        return fail(DOCTYPE_MESSAGE, line=doctype[0], field="DOCTYPE", value=doctype[1])

    # The contract is UTF-8. A file declaring a legacy encoding whose bytes are valid UTF-8 with
    # accents is a mislabelled UTF-8 file: read it as UTF-8 (never mojibake) and say so.
    force_encoding = None
    declared = _declared_encoding(data)
    if declared and declared.replace("_", "-") not in ("utf-8", "utf8", "utf-16", "utf-32") and not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            force_encoding = "utf-8"
            fc.add(
                RULE,
                "warning",
                f"Le fichier SAM déclare l'encodage « {declared} » mais son contenu est en UTF-8 : il est lu en "
                'UTF-8 (contrat SAM). Corriger la déclaration <?xml ... encoding="UTF-8"?> de l\'extrait.',
                line=1,
                field="encoding",
                value=declared,
            )

    parser = etree.XMLParser(
        encoding=force_encoding,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        line, col = exc.position if exc.position else (exc.lineno, exc.offset)
        return fail(_syntax_message(exc, line, col), line=line)
    except Exception as exc:  # libxml2 resource errors, MemoryError...  # noqa: BLE001
        return fail(
            f"Le fichier SAM n'a pas pu être analysé comme XML ({type(exc).__name__} : {exc}). "
            "Renvoyer un extrait XML bien formé."
        )

    tree = root.getroottree()
    docinfo = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        return fail(DOCTYPE_MESSAGE, line=None, field="DOCTYPE", value=docinfo.doctype or None)
    res.encoding = force_encoding or (docinfo.encoding or "UTF-8").lower()

    actions = list(root.iter("action"))
    res.rows_read = {"": len(actions)}
    lines = _LineMap(data, root)

    if root.tag != ROOT_TAG:
        msg = (
            f"La racine du fichier est <{_tag_fr(root.tag)}> au lieu de <{ROOT_TAG}> : "
            "ce n'est pas un extrait de l'offre SAM. Vérifier le fichier déposé."
        )
        fc.add(RULE, "error", msg, line=lines(root), field="/" + _tag_fr(root.tag), value=_tag_fr(root.tag))
        res.ok = False
        reason = f"Fichier rejeté : {msg}"
        res.quarantine = _quarantine_frame(
            [(lines(a), reason, json.dumps({"action": dict(a.attrib)}, ensure_ascii=False)) for a in actions], name
        )
        res.findings = fc.frame()
        return res

    # --- schema validation, then the records ----------------------------------------------------
    paths = _PathCache(tree)
    try:
        flagged = _validate(root, tree, fc, lines, paths)
        _report_unknown_attributes(root, fc, lines, paths)
        _check_extract_date(root, res, fc, lines)
        formations, quarantine, parent_lines = _build(actions, root, name, fc, lines, paths, flagged)
    except Exception as exc:  # a crash on an unforeseen input must not lose the file silently  # noqa: BLE001
        msg = (
            f"Le fichier SAM n'a pas pu être lu jusqu'au bout ({type(exc).__name__} : {exc}). "
            "Fichier non lu ; le signaler à l'équipe Passerelle avec le fichier."
        )
        fc.add(RULE, "error", msg, line=None)
        res.ok = False
        res.tables = {"formations": empty_frame(FORMATIONS)}
        res.quarantine = _quarantine_frame(
            [
                (lines(a), f"Fichier rejeté : {msg}", json.dumps({"action": dict(a.attrib)}, ensure_ascii=False))
                for a in actions
            ],
            name,
        )
        res.findings = fc.frame()
        return res
    res.tables = {"formations": formations}
    res.quarantine = quarantine
    res.parent_lines = parent_lines
    res.findings = _sorted_findings(fc)
    return res


# --- safety -----------------------------------------------------------------------------------


def _prolog_doctype(data: bytes) -> tuple[int, str] | None:
    """``(line, declaration start)`` when a ``<!DOCTYPE`` appears in the prolog, else None.

    Works on the raw bytes for ASCII-compatible encodings and on the decoded text for UTF-16/32.
    The comments and processing instructions of the prolog are skipped; the scan stops at the
    first other markup (the root element), so it costs nothing on a normal file.
    """
    head = data
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or head[:4] in (b"<\x00?\x00", b"\x00<\x00?", b"<\x00\x00\x00"):
        for enc in ("utf-16", "utf-16-le", "utf-16-be", "utf-32"):
            try:
                text = data.decode(enc, errors="strict")
            except UnicodeDecodeError:
                continue
            if "<" in text[:8]:
                head = text.encode("utf-8", errors="replace")
                break
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    i, n = 0, len(head)
    while i < n:
        while i < n and head[i] in b" \t\r\n":
            i += 1
        if head.startswith(b"<?", i):
            j = head.find(b"?>", i + 2)
            if j < 0:
                return None
            i = j + 2
        elif head.startswith(b"<!--", i):
            j = head.find(b"-->", i + 4)
            if j < 0:
                return None
            i = j + 3
        elif head[i : i + 9].upper() == b"<!DOCTYPE":
            snippet = head[i : i + 80].split(b"\n")[0].decode("utf-8", errors="replace")
            return head.count(b"\n", 0, i) + 1, snippet
        else:
            return None
    return None


_XML_DECL_ENCODING = re.compile(rb"""^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")


def _declared_encoding(data: bytes) -> str | None:
    m = _XML_DECL_ENCODING.match(data[:512])
    return m[1].decode("ascii").lower() if m else None


def _syntax_message(exc: etree.XMLSyntaxError, line: int, col: int) -> str:
    raw = (exc.msg or str(exc)).split(", line ")[0]
    if "Excessive depth" in raw or "depth" in raw.lower():
        return (
            f"Le fichier SAM a une imbrication d'éléments trop profonde (ligne {line}, colonne {col}) : "
            "refusé par sécurité. Renvoyer un extrait SAM conforme (marche > lot > action)."
        )
    if "Document is empty" in raw:
        return "Le fichier SAM est vide. Renvoyer un extrait SAM complet (racine <sam-export>)."
    if "encoding" in raw.lower() or "UTF-8" in raw:
        return (
            f"Le fichier SAM contient des octets invalides pour son encodage (ligne {line}, colonne {col} : "
            f"{raw}). Renvoyer l'extrait encodé en UTF-8."
        )
    return (
        f"Le fichier SAM n'est pas un XML bien formé (ligne {line}, colonne {col} : {raw}). "
        "Renvoyer un extrait XML complet et bien formé."
    )


def _tag_fr(tag) -> str:
    if not isinstance(tag, str):
        return "?"
    if tag.startswith("{"):
        ns, local = tag[1:].split("}", 1)
        return f"{local} (espace de noms {ns})"
    return tag


class _LineMap:
    """Element -> line where its start tag begins (expat), falling back to lxml's sourceline."""

    def __init__(self, data: bytes, root) -> None:
        self._lines: dict = {}
        starts: list[int] = []
        p = expat.ParserCreate()
        p.StartElementHandler = lambda name, attrs: starts.append(p.CurrentLineNumber)
        try:
            p.Parse(data, True)
        except (expat.ExpatError, ValueError, LookupError):
            return
        elements = list(root.iter(tag=etree.Element))
        if len(elements) == len(starts):
            self._lines = dict(zip(elements, starts))

    def __call__(self, el) -> int | None:
        if el is None:
            return None
        line = self._lines.get(el)
        return line if line is not None else el.sourceline


class _PathCache:
    """Element -> its path as libxml2's ``getpath`` writes it (``/offre/marche[3]/lot/action[12]``:
    an index only when the parent has several children of that name).

    ``getpath`` scans every sibling of the element and of each ancestor on each call, which is
    quadratic on a national extract (21k ``<marche>`` under ``<offre>``: hours at 1M sessions);
    here the children of a parent are numbered once, the first time one of them is asked for.
    """

    def __init__(self, tree) -> None:
        self._tree = tree
        self._paths: dict = {}

    def __call__(self, el) -> str | None:
        if el is None:
            return None
        p = self._paths.get(el)
        if p is None:
            parent = el.getparent()
            if parent is not None and isinstance(el.tag, str) and "{" not in el.tag:
                self._number_children(parent)
                p = self._paths.get(el)
            if p is None:  # the root, a comment, a namespaced element: libxml2 says it
                p = self._paths[el] = self._tree.getpath(el)
        return p

    def _number_children(self, parent) -> None:
        base = self(parent)
        children = [c for c in parent if isinstance(c.tag, str) and "{" not in c.tag]
        counts: dict[str, int] = {}
        for c in children:
            counts[c.tag] = counts.get(c.tag, 0) + 1
        seen: dict[str, int] = {}
        for c in children:
            tag = c.tag
            if counts[tag] > 1:
                seen[tag] = seen.get(tag, 0) + 1
                self._paths[c] = f"{base}/{tag}[{seen[tag]}]"
            else:
                self._paths[c] = f"{base}/{tag}"


# --- schema validation ------------------------------------------------------------------------

_ATTR_INVALID = re.compile(r"^attribute (?P<attr>[^=\s]+)=(?P<q>['\"])(?P<value>.*?)(?P=q)\s*:", re.S)
_ATTR_MISSING = re.compile(r"missing required attribute '(?P<attr>[^']+)'")
_TAG_EXPECTED = re.compile(r"Tag (?:'(?P<one>[^']+)'|\((?P<many>[^)]*)\)) expected")


def _validate(root, tree, fc: FindingCollector, lines: _LineMap, paths: _PathCache) -> dict[tuple[str, str], set[str]]:
    """Validate against sam.xsd; add one finding per error; return {(tag, attr): {element paths}}
    of the attributes whose value failed (missing or invalid), so that the reader nulls them."""
    flagged: dict[tuple[str, str], set[str]] = {}
    # libxml2 answers "valid" ~50x faster than xmlschema walks the tree; only an extract it
    # rejects goes through xmlschema, whose errors name the element, the attribute and the value.
    try:
        if _fast_schema().validate(tree):
            return flagged
    except etree.XMLSchemaValidateError:  # libxml2 internal error: let xmlschema say what is wrong
        pass
    seen: set[tuple] = set()
    for err in sam_schema().iter_errors(tree):
        el = err.elem if err.elem is not None and isinstance(getattr(err.elem, "tag", None), str) else None
        tag = el.tag if el is not None else "?"
        path = str(paths(el) if el is not None else (err.path or ""))
        line = lines(el) if el is not None else err.sourceline
        reason = str(err.reason or "")
        m_missing = _ATTR_MISSING.search(reason)
        m_invalid = _ATTR_INVALID.match(reason)
        if m_missing:
            attr = m_missing["attr"]
            key = (path, attr)
            if key in seen:
                continue
            seen.add(key)
            flagged.setdefault((tag, attr), set()).add(path)
            if tag == "action" and attr == "numero":
                continue  # reported with the quarantine of the action
            fc.add(
                RULE,
                "error",
                f"L'attribut obligatoire « {attr} » manque sur l'élément <{tag}>. "
                f"Le renseigner dans SAM ({_expected(tag, attr)}).",
                line=line,
                field=f"{path}/@{attr}",
                value=None,
            )
        elif m_invalid:
            attr, value = m_invalid["attr"], m_invalid["value"]
            key = (path, attr)
            if key in seen:
                continue
            seen.add(key)
            flagged.setdefault((tag, attr), set()).add(path)
            if tag == "action" and attr == "numero":
                continue
            fc.add(
                RULE,
                "error",
                f"Valeur « {value} » invalide pour l'attribut « {attr} » de <{tag}> : attendu "
                f"{_expected(tag, attr)}. Corriger la valeur dans SAM ; elle est ignorée en attendant.",
                line=line,
                field=f"{path}/@{attr}",
                value=value,
            )
        elif type(err).__name__ == "XMLSchemaChildrenValidationError":
            _child_error(err, el, tag, path, line, reason, fc, lines, paths, seen)
        elif el is not None and tag in _contract().text_types:
            key = (path, "#text")
            if key in seen:
                continue
            seen.add(key)
            value = err.obj if isinstance(err.obj, str) else (el.text or "")
            fc.add(
                RULE,
                "error",
                f"Texte « {value.strip()} » invalide dans <{tag}> : attendu {_expected(tag, None)}. "
                "Compléter ce texte dans SAM.",
                line=line,
                field=path,
                value=value,
            )
        else:
            key = (path, reason)
            if key in seen:
                continue
            seen.add(key)
            fc.add(
                RULE,
                "error",
                f"L'élément <{_tag_fr(tag)}> n'est pas conforme au format SAM ({reason}). "
                "Renvoyer un extrait conforme.",
                line=line,
                field=path,
                value=None,
            )
    return flagged


def _child_error(err, el, tag, path, line, reason, fc, lines, paths, seen) -> None:
    invalid_tag = getattr(err, "invalid_tag", None)
    index = getattr(err, "index", None)
    child = None
    if el is not None and isinstance(index, int) and 0 <= index < len(el):
        child = el[index]
    if invalid_tag and child is not None and isinstance(child.tag, str):
        cpath = paths(child)
        key = (cpath, "#unexpected")
        if key in seen:
            return
        seen.add(key)
        allowed = ", ".join(f"<{t}>" for t in _allowed_children(tag)) or "aucun"
        fc.add(
            RULE,
            "error",
            f"Élément <{_tag_fr(child.tag)}> inattendu dans <{tag}> (éléments admis : {allowed}). "
            "Le retirer ou le déplacer ; son contenu est ignoré.",
            line=lines(child),
            field=cpath,
            value=_tag_fr(child.tag),
        )
        return
    m = _TAG_EXPECTED.search(reason)
    if m:
        missing = m["one"] or (m["many"] or "").replace("'", "")
        key = (path, "#missing:" + missing)
        if key in seen:
            return
        seen.add(key)
        fc.add(
            RULE,
            "error",
            f"Élément obligatoire <{missing}> manquant dans <{tag}>. Le renseigner dans SAM.",
            line=line,
            field=f"{path}/{missing.split(',')[0].strip()}",
            value=None,
        )
        return
    key = (path, reason)
    if key in seen:
        return
    seen.add(key)
    fc.add(
        RULE,
        "error",
        f"Le contenu de <{_tag_fr(tag)}> n'est pas conforme au format SAM ({reason}). Renvoyer un extrait conforme.",
        line=line,
        field=path,
        value=None,
    )


@cache
def _allowed_children(tag: str) -> tuple[str, ...]:
    def find(el, seen):
        if el.local_name == tag and not el.type.is_simple() and not el.type.has_simple_content():
            return tuple(c.local_name for c in el.type.content.iter_elements())
        if el.type.is_simple() or el.type.has_simple_content() or el.local_name in seen:
            return None
        seen.add(el.local_name)
        for c in el.type.content.iter_elements():
            r = find(c, seen)
            if r is not None:
                return r
        return None

    return find(sam_schema().elements[ROOT_TAG], set()) or ()


def _report_unknown_attributes(root, fc: FindingCollector, lines: _LineMap, paths: _PathCache) -> None:
    known = _contract().attributes
    first: dict[tuple[str, str], tuple] = {}
    count: dict[tuple[str, str], int] = {}
    for el in root.iter(tag=etree.Element):
        if el.tag not in known or not el.attrib:
            continue
        allowed = known[el.tag]
        for attr in el.attrib:
            if attr in allowed:
                continue
            key = (el.tag, attr)
            count[key] = count.get(key, 0) + 1
            first.setdefault(key, (el, el.attrib[attr]))
    for (tag, attr), (el, value) in first.items():
        n = count[(tag, attr)]
        fc.add(
            RULE,
            "info",
            f"Attribut « {_tag_fr(attr)} » inconnu du format SAM sur <{tag}> ({n} occurrence(s)) : ignoré.",
            line=lines(el),
            field=f"{paths(el)}/@{attr}",
            value=value,
        )


def _check_extract_date(root, res: ExtractRead, fc: FindingCollector, lines: _LineMap) -> None:
    raw = (root.get("date-extraction") or "").strip()
    if res.extract_date is None or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        return
    if raw != res.extract_date.isoformat():
        fc.add(
            RULE,
            "warning",
            f"La date d'extraction du fichier (date-extraction = {raw}) ne correspond pas à la date de son "
            f"nom ({res.extract_date.isoformat()}). Vérifier qu'il s'agit du bon extrait.",
            line=lines(root),
            field="/sam-export/@date-extraction",
            value=raw,
        )


# --- records ----------------------------------------------------------------------------------

# raw column -> (level, XML attribute). Levels: m = marche, t = titulaire, l = lot, a = action.
_ATTR_COLUMNS = {
    "m_numero": ("m", "marche", "numero"),
    "m_programme": ("m", "marche", "programme"),
    "m_dossier": ("m", "marche", "dossier"),
    "t_siret": ("t", "titulaire", "siret"),
    "t_nda": ("t", "titulaire", "nda"),
    "t_name": ("t", "titulaire", "raison-sociale"),
    "l_numero": ("l", "lot", "numero"),
    "l_debut": ("l", "lot", "debut"),
    "l_fin": ("l", "lot", "fin"),
    "l_finexec": ("l", "lot", "fin-execution"),
    "a_numero": ("a", "action", "numero"),
    "a_sessions": ("a", "action", "sessions-envisagees"),
    "a_effectif": ("a", "action", "effectif"),
    "a_dc": ("a", "action", "duree-centre"),
    "a_de": ("a", "action", "duree-entreprise"),
    "a_formacode": ("a", "action", "formacode"),
    "a_rome": ("a", "action", "rome"),
    "a_cert": ("a", "action", "certifiante"),
    "a_rncp": ("a", "action", "code-rncp"),
}
_TEXT_COLUMNS = {"c_intitule": "intitule", "c_objectif": "objectif", "c_contenu": "contenu", "c_prerequis": "prerequis"}
_ACTION_PLACE = "/sam-export/marche/lot/action"


def _build(actions, root, name, fc, lines, paths, flagged):
    marche_info: dict = {}
    lot_info: dict = {}
    records: list[dict] = []
    raws: list[dict] = []
    for a in actions:
        lot = a.getparent()
        marche = lot.getparent() if lot is not None else None
        rec = {"line": lines(a), "p_a": paths(a), "misplaced": None}
        if (
            lot is None
            or lot.tag != "lot"
            or marche is None
            or marche.tag != "marche"
            or marche.getparent() is not root
        ):
            parent = lot.tag if lot is not None and isinstance(lot.tag, str) else "?"
            rec["misplaced"] = (
                f"Action placée hors d'un lot (dans <{_tag_fr(parent)}>, chemin {rec['p_a']}) alors qu'elle doit se "
                f"trouver en {_ACTION_PLACE} : elle ne peut pas être rattachée à son marché. "
                "Corriger la structure de l'extrait SAM."
            )
            records.append(rec)
            raws.append({"action": dict(a.attrib)})
            continue
        mi = marche_info.get(marche)
        if mi is None:
            tit = marche.find("titulaire")
            mi = marche_info[marche] = {
                "p_m": paths(marche),
                "ln_m": lines(marche),
                "p_t": paths(tit),
                "ln_t": lines(tit),
                "m_numero": marche.get("numero"),
                "m_programme": marche.get("programme"),
                "m_dossier": marche.get("dossier"),
                "t_siret": tit.get("siret") if tit is not None else None,
                "t_nda": tit.get("nda") if tit is not None else None,
                "t_name": tit.get("raison-sociale") if tit is not None else None,
                "_raw": {"marche": dict(marche.attrib), "titulaire": dict(tit.attrib) if tit is not None else None},
            }
        li = lot_info.get(lot)
        if li is None:
            lt = lot.find("intitule")
            li = lot_info[lot] = {
                "p_l": paths(lot),
                "ln_l": lines(lot),
                "l_numero": lot.get("numero"),
                "l_debut": lot.get("debut"),
                "l_fin": lot.get("fin"),
                "l_finexec": lot.get("fin-execution"),
                "l_intitule": _text(lt),
                "_raw": dict(lot.attrib),
            }
        rec.update({k: v for k, v in mi.items() if k != "_raw"})
        rec.update({k: v for k, v in li.items() if k != "_raw"})
        for col, (_, _, attr) in _ATTR_COLUMNS.items():
            if col.startswith("a_"):
                rec[col] = a.get(attr)
        texts = {}
        for col, child_tag in _TEXT_COLUMNS.items():
            texts[col] = rec[col] = _text(a.find(child_tag))
        rec["ln_a"] = rec["line"]
        records.append(rec)
        raws.append(
            {
                **mi["_raw"],
                "lot": {**li["_raw"], "intitule": li["l_intitule"]},
                "action": dict(a.attrib),
                **{tag: texts[col] for col, tag in _TEXT_COLUMNS.items()},
            }
        )

    if not records:
        return empty_frame(FORMATIONS), empty_frame(QUARANTINE), None

    raw_cols = [
        "line",
        "p_a",
        "misplaced",
        "p_m",
        "ln_m",
        "p_t",
        "ln_t",
        "p_l",
        "ln_l",
        "ln_a",
        "l_intitule",
        *_ATTR_COLUMNS,
        *_TEXT_COLUMNS,
    ]
    df = pd.DataFrame.from_records(records, columns=raw_cols)
    for c in df.columns:
        if c.startswith(("ln_", "line")):
            continue
        df[c] = df[c].astype("string")

    raw = df.copy()
    # Null the attribute values the schema rejected (their finding is already written).
    for col, (lvl, tag, attr) in _ATTR_COLUMNS.items():
        bad_paths = flagged.get((tag, attr))
        if bad_paths:
            df.loc[df[f"p_{lvl}"].isin(bad_paths).fillna(False).astype(bool), col] = pd.NA

    out = pd.DataFrame(index=df.index)
    invalid: dict[str, pd.Series] = {}

    dossier = _token(df["m_dossier"])
    lot, invalid["l_numero"] = _pattern(df["l_numero"], r"\d{1,3}")
    lot = lot.str.zfill(3)
    num, invalid["a_numero"] = _pattern(df["a_numero"], r"0*[1-9]\d{0,3}")
    num = num.str.lstrip("0")

    out["marche_numero"] = _token(df["m_numero"])
    out["programme"] = _token(df["m_programme"])
    out["dossier"] = dossier
    out["lot"] = lot
    out["action_number"] = num
    out["title"] = _multiline(df["c_intitule"])
    out["lot_title"] = _multiline(df["l_intitule"])
    out["objective"] = _multiline(df["c_objectif"])
    out["content"] = _multiline(df["c_contenu"])
    out["prerequisites"] = _multiline(df["c_prerequis"])
    out["formacode"], invalid["a_formacode"] = _pattern(df["a_formacode"], r"\d{5}")
    out["rome"], invalid["a_rome"] = _pattern(df["a_rome"], r"[A-Z]\d{4}")
    out["formacode_ref"] = pd.Series(formacode_version("sam"), index=out.index, dtype="string").where(
        out["formacode"].notna()
    )
    cert = _token(df["a_cert"])
    out["certifying"] = cert.map({"oui": True, "non": False}, na_action="ignore").astype("boolean")
    invalid["a_cert"] = (cert.notna() & out["certifying"].isna()).fillna(False).astype(bool)
    out["rncp"], invalid["a_rncp"] = _pattern(df["a_rncp"], r"(RNCP|RS)\d+")
    for col, src in (("sessions_planned", "a_sessions"), ("headcount", "a_effectif")):
        out[col], invalid[src] = _count(df[src])
    for col, src in (("hours_centre", "a_dc"), ("hours_company", "a_de")):
        v, invalid[src] = _count(df[src])
        out[col] = v.astype("Float64")
    for col, src in (("period_start", "l_debut"), ("period_end", "l_fin"), ("execution_end", "l_finexec")):
        out[col], invalid[src] = _date(df[src])
    out["holder_name"] = _token(df["t_name"])
    out["holder_siret"] = _ident(df["t_siret"])
    out["holder_nda"] = _ident(df["t_nda"])
    out["financer"] = FINANCER_REGION

    # Values our parsing rejects but the schema did not flag (defence in depth): report once.
    for col, mask in invalid.items():
        if col in ("a_numero", "l_numero") or not mask.any():
            continue
        lvl, tag, attr = _ATTR_COLUMNS[col]
        done: set = set()
        for i in mask[mask].index:
            p = df.at[i, f"p_{lvl}"]
            if (p, attr) in done:
                continue
            done.add((p, attr))
            fc.add(
                RULE,
                "error",
                f"Valeur « {df.at[i, col]} » invalide pour l'attribut « {attr} » de <{tag}> : attendu "
                f"{_expected(tag, attr)}. Corriger la valeur dans SAM ; elle est ignorée en attendant.",
                line=_int_or_none(df.at[i, f"ln_{lvl}"]),
                field=f"{p}/@{attr}",
                value=df.at[i, col],
            )

    key = "sam:" + dossier + ":" + lot + ":" + num
    out.insert(0, "formation_key", key)
    out.insert(1, "source", SOURCE)
    out.insert(2, "source_file", name)
    out.insert(3, "source_sheet", "")
    out.insert(4, "source_line", pd.array(df["line"], dtype="Int32"))

    # --- quarantine: no key, misplaced, duplicate key ------------------------------------------
    reason = pd.Series(pd.NA, index=df.index, dtype="string")
    qfield = pd.Series(pd.NA, index=df.index, dtype="string")
    qvalue = pd.Series(pd.NA, index=df.index, dtype="string")

    def set_reason(mask: pd.Series, text: pd.Series | str, field: pd.Series | str, value: pd.Series | None) -> None:
        m = (mask & reason.isna()).fillna(False).astype(bool)
        if not m.any():
            return
        reason[m] = text[m] if isinstance(text, pd.Series) else text
        qfield[m] = field[m] if isinstance(field, pd.Series) else field
        if value is not None:
            qvalue[m] = value[m]

    set_reason(df["misplaced"].notna(), df["misplaced"], df["p_a"], None)
    raw_num, raw_lot = raw["a_numero"], raw["l_numero"]
    set_reason(
        num.isna() & raw_num.isna(),
        "Action sans numéro : l'attribut « numero » de <action> est absent, l'action ne peut pas être "
        "rattachée à ses sessions EOS. Renseigner le numéro de l'action dans SAM.",
        df["p_a"] + "/@numero",
        None,
    )
    set_reason(
        num.isna(),
        "Numéro d'action « "
        + raw_num.fillna("")
        + " » invalide (attendu "
        + _expected("action", "numero")
        + ") : l'action ne peut pas être rattachée à ses sessions EOS. "
        "Corriger le numéro de l'action dans SAM.",
        df["p_a"] + "/@numero",
        raw_num,
    )
    set_reason(
        lot.isna(),
        "Numéro de lot « "
        + raw_lot.fillna("")
        + " » absent ou invalide (attendu "
        + _expected("lot", "numero")
        + ") : les actions de ce lot ne peuvent pas être rattachées à leurs "
        "sessions EOS. Corriger le numéro du lot dans SAM.",
        df["p_l"] + "/@numero",
        raw_lot,
    )
    set_reason(
        dossier.isna(),
        "Dossier absent sur le marché « " + out["marche_numero"].fillna("?") + " » : les actions de ce marché "
        "ne peuvent pas être rattachées à leurs sessions EOS. Renseigner l'attribut « dossier » du marché "
        "dans SAM.",
        df["p_m"] + "/@dossier",
        None,
    )
    dup, first_line = tabular.duplicates(key, out["source_line"])
    dup &= reason.isna()
    if dup.any():
        set_reason(
            dup,
            "Action en double : même dossier, lot et numéro ("
            + key.fillna("")
            + ") que l'action de la ligne "
            + first_line.astype("string").fillna("?")
            + " ; seule la première est gardée. Supprimer le doublon "
            "ou corriger son numéro dans SAM.",
            df["p_a"] + "/@numero",
            df["a_numero"],
        )

    quarantined = reason.notna()
    q_rows = []
    for i in quarantined[quarantined].index:
        line = _int_or_none(df.at[i, "line"])
        fc.add(
            RULE,
            "error",
            f"Mise en quarantaine : {reason[i]}",
            line=line,
            field=_na_none(qfield[i]),
            value=_na_none(qvalue[i]),
        )
        q_rows.append((line, str(reason[i]), json.dumps(raws[i], ensure_ascii=False)))
    quarantine = _quarantine_frame(q_rows, name)

    kept = out.loc[~quarantined].reset_index(drop=True)
    formations = to_frame(conform(kept, FORMATIONS))
    return formations, quarantine, _parent_lines(df.loc[~quarantined], key[~quarantined], name)


def _parent_lines(df: pd.DataFrame, key: pd.Series, name: str) -> pd.DataFrame:
    """The lines of the elements above each kept ``<action>`` (its ``<marche>``, ``<titulaire>``
    and ``<lot>``) with the formation they hold and a French name of the element: a finding on
    one of those lines applies to the sessions of those formations (``passerelle.parents``)."""
    numero = df["m_numero"].fillna("?")
    labels = {
        "ln_m": "le marché " + numero,
        "ln_t": "le titulaire du marché " + numero,
        "ln_l": "le lot " + df["l_numero"].fillna("?") + " du marché " + numero,
    }
    frames = [
        pd.DataFrame(
            {
                "file": name,
                "sheet": "",
                "line": pd.array(df[col], dtype="Int32"),
                "formation_key": key.astype("string"),
                "label": label.astype("string"),
            }
        )
        for col, label in labels.items()
    ]
    out = pd.concat(frames, ignore_index=True)
    return out[out["line"].notna()].drop_duplicates(["line", "formation_key"]).reset_index(drop=True)


def _quarantine_frame(rows: list[tuple[int | None, str, str]], name: str) -> pd.DataFrame:
    if not rows:
        return empty_frame(QUARANTINE)
    q = pd.DataFrame(
        {
            "source": SOURCE,
            "source_file": name,
            "source_sheet": "",
            "source_line": pd.array([r[0] if r[0] is not None else 0 for r in rows], dtype="Int32"),
            "kind": "formation",
            "session_key": pd.Series([None] * len(rows), dtype="string"),
            "rule": RULE,
            "reason": [r[1] for r in rows],
            "raw": [r[2] for r in rows],
        }
    )
    return to_frame(conform(q, QUARANTINE))


def _sorted_findings(fc: FindingCollector) -> pd.DataFrame:
    f = fc.frame()
    if len(f) > 1:
        f = f.sort_values("line", kind="stable", na_position="first").reset_index(drop=True)
    return f


# --- vectorised value parsers (mirror the types of sam.xsd) ------------------------------------


def _text(el) -> str | None:
    if el is None:
        return None
    return el.xpath("string()")


def _token(s: pd.Series) -> pd.Series:
    """xs:token: white space collapsed; empty -> null."""
    t = s.astype("string").str.replace(r"\s+", " ", regex=True).str.strip()
    return t.mask(t == "")


def _multiline(s: pd.Series) -> pd.Series:
    """Free text: each line trimmed (pretty-printing indentation goes), runs of blank lines
    reduced to one, surrounding blank lines removed; empty -> null."""
    t = s.astype("string").str.replace("\r\n", "\n", regex=False)
    t = t.str.replace(r"[ \t\u00a0]*\n[ \t\u00a0]*", "\n", regex=True).str.replace(r"\n{3,}", "\n\n", regex=True)
    t = t.str.strip()
    return t.mask(t == "")


def _pattern(s: pd.Series, pattern: str) -> tuple[pd.Series, pd.Series]:
    t = _token(s)
    ok = t.str.fullmatch(pattern).fillna(False).astype(bool)
    invalid = (t.notna() & ~ok).fillna(False).astype(bool)
    return t.where(ok), invalid


def _count(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    t, invalid = _pattern(s, r"\+?\d{1,9}")
    return pd.to_numeric(t, errors="coerce").astype("Int32"), invalid


def _date(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    t, invalid = _pattern(s, r"\d{4}-\d{2}-\d{2}")
    parsed = pd.to_datetime(t.astype(object), format="%Y-%m-%d", errors="coerce")
    invalid = (invalid | (t.notna() & parsed.isna())).fillna(False).astype(bool)
    from passerelle.sources.text import to_date32

    return to_date32(parsed), invalid


def _ident(s: pd.Series) -> pd.Series:
    """SIRET / NDA: spaces, dots and dashes that people type inside identifiers removed."""
    t = _token(s).str.replace(r"[\s\u00a0.\-]", "", regex=True)
    return t.mask(t == "")


def _int_or_none(v) -> int | None:
    return None if v is None or pd.isna(v) else int(v)


def _na_none(v):
    return None if v is None or pd.isna(v) else v


# --- the source's declaration (passerelle.sources.registry) -------------------------------

# The field as named in the extract, per canonical field: what a finding shows Carif staff.
FIELD_NAMES_FORMATIONS = {
    "marche_numero": "marche/@numero",
    "dossier": "marche/@dossier",
    "lot": "lot/@numero",
    "action_number": "action/@numero",
    "holder_name": "titulaire/@raison-sociale",
    "holder_siret": "titulaire/@siret",
    "holder_nda": "titulaire/@nda",
    "sessions_planned": "action/@sessions-envisagees",
    "period_start": "lot/@debut",
    "period_end": "lot/@fin",
    "execution_end": "lot/@fin-execution",
}

SPEC = Source(
    name=SOURCE,
    label="SAM",
    kinds=(
        ExtractKind(
            "offre",
            ("xml",),
            "SAM offer (marchés, lots, actions) as answered to the call for tenders",
            read_offer,
            asset="raw_sam_offer",
            daily=False,
        ),
    ),
    field_names={"formations": FIELD_NAMES_FORMATIONS},
    rules=RuleParameters(
        formation_marche=(r"[A-Z]\d{7}", "une lettre majuscule et 7 chiffres, ex. M1451401"),
        plans_sessions=True,
    ),
)
