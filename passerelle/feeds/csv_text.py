"""CSV rows built with Arrow string kernels: the bytes ``csv.writer`` would write, vectorised.

``csv.writer(delimiter=";", quotechar='"', quoting=csv.QUOTE_MINIMAL, lineterminator="\\r\\n")``
quotes a field only when it holds the delimiter, the quote or a line break, and doubles the
quotes inside. :func:`csv_rows` does the same, column by column, for a block of rows, and
returns the UTF-8 bytes of the block: a million rows are encoded without turning a cell into
a Python object. The equivalence is tested against ``csv.writer`` (``tests/unit/test_csv_text.py``).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_EMPTY = pa.scalar("", pa.large_string())


def _field(column: pa.Array | pa.ChunkedArray, delimiter: str, alone: bool) -> pa.Array | pa.ChunkedArray:
    text = pc.fill_null(pc.cast(column, pa.large_string()), _EMPTY)
    special = "[" + "".join("\\" + c if c in "]\\^-" else c for c in delimiter + '"') + "\\r\\n]"
    needs_quotes = pc.match_substring_regex(text, special)
    if alone:  # a row of one empty field is written "" (else it would be a blank line)
        needs_quotes = pc.or_(needs_quotes, pc.equal(pc.binary_length(text), 0))
    if not pc.any(needs_quotes).as_py():
        return text
    quote = pa.scalar('"', pa.large_string())
    quoted = pc.binary_join_element_wise(quote, pc.replace_substring(text, '"', '""'), quote, _EMPTY)
    return pc.if_else(needs_quotes, quoted, text)


def csv_rows(columns: list[pa.Array | pa.ChunkedArray], delimiter: str = ";", line_end: str = "\r\n") -> bytes:
    """The rows made of ``columns`` (equally long, values as text; null = empty cell) as UTF-8
    CSV bytes, each row ended by ``line_end``."""
    if not columns or not len(columns[0]):
        return b""
    fields = [_field(c, delimiter, len(columns) == 1) for c in columns]
    sep = pa.scalar(delimiter, pa.large_string())
    lines = pc.binary_join_element_wise(*fields, sep)
    lines = pc.binary_join_element_wise(lines, pa.scalar(line_end, pa.large_string()), _EMPTY)
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset : lines.offset + len(lines) + 1]
    data = lines.buffers()[2]
    if data is None:
        return b""
    return data.slice(int(offsets[0]), int(offsets[-1] - offsets[0])).to_pybytes()
