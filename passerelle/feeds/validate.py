"""XSD validation of the feeds (lxml / libxml2).

- :func:`load_schema` compiles an XSD once per (path, modification time) and caches it.
- :func:`validate_file` returns the errors of a document as ``"line N: message"``; an empty
  list means the document is valid.

Both parse with a safe parser: no network access, no DTD loading, no entity expansion.

Two ways to validate, same answer for an LHEO feed:

- up to :data:`STREAM_ABOVE_BYTES` (32 MB, ~15k sessions): ``etree.parse`` + ``schema.validate``
  on the whole tree. libxml2 needs about 9 times the file size in memory for the tree (2 GB for
  the 225 MB feed of 100k sessions).
- above it (a 1M-session feed is about 2 GB): the feed is read with ``iterparse`` and each
  ``<formation>`` is validated on its own (``formation`` is a global element of the official
  schema and of our profiles) and freed at once, so memory stays at one formation. The
  document frame (``lheo`` > ``offres`` > ``formation``+) is checked by hand and, when the
  schema declares identity constraints (our profiles: ``numero`` unique per feed for
  formation, action and session), those are checked too, with 8 bytes per identifier.
  A valid feed (the normal case) is recognised in one pass where libxml2 hands only the
  ``<formation>`` ends to Python (as fast as the whole-tree way); a feed it rejects is read
  again event by event to list the errors.

A feed can also be validated **while it is being written** (:func:`validate_growing`): another
process appends to the file and, when it is done, writes its final size into a marker file;
:class:`GrowingFile` reads the bytes as they arrive and waits at the end of what is written
so far. The validation is the streaming one, on the very bytes of the file on disk, and the
sha256 of those bytes comes with it (the manifest needs it: no second read of 2 GB).
"""

from __future__ import annotations

import functools
import hashlib
import os
import time
from array import array
from collections.abc import Callable
from pathlib import Path

import numpy as np
from lxml import etree

NS = "http://lheo.gouv.fr/2.3"
MAX_ERRORS = 200  # errors listed; the rest is summed up in one last line
STREAM_ABOVE_BYTES = 32 * 1024 * 1024
_DOCTYPE_ERROR = "line 1: a feed must not carry a DOCTYPE (no DTD, no entities)"
_LHEO, _OFFRES, _FORMATION = f"{{{NS}}}lheo", f"{{{NS}}}offres", f"{{{NS}}}formation"
_ACTION, _SESSION, _EXTRAS = f"{{{NS}}}action", f"{{{NS}}}session", f"{{{NS}}}extras"


def _parser_options() -> dict:
    return {"resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": True}


def _safe_parser() -> etree.XMLParser:
    return etree.XMLParser(**_parser_options())


@functools.lru_cache(maxsize=16)
def _load(path: str, mtime_ns: int) -> tuple[etree.XMLSchema, bool]:
    doc = etree.parse(path, _safe_parser())
    xs = "{http://www.w3.org/2001/XMLSchema}"
    has_keys = any(True for _ in doc.iter(f"{xs}key", f"{xs}unique"))
    return etree.XMLSchema(doc), has_keys


def _load_checked(path: Path | str) -> tuple[etree.XMLSchema, bool]:
    resolved = Path(path).resolve()
    return _load(str(resolved), resolved.stat().st_mtime_ns)


def load_schema(path: Path | str) -> etree.XMLSchema:
    """The compiled XSD at ``path`` (cached until the file changes)."""
    return _load_checked(path)[0]


def validate_file(xml_path: Path | str, xsd_path: Path | str, *, streaming: bool | None = None) -> list[str]:
    """Errors of ``xml_path`` against ``xsd_path`` as ``"line N: message"``; ``[]`` when valid.

    Malformed XML is reported the same way (the parser's message and line). A missing file or
    an XSD that does not compile raises: that is a problem of the run, not of the feed.
    ``streaming``: force one way (see the module doc); by default, by file size.
    """
    schema, has_keys = _load_checked(xsd_path)
    xml_path = Path(xml_path)
    if not xml_path.is_file():
        raise FileNotFoundError(xml_path)
    if streaming is None:
        streaming = xml_path.stat().st_size > STREAM_ABOVE_BYTES
    if streaming:
        errors = _validate_streaming(_opener(xml_path), schema, has_keys)
    else:
        errors = _validate_whole(xml_path, schema)
    if len(errors) > MAX_ERRORS:
        errors = errors[:MAX_ERRORS] + [f"... and {len(errors) - MAX_ERRORS} more errors"]
    return errors


def validate_sample(xml_path: Path | str, xsd_path: Path | str, formations: int) -> list[str]:
    """Errors of the first ``formations`` ``<formation>`` elements of ``xml_path`` against
    ``xsd_path`` (each validated on its own; the rest of the file is not even parsed)."""
    schema, _ = _load_checked(xsd_path)
    errors: list[str] = []
    seen = 0
    try:
        for _event, el in etree.iterparse(str(xml_path), events=("end",), tag=_FORMATION, **_parser_options()):
            if not schema.validate(el):
                errors.extend(_format(schema.error_log))
            seen += 1
            if seen >= formations or len(errors) > MAX_ERRORS:
                break
            parent = el.getparent()
            el.clear(keep_tail=True)
            while el.getprevious() is not None:
                del parent[0]
    except etree.XMLSyntaxError as exc:
        errors.append(f"line {exc.lineno}: {exc.msg}")
    return errors[:MAX_ERRORS]


def is_valid(xml_path: Path | str, xsd_path: Path | str) -> bool:
    return not validate_file(xml_path, xsd_path)


def _format(log) -> list[str]:
    return [f"line {e.line}: {e.message}" for e in log if e.level_name in ("ERROR", "FATAL")]


def _validate_whole(xml_path: Path, schema: etree.XMLSchema) -> list[str]:
    try:
        doc = etree.parse(str(xml_path), _safe_parser())
    except etree.XMLSyntaxError as exc:
        return [f"line {exc.lineno}: {exc.msg}"]
    if doc.docinfo.doctype:
        return [_DOCTYPE_ERROR]
    try:
        if schema.validate(doc):
            return []
    except etree.XMLSchemaValidateError as exc:  # libxml2 internal error: report, never crash
        return [f"line 1: {exc}"]
    return _format(schema.error_log)


class _Keys:
    """``numero`` identifiers seen so far (8-byte digests) and the lines they were seen on."""

    def __init__(self, label: str):
        self.label = label
        self.digests = array("q")
        self.lines = array("q")

    def add(self, value: str | None, line: int) -> None:
        if value is None:
            return  # a missing numero is the schema's business
        digest = hashlib.blake2b(value.encode("utf-8"), digest_size=8).digest()
        self.digests.append(int.from_bytes(digest, "little", signed=True))
        self.lines.append(line)

    def duplicates(self) -> list[str]:
        d = np.frombuffer(self.digests, dtype=np.int64) if len(self.digests) else np.empty(0, np.int64)
        if len(d) < 2:
            return []
        order = np.argsort(d, kind="stable")  # stable: the first of a run is the first in the file
        sd = d[order]
        dup = np.concatenate([[False], sd[1:] == sd[:-1]])
        if not dup.any():
            return []
        run_start = np.maximum.accumulate(np.where(dup, 0, np.arange(len(sd))))
        lines = np.frombuffer(self.lines, dtype=np.int64)
        found = sorted((int(lines[order[p]]), int(lines[order[run_start[p]]])) for p in np.flatnonzero(dup))
        return [f"line {line}: duplicate {self.label} numero (first seen line {first})" for line, first in found]


Source = Callable[[], object]  # opens the document afresh: a path (str) or a file-like object


def _opener(xml_path: Path) -> Source:
    return lambda: str(xml_path)


def _streaming_is_valid(open_source: Source, schema: etree.XMLSchema, check_keys: bool) -> bool:
    """Fast yes/no for the streaming way: libxml2 reports only ``<formation>`` ends to Python
    (no per-element event), validates each formation, and the document frame and the
    ``numero`` keys are checked once at the end. Any doubt (DOCTYPE, unexpected element,
    invalid formation, duplicate, syntax error) answers False: the caller then runs
    :func:`_validate_streaming`, which lists the errors."""
    keys = [_Keys("formation"), _Keys("action"), _Keys("session")]
    formations = 0
    offres = None
    try:
        for _event, el in etree.iterparse(open_source(), events=("end",), tag=_FORMATION, **_parser_options()):
            parent = el.getparent()
            if offres is None:
                offres = parent
                root = el.getroottree()
                if root.docinfo.doctype or offres is None or offres.tag != _OFFRES:
                    return False
                lheo = offres.getparent()
                if lheo is None or lheo.tag != _LHEO or lheo.getparent() is not None:
                    return False
            elif parent is not offres:
                return False
            if el.getprevious() is not None:
                return False  # something else than the formations already seen (they are removed)
            formations += 1
            if not schema.validate(el):
                return False
            if check_keys:
                keys[0].add(el.get("numero"), el.sourceline)
                for action in el.iterchildren(_ACTION):
                    keys[1].add(action.get("numero"), action.sourceline)
                    for session in action.iterchildren(_SESSION):
                        keys[2].add(session.get("numero"), session.sourceline)
            del parent[0]
    except etree.XMLSyntaxError:
        return False
    if offres is None or not formations or len(offres):
        return False  # no formation, or elements after the last one
    lheo = offres.getparent()
    children = list(lheo)
    if children[0] is not offres or any(c.tag != _EXTRAS for c in children[1:]):
        return False
    return not (check_keys and any(k.duplicates() for k in keys))


def _validate_streaming(open_source: Source, schema: etree.XMLSchema, check_keys: bool) -> list[str]:
    if _streaming_is_valid(open_source, schema, check_keys):
        return []
    errors: list[str] = []
    keys = [_Keys("formation"), _Keys("action"), _Keys("session")]
    depth = 0
    offres_seen = formations = 0
    context = etree.iterparse(open_source(), events=("start", "end"), **_parser_options())
    try:
        for event, el in context:
            if event == "start":
                depth += 1
                if depth == 1 and el.getroottree().docinfo.doctype:
                    return [_DOCTYPE_ERROR]
                if depth == 1 and el.tag != _LHEO:
                    errors.append(f"line {el.sourceline}: root element {el.tag} is not {_LHEO}")
                elif depth == 2:
                    if el.tag == _OFFRES and not offres_seen:
                        offres_seen = 1
                    elif el.tag != _EXTRAS or not offres_seen:
                        errors.append(f"line {el.sourceline}: element {el.tag} is not expected here")
                elif depth == 3 and el.tag != _FORMATION and offres_seen and el.getparent().tag == _OFFRES:
                    errors.append(f"line {el.sourceline}: element {el.tag} is not expected in offres")
                continue
            if depth == 3 and el.tag == _FORMATION:
                formations += 1
                if not schema.validate(el):
                    errors.extend(_format(schema.error_log))
                if check_keys:
                    keys[0].add(el.get("numero"), el.sourceline)
                    for action in el.iterchildren(_ACTION):
                        keys[1].add(action.get("numero"), action.sourceline)
                        for session in action.iterchildren(_SESSION):
                            keys[2].add(session.get("numero"), session.sourceline)
                el.clear(keep_tail=True)
                parent = el.getparent()
                while el.getprevious() is not None:
                    del parent[0]
            depth -= 1
    except etree.XMLSyntaxError as exc:
        errors.append(f"line {exc.lineno}: {exc.msg}")
        return errors
    if not offres_seen:
        errors.append("line 1: element offres is missing")
    elif not formations:
        errors.append("line 1: offres has no formation")
    if check_keys:
        for k in keys:
            errors.extend(k.duplicates())
    return errors


# --- a feed validated while it is being written --------------------------------------------------


class FeedAbandoned(RuntimeError):
    """The writer of a growing feed gave it up (or died): there is nothing to validate."""


ABANDONED = "abandoned"
POLL_SECONDS = 0.02


def mark_complete(marker: Path | str, size: int) -> None:
    """Tell the readers of a growing file that it is complete, with its final size (atomic)."""
    _write_marker(Path(marker), str(int(size)))


def mark_abandoned(marker: Path | str) -> None:
    """Tell the readers of a growing file that it will not be completed."""
    _write_marker(Path(marker), ABANDONED)


def _write_marker(marker: Path, text: str) -> None:
    tmp = marker.with_name(marker.name + ".tmp")
    tmp.write_text(text, encoding="ascii")
    os.replace(tmp, marker)


class GrowingFile:
    """A file another process is still appending to, read as a stream.

    ``read`` returns what is written so far; at the end of it, it waits (polling every
    :data:`POLL_SECONDS`) until more bytes arrive or the writer has written the final size
    into ``marker`` (:func:`mark_complete`); then the end of the file is the end of the stream.
    A marker saying :data:`ABANDONED`, or a writer process gone (this process was started by
    the writer, whose death re-parents it), raises :class:`FeedAbandoned`. Every byte read goes
    into ``digest`` when one is given; ``finished`` is true once the last byte was read.
    """

    def __init__(self, path: Path | str, marker: Path | str, digest=None):
        self._fh = open(path, "rb")
        self._marker = Path(marker)
        self._digest = digest
        self._parent = os.getppid()
        self.position = 0
        self.finished = False

    def read(self, size: int = -1) -> bytes:
        while True:
            data = self._fh.read(size if size and size > 0 else 1 << 20)
            if data:
                self.position += len(data)
                if self._digest is not None:
                    self._digest.update(data)
                return data
            final = self._final_size()
            if final is not None and self.position >= final:
                self.finished = True
                return b""
            time.sleep(POLL_SECONDS)

    def _final_size(self) -> int | None:
        try:
            text = self._marker.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            if os.getppid() != self._parent:
                raise FeedAbandoned("the process writing the feed is gone") from None
            return None
        if text == ABANDONED:
            raise FeedAbandoned("the feed was abandoned by its writer")
        return int(text)

    def drain(self) -> None:
        """Read (and hash) whatever the parser left unread, to the end of the file."""
        while self.read(1 << 20):
            pass

    def close(self) -> None:
        self._fh.close()


def validate_growing(xml_path: Path | str, marker: Path | str, xsd_path: Path | str) -> tuple[list[str], str | None]:
    """Errors of a feed that is still being written (see :class:`GrowingFile`), validated the
    streaming way as its bytes arrive, and the sha256 of the complete file (``None`` when the
    bytes could not all be read, e.g. a syntax error stopped the parser). Raises
    :class:`FeedAbandoned` when the writer gives the file up."""
    schema, has_keys = _load_checked(xsd_path)
    opened: list[GrowingFile] = []
    digests: list = []

    def open_source() -> GrowingFile:
        digest = hashlib.sha256()
        reader = GrowingFile(xml_path, marker, digest)
        opened.append(reader)
        digests.append(digest)
        return reader

    try:
        errors = _validate_streaming(open_source, schema, has_keys)
        last = opened[-1]
        last.drain()
        sha256 = digests[-1].hexdigest() if last.finished and last.position == Path(xml_path).stat().st_size else None
    finally:
        for reader in opened:
            reader.close()
    if len(errors) > MAX_ERRORS:
        errors = errors[:MAX_ERRORS] + [f"... and {len(errors) - MAX_ERRORS} more errors"]
    return errors, sha256
