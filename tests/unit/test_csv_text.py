"""The vectorised CSV encoder writes exactly what csv.writer (QUOTE_MINIMAL) writes."""

from __future__ import annotations

import csv
import io

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from passerelle.feeds.csv_text import csv_rows


def _reference(rows: list[list[str | None]], delimiter: str = ";") -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, quotechar='"', quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    return buf.getvalue().encode("utf-8")


def _columns(rows: list[list[str | None]]) -> list[pa.Array]:
    return [pa.array([row[i] for row in rows], pa.string()) for i in range(len(rows[0]))]


def test_quotes_only_the_cells_that_need_it():
    rows = [["a", "b;c", 'dit "oui"', "deux\nlignes", "retour\r", None, "", "é ü"]]
    out = csv_rows(_columns(rows))
    assert out == b'a;"b;c";"dit ""oui""";"deux\nlignes";"retour\r";;;\xc3\xa9 \xc3\xbc\r\n'
    assert out == _reference(rows)


def test_no_rows_no_bytes():
    assert csv_rows([pa.array([], pa.string())]) == b""
    assert csv_rows([]) == b""


def test_chunked_and_sliced_columns():
    col = pa.chunked_array([["x", "y;"], ["z"]])
    assert csv_rows([col, pa.array(["1", "2", "3"]).slice(0, 3)]) == b'x;1\r\n"y;";2\r\nz;3\r\n'
    sliced = pa.array(["skip", "a", 'b"']).slice(1)
    assert csv_rows([sliced]) == b'a\r\n"b"""\r\n'


cells = st.one_of(st.none(), st.text(alphabet=st.sampled_from(list("ab;\"\r\n ,é\t'=")), max_size=6))


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=1, max_value=4).flatmap(
        lambda width: st.lists(st.lists(cells, min_size=width, max_size=width), min_size=1, max_size=8)
    )
)
def test_same_bytes_as_csv_writer(rows):
    assert csv_rows(_columns(rows)) == _reference(rows)


def test_other_delimiter():
    rows = [["a,b", "c;d"]]
    assert csv_rows(_columns(rows), delimiter=",") == _reference(rows, ",")
