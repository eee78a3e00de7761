"""Bad benchmark tables, fuzzed: ``TabularBenchmark.from_csv`` (and ``bench fidelity``'s reader) on
arbitrary bytes and on CSVs with random headers, bad architecture strings, non-numeric or
non-finite cells, in several encodings, either loads a valid table or raises ``TableError`` (an
``InfonasError``) in one line: never another exception."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infonas.bench.fidelity import read_table_columns
from infonas.evaluators.tabular import TabularBenchmark
from infonas.exceptions import InfonasError, TableError
from search_spaces import NB201Space

FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])

SPACE = NB201Space()
CELLS = [SPACE.format(SPACE.sample(np.random.default_rng(seed))) for seed in range(6)]
CELL = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
CELL2 = "|nor_conv_1x1~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"

COLUMN_NAMES = st.one_of(st.sampled_from(["arch", "acc", "acc_cheap", "note", "", " arch ", "ARCH", "acc"]),
                         st.text(max_size=6))
CELL_TEXT = st.one_of(
    st.sampled_from(CELLS),
    st.sampled_from(CELLS).map(lambda s: s[: len(s) // 2]),  # a cut architecture string
    st.sampled_from(["1.5", "-3", "0", "1e308", "1e999", "-1e999", "nan", "NaN", "inf", "-Infinity", "", " ", "1_0",
                     "0x10", "1,5", "high", '"', '""', "é", "\x00", "\ufeff1", "|", "+", "1\n2", "  7  "]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=8),
)
#: Mostly UTF-8, so that the cells, not the encoding, are what most examples test.
ENCODINGS = ["utf-8"] * 4 + ["utf-8-sig", "utf-16", "latin-1", "cp1252"]


def _quote(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"' if any(c in cell for c in ',"\n\r') else cell


@st.composite
def random_rows(draw) -> list[list[str]]:
    """A header of random columns (with or without ``arch``, duplicated or not) and random cells."""
    header = draw(st.lists(COLUMN_NAMES, min_size=1, max_size=4))
    if draw(st.booleans()) and "arch" not in header:
        header.insert(draw(st.integers(0, len(header))), "arch")
    rows = []
    for _ in range(draw(st.integers(0, 4))):
        width = len(header) if draw(st.integers(0, 5)) else draw(st.integers(0, len(header) + 2))
        rows.append([draw(CELL_TEXT) for _ in range(width)])
    return [header, *rows]


@st.composite
def nearly_valid_rows(draw) -> list[list[str]]:
    """A valid table (distinct cells, numbers, a text column) with none to three cells replaced."""
    cells = draw(st.lists(st.sampled_from(CELLS), min_size=1, max_size=4, unique=True))
    numbers = st.floats(-1e6, 1e6).map(lambda x: f"{x:.6g}")
    table = [["arch", "acc", "note"]] + [[cell, draw(numbers), draw(st.sampled_from(["a", "b", ""]))]
                                         for cell in cells]
    for _ in range(draw(st.integers(0, 3))):
        row = draw(st.integers(0, len(table) - 1))
        table[row][draw(st.integers(0, 2))] = draw(COLUMN_NAMES if row == 0 else CELL_TEXT)
    return table


@st.composite
def csv_tables(draw) -> bytes:
    """A random or nearly valid CSV, with random line ends, encoded in one of ``ENCODINGS``."""
    rows = draw(st.one_of(random_rows(), nearly_valid_rows()))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = newline.join(",".join(_quote(c) for c in row) for row in rows)
    if draw(st.booleans()):
        text += newline
    encoding = draw(st.sampled_from(ENCODINGS))
    return text.encode(encoding, errors="replace")


def load(data: bytes) -> TabularBenchmark | None:
    """``from_csv`` of ``data`` written to a fresh file: the table, or ``None`` after checking its error."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "table.csv"
        path.write_bytes(data)
        try:
            table = TabularBenchmark.from_csv(path, SPACE)
        except TableError as error:
            message = str(error)
            assert isinstance(error, InfonasError) and message and "\n" not in message, message
            assert str(path) in message, message  # names the file
            return None
        assert path.read_bytes() == data  # reading never changes the user's file
    check_valid(table)
    return table


def check_valid(table: TabularBenchmark) -> None:
    """What a loaded table guarantees: valid, distinct architectures; finite or unmeasured (NaN)
    metric values, one per row, each column measured somewhere."""
    assert len(table) >= 1 and len(set(table.archs)) == len(table.archs)
    for arch in table.archs:
        assert SPACE.validate(arch) is arch
    for name, values in table.metrics.items():
        assert values.shape == (len(table),)
        assert all(math.isnan(v) or math.isfinite(v) for v in values)
        assert not np.isnan(values).all(), name
    for texts in table.annotations.values():
        assert len(texts) == len(table)


@FUZZ
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes(data):
    load(data)


@FUZZ
@given(data=csv_tables())
def test_random_csvs(data):
    load(data)


@FUZZ
@given(prefix=st.binary(max_size=40), cut=st.integers(0, 400))
def test_a_valid_table_truncated_or_with_garbage_in_front(prefix, cut):
    valid = f"arch,acc\n{CELL},1.0\n{CELL2},2.0\n".encode()
    load(prefix + valid[:cut])


@settings(FUZZ, max_examples=100)
@given(data=st.one_of(st.binary(max_size=300), csv_tables()))
def test_the_fidelity_reader_reads_or_refuses_in_one_line(data):
    """``bench fidelity``'s reader (numeric columns only, no architecture rules) on the same files:
    columns of one float per data row, or one ``TableError`` naming the file."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "table.csv"
        path.write_bytes(data)
        try:
            columns = read_table_columns(path)
        except TableError as error:
            assert "\n" not in str(error) and str(path) in str(error), str(error)
            return
    assert len({values.shape for values in columns.values()}) <= 1
    assert all(values.dtype == np.float64 and values.ndim == 1 for values in columns.values())
    assert "\ufeff" not in "".join(columns)  # a byte order mark is no part of a name


# ----- regressions for what the fuzzing found -----

def test_a_table_with_a_byte_order_mark_loads():
    """Regression: a UTF-8 BOM (Excel's "CSV UTF-8") was read into the first column name, so
    ``arch`` was reported missing from ``['\\ufeffarch', 'acc']``."""
    table = load(f"arch,acc\n{CELL},1.0\n".encode("utf-8-sig"))
    assert table is not None and table.column("acc").tolist() == [1.0]


@pytest.mark.parametrize("data", [
    "arch,acc\n".encode("utf-16"),  # another encoding
    b"arch,acc\n\xff\xfe,1\n",  # binary garbage
    f"arch,note\n{CELL},caf\xe9\n".encode("latin-1"),
])
def test_a_table_that_is_not_utf8_is_one_table_error(data):
    """Regression: a file in another encoding, or binary, raised ``UnicodeDecodeError``."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "table.csv"
        path.write_bytes(data)
        with pytest.raises(TableError, match=r"is not UTF-8 text \(byte 0x[0-9a-f]{2} at offset \d+\); save it as UTF-8"):
            TabularBenchmark.from_csv(path, SPACE)


def test_a_malformed_csv_is_one_table_error():
    """Regression: ``csv.Error`` (here a field over the csv module's size limit) escaped as is."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "table.csv"
        path.write_text("arch,acc\n" + "x" * 200_000 + ",1\n")
        with pytest.raises(TableError, match="is not a well-formed CSV file"):
            TabularBenchmark.from_csv(path, SPACE)
