"""Text conventions of the financer extracts: encodings, dates, hours, numbers.

Every parser is vectorised over a pandas Series of strings and returns ``(values, invalid)``
where ``invalid`` is a boolean mask of the cells that were not empty but could not be read.
Empty cells give nulls and are never invalid. The readers turn ``invalid`` cells into findings
naming the line, the field and the raw value.
"""

from __future__ import annotations

import codecs

import numpy as np
import pandas as pd
import pyarrow as pa

DATE_DTYPE = pd.ArrowDtype(pa.date32())


class UndecodableError(ValueError):
    """The bytes are neither valid UTF-8 nor valid in the expected legacy encoding."""

    def __init__(self, encoding: str, position: int, line: int):
        super().__init__(f"undecodable byte at offset {position} (line {line}) for {encoding}")
        self.encoding = encoding
        self.position = position
        self.line = line


def decode_bytes(data: bytes, expected: str = "cp1252") -> tuple[str, str]:
    """Decode an extract, trusting what the bytes say over what the contract says.

    - a BOM wins (UTF-8, UTF-16 LE/BE);
    - bytes that are valid UTF-8 and contain non-ASCII characters are UTF-8 (a legacy
      single-byte text almost never forms valid multi-byte sequences by chance);
    - otherwise the contract's ``expected`` encoding, strictly: a byte undefined in it raises
      :class:`UndecodableError` (never mojibake, never silent replacement).

    Returns ``(text, encoding_name)``.
    """
    if data.startswith(codecs.BOM_UTF8):
        return _strict(data[3:], "utf-8"), "utf-8-sig"
    if data.startswith(codecs.BOM_UTF16_LE) or data.startswith(codecs.BOM_UTF16_BE):
        return _strict(data, "utf-16"), "utf-16"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return text, ("utf-8" if not data.isascii() else expected)
    return _strict(data, expected), expected


def _strict(data: bytes, encoding: str, offset: int = 0, line0: int = 0) -> str:
    """Decode strictly; ``offset``/``line0``: where ``data`` starts in the whole file (for the error)."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = line0 + data.count(b"\n", 0, exc.start) + 1
        raise UndecodableError(encoding, offset + exc.start, line) from exc


_SCAN_BLOCK = 1 << 24  # bytes scanned at a time for UTF-8 sequences (bounded temporary arrays)


def decode_mixed(data: bytes, expected: str = "cp1252") -> tuple[str, str, list[int]]:
    """:func:`decode_bytes`, plus the repair of a legacy-encoded file holding UTF-8 lines.

    Some exports glue together parts written in two encodings. When the file as a whole is not
    UTF-8, every physical line that contains a UTF-8 multi-byte sequence *and* is valid UTF-8
    as a whole is decoded as UTF-8; the other lines in ``expected`` (strictly). Without that,
    the UTF-8 lines would silently turn into mojibake (``Ã©`` for ``é``).

    Returns ``(text, encoding, utf8_lines)``: ``utf8_lines`` are the 1-based numbers of the
    lines read as UTF-8, empty for a file in one encoding; when it is not empty the encoding is
    ``"<expected>+utf-8"``. Raises :class:`UndecodableError` like :func:`decode_bytes` (a
    byte neither of the repaired UTF-8 lines nor valid in ``expected``), with its true line.
    """
    try:
        text, encoding = decode_bytes(data, expected)
    except UndecodableError as exc:
        if exc.encoding != expected:
            raise
        failure: UndecodableError | None = exc
    else:
        if encoding != expected or data.isascii():
            return text, encoding, []
        failure = None
    spans = _utf8_lines(data)
    if not spans:
        if failure is not None:
            raise failure
        return text, encoding, []
    pieces: list[str] = []
    pos = line_before = 0
    for start, end, number in spans:
        pieces.append(_strict(data[pos:start], expected, pos, line_before))
        pieces.append(data[start:end].decode("utf-8"))
        pos, line_before = end, number - 1
    pieces.append(_strict(data[pos:], expected, pos, line_before))
    return "".join(pieces), f"{expected}+utf-8", [n for _, _, n in spans]


def _utf8_lines(data: bytes) -> list[tuple[int, int, int]]:
    """``(start, end, line number)`` of the lines holding a UTF-8 multi-byte sequence and valid
    as UTF-8 as a whole.

    Candidates are a lead byte (0xC2-0xF4) followed by a continuation byte (0x80-0xBF), found
    vectorised; in a Windows-1252 text that is an accented capital followed by a symbol
    (``Ã©``), which French text practically never holds, and the whole line must then decode
    as UTF-8. Only the candidate lines are looked at one by one.
    """
    arr = np.frombuffer(data, dtype=np.uint8)
    found = []
    for s in range(0, max(len(arr) - 1, 0), _SCAN_BLOCK):
        a = arr[s : s + _SCAN_BLOCK + 1]
        hits = np.flatnonzero((a[:-1] >= 0xC2) & (a[:-1] <= 0xF4) & ((a[1:] & 0xC0) == 0x80))
        if len(hits):
            found.append(hits + s)
    if not found:
        return []
    candidates = np.concatenate(found)
    out = []
    pos = 0
    line = 1  # number of the line starting at ``pos``
    i = 0
    while i < len(candidates):
        c = int(candidates[i])
        start = data.rfind(b"\n", 0, c) + 1
        end = data.find(b"\n", c)
        end = len(data) if end == -1 else end
        line += data.count(b"\n", pos, start)
        try:
            data[start:end].decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            out.append((start, end, line))
        pos = end
        i = int(np.searchsorted(candidates, end, side="left"))
    return out


# --- text -------------------------------------------------------------------------------------


def clean_text(s: pd.Series) -> pd.Series:
    """Strip surrounding white space (incl. NBSP); empty cells become null."""
    s = s.astype("string").str.strip()
    return s.mask(s == "")


# --- dates ------------------------------------------------------------------------------------

_DATE_FORMATS = (
    # regex, strptime format
    (r"^\d{1,2}/\d{1,2}/\d{4}$", "%d/%m/%Y"),
    (r"^\d{1,2}/\d{1,2}/\d{2}$", "%d/%m/%y"),  # two-digit years: 00-68 -> 20xx, 69-99 -> 19xx
    (r"^\d{4}-\d{2}-\d{2}$", "%Y-%m-%d"),
    (r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?$", "ISO8601"),
    (r"^\d{1,2}-\d{1,2}-\d{4}$", "%d-%m-%Y"),
    (r"^\d{1,2}\.\d{1,2}\.\d{4}$", "%d.%m.%Y"),
)


def parse_dates(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse French text dates (``dd/mm/yy``, ``dd/mm/yyyy``) and ISO dates.

    Impossible dates (``31/02/27``) and anything else unreadable are ``invalid``.
    Returns a ``date32[pyarrow]`` Series and the invalid mask.
    """
    text = clean_text(s)
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[s]")
    present = text.notna()
    matched = pd.Series(False, index=s.index)
    for pattern, fmt in _DATE_FORMATS:
        m = present & ~matched & text.str.match(pattern).fillna(False).astype(bool)
        if m.any():
            kwargs = {"format": "ISO8601"} if fmt == "ISO8601" else {"format": fmt}
            parsed = pd.to_datetime(text[m].astype(object), errors="coerce", **kwargs)
            out.loc[m] = parsed.values.astype("datetime64[s]")
            matched |= m
    invalid = (present & out.isna()).fillna(False).astype(bool)
    return to_date32(out), invalid


def to_date32(s: pd.Series) -> pd.Series:
    """Any datetime-like Series (or python dates / None) as ``date32[pyarrow]``."""
    if isinstance(s.dtype, pd.ArrowDtype) and pa.types.is_date32(s.dtype.pyarrow_dtype):
        return s
    arr = pa.array(pd.to_datetime(s, errors="coerce"), from_pandas=True)
    return pd.Series(arr.cast(pa.timestamp("s")).cast(pa.date32()), index=s.index, dtype=DATE_DTYPE)


# --- hours ------------------------------------------------------------------------------------

_HOUR = r"^(?P<h>\d{1,2})\s*(?:[:.hH]\s*(?P<m>\d{2})?)?$"


def parse_hours(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``09:00``, ``9.00``, ``09h00``, ``9h``, ``10 : 00`` -> ``"HH:MM"``; invalid otherwise."""
    text = clean_text(s)
    parts = text.str.extract(_HOUR)
    h = pd.to_numeric(parts["h"], errors="coerce")
    m = pd.to_numeric(parts["m"], errors="coerce").fillna(0)
    ok = h.notna() & (h <= 23) & (m <= 59)
    out = pd.Series(pd.NA, index=s.index, dtype="string")
    if ok.any():
        out[ok] = h[ok].astype(int).map("{:02d}".format) + ":" + m[ok].astype(int).map("{:02d}".format)
    invalid = (text.notna() & ~ok).fillna(False).astype(bool)
    return out, invalid


# --- numbers ----------------------------------------------------------------------------------


def parse_decimal(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """French decimals: ``12,5`` / ``1 234,50`` / ``12.5``. Units or letters are invalid."""
    text = clean_text(s)
    norm = text.str.replace(r"[\s\u00a0\u202f]", "", regex=True).str.replace(",", ".", regex=False)
    good = norm.str.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)").fillna(False).astype(bool)
    vals = pd.to_numeric(norm.where(good), errors="coerce")
    out = pd.Series(vals, index=s.index, dtype="Float64")
    invalid = (text.notna() & ~good).fillna(False).astype(bool)
    return out, invalid


def parse_int(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Whole numbers (``12``, ``1 200``, ``12,0``). Fractions, units, letters or values beyond
    the int32 range are invalid."""
    vals, invalid = parse_decimal(s)
    # values that do not fit in int32 (the canonical type) are unreadable, not wrapped around
    frac = vals.notna() & ((vals.fillna(0) % 1 != 0) | (vals.fillna(0).abs() > 2**31 - 1))
    invalid = (invalid | frac).fillna(False).astype(bool)
    out = vals.mask(frac).round().astype("Int32")
    return out, invalid


def digits_only(s: pd.Series) -> pd.Series:
    """Remove spaces, dots and dashes that people put inside identifiers (SIRET, NDA)."""
    return clean_text(s).str.replace(r"[\s\u00a0.\-]", "", regex=True)


def invalid_rows(invalid: pd.Series) -> np.ndarray:
    """Positions of the True cells of a mask (for building findings)."""
    return np.flatnonzero(invalid.to_numpy(dtype=bool, na_value=False))
