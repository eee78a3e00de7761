"""Tabular benchmarks: a table of recorded results, one row per architecture.

Any CSV with an ``arch`` column (the space's string form) and numeric metric columns is a
benchmark: NAS-Bench-201's table is one, a user's own table of results is another.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from infonas.evaluators.base import Evaluator, Fidelity
from infonas.exceptions import TableError
from infonas.trials import EvaluationResult
from search_spaces.base import Architecture, InvalidArchitectureError, SearchSpace


def _as_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def read_csv(path: str | Path, needs: str = "a header row of column names") -> tuple[list[str], list[list[str]]]:
    """The stripped header and the rows of the CSV file at ``path``; ``TableError`` in one line
    naming the file for a missing, unreadable, empty, non-UTF-8 or malformed one (``needs`` says
    what the table should hold). Example: ``header, rows = read_csv("table.csv")``."""
    path = Path(path)
    if not path.is_file():
        raise TableError(f"benchmark table {path} does not exist or is not a file; give the path of a CSV file "
                         f"with {needs}")
    try:
        # utf-8-sig: spreadsheets save "CSV UTF-8" with a byte order mark, which must not end
        # up in the first column's name.
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise TableError(f"{path}: a benchmark table is UTF-8 text, and this file is not UTF-8 text (byte "
                         f"0x{error.object[error.start]:02x} at offset {error.start}); save it as UTF-8 "
                         "CSV") from None
    except OSError as error:
        raise TableError(f"cannot read benchmark table {path} ({error.strerror or error}); check that it "
                         "is a readable CSV file") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
        rows = list(reader)
    except StopIteration:
        raise TableError(f"{path}: the file is empty; a benchmark table needs {needs}") from None
    except csv.Error as error:
        raise TableError(f"{path}: the file is not a well-formed CSV file (line {reader.line_num}: {error}); "
                         "write one row per line, fields separated by commas, quoting fields that hold "
                         "commas, quotes or line breaks") from None
    return [h.strip() for h in header], rows


class TabularBenchmark:
    """Recorded metrics per architecture, validated on load.

    Columns whose every value is text (e.g. NB201's ``nb201_unique``) are kept as annotations;
    a column with any number in it is a metric column, and then every value must be a finite
    number or empty. An empty cell means "not measured" (held as NaN): a table may measure some
    columns on a subset of its rows, like the extra training seeds of ``bench table``. Rows are
    found by the architecture value, so isomorphic cells keep their own rows.

    Example:
        >>> from search_spaces import NB201Space
        >>> table = TabularBenchmark.from_csv("../shared/benchmarks/nb201/nb201_cifar.csv", NB201Space())  # doctest: +SKIP
        >>> table.value(table.archs[0], "cifar10_test_200ep")  # doctest: +SKIP
        85.8633
    """

    def __init__(self, space: SearchSpace, archs: Sequence[Architecture], metrics: Mapping[str, np.ndarray],
                 annotations: Mapping[str, list[str]] | None = None, source: str = "<memory>") -> None:
        self.space = space
        self.archs = list(archs)
        self.metrics = {name: np.asarray(values, dtype=np.float64) for name, values in metrics.items()}
        self.annotations = dict(annotations or {})
        self.source = source
        self._row = {arch: row for row, arch in enumerate(self.archs)}
        if len(self._row) != len(self.archs):
            first: dict[Architecture, int] = {}
            for row, arch in enumerate(self.archs, start=1):
                if arch in first:
                    raise TableError(f"{source}: each architecture may have one row; {space.format(arch)} appears "
                                     f"in rows {first[arch]} and {row}: remove or merge the duplicates")
                first[arch] = row
        for name, values in self.metrics.items():
            if values.shape != (len(self.archs),):
                raise TableError(f"{source}: every metric column needs one value per row; column {name!r} has "
                                 f"{values.shape[0]} values for {len(self.archs)} rows")

    @classmethod
    def from_csv(cls, path: str | Path, space: SearchSpace, arch_column: str = "arch",
                 required: Sequence[str] = ()) -> TabularBenchmark:
        """Load and validate a CSV; ``required`` names metric columns that must be present.

        Errors name the file, the row (1-based data row, header excluded) and the column.
        """
        path = Path(path)
        header, rows = read_csv(path, f"a header with an {arch_column!r} column and one row per architecture")
        header = [h.strip() for h in header]
        if arch_column not in header:
            raise TableError(f"{path}: no {arch_column!r} column; columns are {header}: name the column of "
                             f"architecture strings {arch_column!r}")
        if len(set(header)) != len(header):
            repeated = sorted({h for h in header if header.count(h) > 1})
            raise TableError(f"{path}: column names must be unique; {repeated} appear more than once in {header}")
        if not rows:
            raise TableError(f"{path}: the table has no data rows; add one row per architecture below the header")
        for line, row in enumerate(rows, start=1):
            if len(row) != len(header):
                raise TableError(f"{path}: row {line} has {len(row)} fields, the header has {len(header)}; every "
                                 "row needs one field per column (quote fields that contain commas)")
        arch_index = header.index(arch_column)
        archs = []
        for line, row in enumerate(rows, start=1):
            try:
                archs.append(space.parse(row[arch_index]))
            except InvalidArchitectureError as error:
                raise TableError(f"{path}: row {line}, column {arch_column!r}: {error}") from None
        metrics: dict[str, np.ndarray] = {}
        annotations: dict[str, list[str]] = {}
        for col, name in enumerate(header):
            if col == arch_index:
                continue
            texts = [row[col].strip() for row in rows]
            parsed = [_as_float(t) for t in texts]
            if all(v is None for v in parsed) and any(texts):
                annotations[name] = texts
                continue
            if not any(texts):
                raise TableError(f"{path}: column {name!r} is empty in every row; give it a value in the rows "
                                 "where it was measured, or remove the column")
            for line, (text, value) in enumerate(zip(texts, parsed), start=1):
                if value is None and text:
                    raise TableError(f"{path}: row {line}, column {name!r}: the value is not a number ({text!r}); "
                                     "a metric column holds a number, or nothing where it was not measured (a "
                                     "column of text only is kept as an annotation)")
                if value is not None and not math.isfinite(value):
                    raise TableError(f"{path}: row {line}, column {name!r}: the value is {text!r}, not a finite "
                                     "number; a metric column holds finite numbers (leave a cell empty where "
                                     "nothing was measured)")
            metrics[name] = np.array([math.nan if v is None else v for v in parsed], dtype=np.float64)
        missing = [name for name in required if name not in metrics]
        if missing:
            raise TableError(f"{path}: missing metric column(s) {missing}; metric columns are {sorted(metrics)}: "
                             "check the name, and that the column holds numbers")
        return cls(space, archs, metrics, annotations, source=str(path))

    def __len__(self) -> int:
        return len(self.archs)

    def __contains__(self, arch: object) -> bool:
        return arch in self._row

    def column(self, name: str) -> np.ndarray:
        """All values of a metric column, in row order (NaN where not measured)."""
        self.require(name)
        return self.metrics[name]

    def measured_rows(self, *names: str) -> np.ndarray:
        """Boolean mask of the rows where every column in ``names`` was measured."""
        self.require(*names)
        mask = np.ones(len(self.archs), dtype=bool)
        for name in names:
            mask &= ~np.isnan(self.metrics[name])
        return mask

    def measured(self, *names: str) -> TabularBenchmark:
        """The table restricted to the rows where every column in ``names`` was measured (``self`` when
        that is every row).

        Example:
            >>> table.measured("test_acc_seed1").column("test_acc_seed1")  # doctest: +SKIP
            array([93.1, 93.1, ...])
        """
        mask = self.measured_rows(*names)
        if mask.all():
            return self
        rows = np.flatnonzero(mask)
        return TabularBenchmark(self.space, [self.archs[i] for i in rows],
                                {name: values[rows] for name, values in self.metrics.items()},
                                {name: [texts[i] for i in rows] for name, texts in self.annotations.items()},
                                source=self.source)

    def require(self, *names: str) -> None:
        missing = [n for n in names if n not in self.metrics]
        if missing:
            raise TableError(f"{self.source}: no metric column(s) {missing}; metric columns are "
                             f"{sorted(self.metrics)}: name one of those")

    def value(self, arch: Architecture, name: str) -> float:
        """The recorded ``name`` of ``arch``; ``KeyError`` if the table has no row for it."""
        self.require(name)
        try:
            row = self._row[arch]
        except KeyError:
            raise KeyError(f"architecture {self.space.format(arch)} is not in table {self.source}, which answers "
                           f"only for its {len(self.archs)} rows: evaluate architectures of the table") from None
        value = float(self.metrics[name][row])
        if math.isnan(value):
            raise KeyError(f"table {self.source} did not measure {name!r} for architecture "
                           f"{self.space.format(arch)} (its cell is empty): evaluate architectures whose "
                           f"{name!r} was measured (TabularBenchmark.measured)")
        return value

    def best(self, name: str, maximize: bool = True) -> tuple[Architecture, float]:
        """The row with the best measured value of ``name`` and that value."""
        values = self.column(name)
        if np.isnan(values).all():
            raise TableError(f"{self.source}: column {name!r} has no measured value; name a measured column")
        row = int(np.nanargmax(values) if maximize else np.nanargmin(values))
        return self.archs[row], float(values[row])


class TabularEvaluator(Evaluator):
    """Looks results up in a table; each fidelity reads one column.

    The target fidelity reads the ``objective`` column at cost 1; each cheap fidelity
    ``column -> cost`` reports its column's value *as* the objective, at that cost (in units of
    one target evaluation). ``extra_metrics`` are columns reported alongside at every fidelity.

    Example:
        >>> evaluator = TabularEvaluator(table, "cifar10_test_200ep", cheap={"cifar10_valid_12ep": 0.06})  # doctest: +SKIP
        >>> evaluator.evaluate(arch, "cifar10_valid_12ep").cost  # doctest: +SKIP
        0.06
    """

    def __init__(self, table: TabularBenchmark, objective: str, cheap: Mapping[str, float] | None = None,
                 extra_metrics: Sequence[str] = ()) -> None:
        cheap = dict(cheap or {})
        table.require(objective, *cheap, *extra_metrics)
        for column, cost in cheap.items():
            if not (cost > 0):
                raise ValueError(f"the cost of fidelity {column!r} must be positive (in units of one target "
                                 f"evaluation), got {cost}; e.g. cheap={{{column!r}: 0.1}}")
        self.table = table
        self.objective = objective
        self.extra_metrics = tuple(extra_metrics)
        self.metric_names = (objective, *self.extra_metrics)
        ranked = sorted(cheap.items(), key=lambda item: item[1])
        self.fidelities = {name: Fidelity(name, cost, level) for level, (name, cost) in enumerate(ranked)}
        self.fidelities[objective] = Fidelity(objective, 1.0, len(ranked))

    def _evaluable(self) -> np.ndarray:
        """Rows where every column this evaluator reads was measured."""
        return self.table.measured_rows(*{f: None for f in self.fidelities}, *self.extra_metrics)

    def known_values(self, metric: str) -> np.ndarray | None:
        """The column ``metric`` over the rows this evaluator can evaluate, where measured (``None``
        if the table has no such column)."""
        if metric not in self.table.metrics:
            return None
        values = self.table.column(metric)[self._evaluable()]
        return values[~np.isnan(values)]

    def domain(self) -> Sequence[Architecture] | None:
        """The architectures whose every column this evaluator reads was measured, when they are
        fewer than the space's; else ``None`` (all).

        Example:
            >>> TabularEvaluator(table_of_60_cells, "acc").domain()[:1]  # doctest: +SKIP
            [Architecture(nb201: ...)]
        """
        evaluable = self._evaluable()
        if evaluable.all():
            return self.table.archs if len(self.table) < self.table.space.size else None
        return [arch for arch, keep in zip(self.table.archs, evaluable) if keep]

    def _evaluate(self, arch: Architecture, fidelity: str) -> EvaluationResult:
        metrics = {self.objective: self.table.value(arch, fidelity)}
        metrics.update({name: self.table.value(arch, name) for name in self.extra_metrics})
        return EvaluationResult(metrics=metrics, cost=float(self.fidelities[fidelity].cost))
