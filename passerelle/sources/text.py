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


def _strict(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UndecodableError(encoding, exc.start, line) from exc


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
