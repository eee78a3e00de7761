import pytest

from infonas.evaluators.tabular import TableError, TabularBenchmark, TabularEvaluator
from infonas.trials import TrialStatus

CELL = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
CELL2 = "|nor_conv_1x1~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"


def write(tmp_path, text):
    path = tmp_path / "t.csv"
    path.write_text(text)
    return path


def test_loads_any_table_with_arch_and_metric_columns(tiny_table_file, space):
    table = TabularBenchmark.from_csv(tiny_table_file, space)
    assert len(table) == 60
    assert set(table.metrics) == {"acc", "acc_cheap"} and "note" in table.annotations
    arch, best = table.best("acc")
    assert table.value(arch, "acc") == best == table.column("acc").max()


@pytest.mark.parametrize("text, fragment", [
    ("index,acc\n0,1.0\n", "no 'arch' column"),
    (f"arch,acc\n{CELL},1.0\n|bad|,2.0\n", "row 2, column 'arch'"),
    (f"arch,acc,more\n{CELL},1.0,\n{CELL2},2.0,\n", "column 'more' is empty in every row"),
    (f"arch,acc\n{CELL},nan\n{CELL2},1.0\n", "row 1, column 'acc': the value is 'nan'"),
    (f"arch,acc\n{CELL},1.0\n{CELL2},high\n", "row 2, column 'acc': the value is not a number"),
    (f"arch,acc\n{CELL},1.0\n{CELL},2.0\n", "appears in rows 1 and 2: remove or merge"),
    (f"arch,acc\n{CELL},1.0,3\n", "row 1 has 3 fields"),
    ("", "empty"),
    ("arch,acc\n", "no data rows"),
])
def test_bad_tables_name_row_and_column(tmp_path, space, text, fragment):
    with pytest.raises(TableError, match=fragment.replace("|", r"\|")):
        TabularBenchmark.from_csv(write(tmp_path, text), space)


def test_missing_required_column_and_file(tmp_path, space, tiny_table_file):
    with pytest.raises(TableError, match=r"missing metric column\(s\) \['cifar10'\]"):
        TabularBenchmark.from_csv(tiny_table_file, space, required=["cifar10"])
    with pytest.raises(TableError, match="does not exist"):
        TabularBenchmark.from_csv(tmp_path / "nope.csv", space)


def test_evaluator_fidelities_and_costs(tiny_table_file, space):
    table = TabularBenchmark.from_csv(tiny_table_file, space)
    evaluator = TabularEvaluator(table, "acc", cheap={"acc_cheap": 0.06})
    assert evaluator.target_fidelity == "acc"
    arch = table.archs[3]
    cheap = evaluator.evaluate(arch, "acc_cheap")
    full = evaluator.evaluate(arch)
    assert cheap.cost == 0.06 and full.cost == 1.0
    assert cheap.metrics == {"acc": table.value(arch, "acc_cheap")}
    assert full.metrics == {"acc": table.value(arch, "acc")}
    with pytest.raises(ValueError, match="unknown fidelity 'acc_200'"):
        evaluator.evaluate(arch, "acc_200")
    with pytest.raises(ValueError, match="must be positive"):
        TabularEvaluator(table, "acc", cheap={"acc_cheap": 0.0})


def test_architecture_missing_from_table_is_a_failed_trial(tiny_table_file, space):
    table = TabularBenchmark.from_csv(tiny_table_file, space)
    outside = next(a for a in space.enumerate() if a not in table)
    result = TabularEvaluator(table, "acc").evaluate(outside)
    assert result.status is TrialStatus.FAILED and "not in table" in result.error


CELL3 = "|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"


def test_empty_cells_are_not_measured_and_leave_the_domain(tmp_path, space):
    text = f"arch,acc,cheap,seed2\n{CELL},1.0,0.5,\n{CELL2},3.0,,2.5\n{CELL3},2.0,0.7,1.5\n"
    table = TabularBenchmark.from_csv(write(tmp_path, text), space)
    assert table.best("seed2") == (space.parse(CELL2), 2.5)
    with pytest.raises(KeyError, match="did not measure 'seed2'"):
        table.value(space.parse(CELL), "seed2")
    assert [space.format(a) for a in table.measured("cheap", "seed2").archs] == [CELL3]
    assert table.measured("acc") is table
    evaluator = TabularEvaluator(table, "acc", cheap={"cheap": 0.1})
    # CELL2 has no cheap value: a multi-fidelity search must not propose it.
    assert [space.format(a) for a in evaluator.domain()] == [CELL, CELL3]
    assert sorted(evaluator.known_values("seed2")) == [1.5]
    assert TabularEvaluator(table, "acc").domain() == table.archs


@pytest.mark.table
def test_nb201_table_loads(nb201_table):
    assert len(nb201_table) == 15625
    arch, best = nb201_table.best("cifar10_test_200ep")
    assert best == pytest.approx(94.3733)
    assert "nb201_unique" in nb201_table.annotations
