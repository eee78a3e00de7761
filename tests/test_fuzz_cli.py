"""Bad command lines, fuzzed: ``infonas search|resume|report|metrics|gradient|compare|bench search``
with option values out of range, negative, NaN, huge, empty, unknown, and bad paths, architecture
strings and method specs. A refused command exits with status 1 or 2, prints no traceback and
exactly one line starting with ``Error`` (the last: a usage error's usage block comes before it),
and leaves the folder it ran in as it was: no run directory, no output file, no file changed.

Each command gets a *stopper* where valid options would start real work: a table that does not
exist (or lacks what the command needs), a run directory that is no run, an architecture string
of no space. Where a command is cheap on a small table (search, bench search), a second test
fuzzes the options that need the table's columns, with a budget of one or two evaluations: such
a command may succeed, and is only checked when it fails.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from infonas.cli import main
from infonas.exceptions import RunStoreError
from infonas.storage import RunStore
from search_spaces import MacroSpace, NB201Space

FUZZ = settings(max_examples=80, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])

# ----- values -----

#: Counts: negative, zero, fractional, non-finite, huge, empty, not numbers (and some valid ones).
INTS = st.one_of(st.integers(-3, 3).map(str), st.sampled_from(
    ["0", "-1", "1.5", "1e3", "", " ", "nan", "inf", "-inf", "99999999999999999999999", "abc", "0x10", "٣", "+2"]))
#: Amounts: as INTS, plus signed zeros, overflowing and subnormal floats.
FLOATS = st.one_of(INTS, st.sampled_from(["0.0", "-0", "1e309", "-1e309", "1e-320", "NaN", "Infinity", "1_0", ".",
                                          "2e", "0.5"]))
#: Names of columns, strategies, spaces, data sets, methods: unknown, empty, malformed, and known.
NAMES = st.sampled_from(["", " ", "nope", "acc", "acc_cheap", "note", "arch", "test_acc", "valid_acc", "rs", "ls", "rea",
                         "bo-ei", "bo-mf", "nsga2", "bo-ehvi", "magic", "nb201", "macro", "nb999", "mnist1d", "digits",
                         "cifar10", "darts-1", "gdas", "rsps", "é", "ACC", "acc ", "-", "--budget"])
#: Comma-separated lists and specs: empty items, repeats, malformed brackets and options.
LISTS = st.one_of(NAMES, st.lists(NAMES, min_size=1, max_size=3).map(",".join), st.sampled_from(
    [",", ",,", "rs,rs", "bo-ei[", "bo-ei]", "bo-ei[warp=none]", "bo-ei[warp=nope]", "bo-ei[n_init=0]",
     "bo-ei[x=1]", "bo-ei[=1]", "bo-ei[warp=none;warp=copula]", "rs[seed=1]", "a b", "[]", "rs,bo-ei[warp=none"]))
OBJECTIVES = st.one_of(st.sampled_from(
    ["acc:max", "acc:min", "acc:max,acc_cheap:min", "acc:sideways", "acc", ":max", "acc:max,", "acc:max,acc:min",
     "nope:max,acc:min", "acc:MAX", "acc:max:min", ",", ""]), LISTS)
REFERENCE_POINTS = st.sampled_from(["acc=0", "acc=0,acc_cheap=1", "acc", "acc=", "=1", "acc=nan", "acc=inf",
                                    "acc=1,acc=2", "nope=1", "acc=1e309", "", ",", "acc=x"])
TEMPERATURES = st.sampled_from(["10:0.1", "1:1", "0:1", "-1:1", "1", ":", "1:", "nan:1", "inf:1", "1:1:1", "", "a:b",
                                "1e309:1", "1e-320:1"])


def _bad_arch_texts() -> st.SearchStrategy[str]:
    """Strings that are no architecture of either space (checked with ``assume``)."""
    nb201 = NB201Space().format(NB201Space().sample(np.random.default_rng(0)))
    macro = MacroSpace().format(MacroSpace().sample(np.random.default_rng(0)))
    cut = st.sampled_from([nb201, macro]).flatmap(
        lambda s: st.tuples(st.integers(0, len(s)), st.integers(0, len(s))).map(lambda ij: s[:ij[0]] + s[ij[1]:]))
    return st.one_of(st.text(max_size=20), cut, st.sampled_from(["", "|", "||", "+", nb201.replace("~", "-"),
                                                                 macro.replace(",", ";"), nb201 + "+", macro[1:]]))


def _is_architecture(text: str) -> bool:
    for space in (NB201Space(), MacroSpace()):
        try:
            space.parse(text)
            return True
        except ValueError:
            pass
    return False


def options(draw, valid: dict[str, str | None], fuzzed: dict[str, st.SearchStrategy[str] | None],
            required: tuple[str, ...] = ()) -> list[str]:
    """The ``required`` and some other ``valid`` options (``None``: a flag), with one or two options
    (rarely a required one left out) set to fuzzed values instead, in random order: command lines
    that are mostly valid reach the checks that come late."""
    chosen = {name: valid[name] for name in draw(st.lists(st.sampled_from(sorted(valid)), unique=True))}
    chosen.update({name: valid[name] for name in required if draw(st.sampled_from([True] * 19 + [False]))})
    for name in draw(st.lists(st.sampled_from(sorted(fuzzed)), unique=True, min_size=1, max_size=2)):
        chosen[name] = None if fuzzed[name] is None else draw(fuzzed[name])
    order = draw(st.permutations(sorted(chosen)))
    return [part for name in order for part in ([name] if chosen[name] is None else [name, chosen[name]])]


# ----- the folder a command runs in, and what a refused command may print -----

@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> dict[str, str]:
    """Absolute paths: ``tiny`` (12 NB201 rows: acc, acc_cheap, note), ``unsearchable`` (compare's
    columns, but no row with all three measured), ``missing`` (no file), ``run`` (a finished 4-trial
    random search of ``tiny``, which ``_prepare`` copies into each example's folder)."""
    folder = tmp_path_factory.mktemp("fuzz_cli")
    space = NB201Space()
    cells = sorted({space.format(space.sample(np.random.default_rng(seed))) for seed in range(12)})
    tiny = folder / "tiny.csv"
    tiny.write_text("arch,acc,acc_cheap,note\n" + "".join(f"{c},{50 + i},{40 + i},n\n" for i, c in enumerate(cells)))
    unsearchable = folder / "unsearchable.csv"
    unsearchable.write_text("arch,test_acc,valid_acc,train_seconds\n" + "".join(
        f"{c},{50 + i},,{i}\n" if i % 2 else f"{c},{50 + i},{50 + i},\n" for i, c in enumerate(cells)))
    run = folder / "run"
    made = CliRunner().invoke(main, ["search", "--table", str(tiny), "--objective", "acc", "--strategy", "rs",
                                     "--budget", "4", "--run-dir", str(run), "--quiet"])
    assert made.exit_code == 0, made.output
    return {"tiny": str(tiny), "unsearchable": str(unsearchable), "missing": str(folder / "missing.csv"),
            "run": str(run)}


#: Paths a command may be given, relative to the folder it runs in (made by ``_prepare``). Never
#: absolute, nor "..": a command that succeeds (a search given --run-dir /) would write outside it.
PATHS = st.sampled_from(["missing", "missing/deeper/x.json", "empty_dir", "a_file.txt", "not_a_run", "list_run",
                         "", ".", "x" * 300, "é ß.json", "a_file.txt/below", "run/config.json"])


def _prepare(folder: Path, tables: dict[str, str]) -> None:
    shutil.copytree(tables["run"], folder / "run")
    (folder / "empty_dir").mkdir()
    (folder / "a_file.txt").write_text("not a run\n")
    (folder / "not_a_run").mkdir()
    (folder / "not_a_run" / "config.json").write_text("{")
    (folder / "list_run").mkdir()
    (folder / "list_run" / "config.json").write_text("[]\n")


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


def run_in_a_fresh_folder(args: list[str], tmp_root: Path, tables: dict[str, str]) -> tuple[object, bool]:
    """``infonas ARGS`` in a new folder holding ``_prepare``'s files: the result, and whether the
    folder is as it was."""
    folder = Path(tempfile.mkdtemp(dir=tmp_root))
    _prepare(folder, tables)
    before = _snapshot(folder)
    cwd = os.getcwd()
    os.chdir(folder)  # relative paths, and the default runs/ folder, land in it
    try:
        result = CliRunner().invoke(main, args)
    finally:
        os.chdir(cwd)
    unchanged = _snapshot(folder) == before
    shutil.rmtree(folder)
    return result, unchanged


def check_refused(result, unchanged: bool) -> None:
    """Status 1 or 2, no traceback, one ``Error`` line and it is the last, nothing left behind."""
    shown = f"{result.output}\n{result.exc_info!r}"
    assert result.exception is None or isinstance(result.exception, SystemExit), shown
    assert result.exit_code in (1, 2), shown
    assert "Traceback" not in result.output, shown
    lines = result.output.rstrip("\n").splitlines()
    errors = [line for line in lines if line.startswith("Error")]
    assert len(errors) == 1 and lines[-1] == errors[0], shown
    assert unchanged, shown


def check_refused_or_done(result, unchanged: bool) -> None:
    """What a command that may be valid must do: succeed, or be refused as ``check_refused`` says."""
    if result.exit_code == 0 and result.exception is None:
        assert "Traceback" not in result.output and "Error" not in result.output, result.output
        return
    check_refused(result, unchanged)


@pytest.fixture(scope="module")
def tmp_root(tmp_path_factory) -> Path:
    """Where each example's fresh folder is made (hypothesis' examples share a test's fixtures)."""
    return tmp_path_factory.mktemp("fuzz_cli_runs")


# ----- search -----

SEARCH = {"--space": NAMES, "--data": NAMES, "--objective": NAMES, "--minimize": None, "--strategy": LISTS,
          "--budget": INTS, "--max-cost": FLOATS, "--max-seconds": FLOATS, "--seed": INTS, "--batch-size": INTS,
          "--run-dir": PATHS, "--epochs": INTS, "--supernet-epochs": INTS, "--channels": INTS,
          "--objectives": st.one_of(OBJECTIVES, st.just("acc:max,flops:min")), "--reference-point": REFERENCE_POINTS,
          "--cheap": NAMES, "--cheap-cost": FLOATS, "--quiet": None}
SEARCH_VALID = {"--space": "nb201", "--objective": "acc", "--strategy": "rs", "--budget": "1", "--max-cost": "1",
                "--max-seconds": "30", "--seed": "0", "--batch-size": "1", "--run-dir": "run", "--quiet": None}


@FUZZ
@given(data=st.data())
def test_search_with_a_missing_table(tables, tmp_root, data):
    threads = data.draw(st.sampled_from([[]] * 6 + [["--threads", "0"], ["--threads", "x"], ["--threads", "1"]]))
    args = threads + ["search", "--table", tables["missing"], *options(data.draw, SEARCH_VALID, SEARCH, ("--objective",))]
    check_refused(*run_in_a_fresh_folder(args, tmp_root, tables))


#: The options whose checks need the table's columns; no computed objective (measuring FLOPs is real work).
SEARCH_ON_A_TABLE = {"--space": NAMES, "--objective": NAMES, "--minimize": None, "--strategy": LISTS,
                     "--seed": INTS, "--batch-size": st.sampled_from(["2", "0", "-1"]), "--objectives": OBJECTIVES,
                     "--reference-point": REFERENCE_POINTS, "--cheap": NAMES, "--cheap-cost": FLOATS,
                     "--run-dir": PATHS}


@FUZZ
@given(data=st.data())
def test_search_on_a_small_table(tables, tmp_root, data):
    strategy = data.draw(st.sampled_from(["rs", "ls", "rea", "bo-ei", "bo-mf", "nsga2"]))
    valid = {**SEARCH_VALID, "--strategy": strategy, "--cheap": "acc_cheap", "--cheap-cost": "0.1"}
    if strategy == "nsga2":  # several objectives: a reference point may go with them
        valid.update({"--objectives": "acc:max,acc_cheap:min", "--reference-point": "acc=0,acc_cheap=100"})
        del valid["--objective"]
    for fixed in ("--budget", "--max-cost", "--max-seconds", "--quiet"):
        del valid[fixed]
    required = ("--objectives",) if strategy == "nsga2" else ("--objective",)
    args = ["search", "--table", tables["tiny"], *options(data.draw, valid, SEARCH_ON_A_TABLE, required),
            "--budget", "1", "--max-seconds", "30", "--quiet"]
    check_refused_or_done(*run_in_a_fresh_folder(args, tmp_root, tables))


# ----- resume, report -----

@FUZZ
@given(data=st.data())
def test_resume_and_report(tables, tmp_root, data):
    """Of a finished 4-trial run (``run``: a resume to a small budget does little) or of no run."""
    command = data.draw(st.sampled_from(["resume", "report"]))
    if command == "resume":
        valid = {"--budget": "4", "--max-cost": "4", "--max-seconds": "30", "--quiet": None}
        fuzzed = {"--budget": INTS, "--max-cost": FLOATS, "--max-seconds": FLOATS}
    else:
        valid = {"--json": None, "--summary-json": None, "--no-plots": None}
        fuzzed = {"--plots": None, "--json": None, "--summary-json": None}
    run_dir = data.draw(st.one_of(st.just("run"), PATHS))
    args = [command, run_dir, *options(data.draw, valid, fuzzed)]
    result = run_in_a_fresh_folder(args, tmp_root, tables)
    (check_refused_or_done if run_dir == "run" else check_refused)(*result)


# ----- metrics -----

@FUZZ
@given(data=st.data())
def test_metrics_of_no_architecture(tables, tmp_root, data):
    arch = data.draw(_bad_arch_texts())
    assume(not _is_architecture(arch))
    valid = {"--space": "nb201", "--dataset": "digits", "--device": "cpu", "--batch-size": "1", "--arch": arch}
    if arch.startswith("|d"):  # a damaged macro string: in its own space, so the macro checks run
        valid.update({"--space": "macro", "--dataset": "mnist1d"})
    fuzzed = {"--space": NAMES, "--dataset": NAMES, "--device": st.sampled_from(["", "gpu", "cuda:99", "nope"]),
              "--batch-size": INTS, "--arch": _bad_arch_texts().filter(lambda text: not _is_architecture(text))}
    args = ["metrics", *options(data.draw, valid, fuzzed, ("--arch",))]
    check_refused(*run_in_a_fresh_folder(args, tmp_root, tables))


# ----- gradient -----

GRADIENT = {"--method": NAMES, "--space": NAMES, "--data": NAMES, "--epochs": INTS, "--seed": INTS,
            "--run-dir": PATHS, "--channels": INTS, "--max-skips": INTS, "--stop-at-skips": INTS, "--l1": FLOATS,
            "--skip-drop-path": FLOATS, "--temperature": TEMPERATURES, "--flops-budget": FLOATS,
            "--flops-weight": FLOATS, "--fit-budget": None, "--json": PATHS, "--quiet": None}
GRADIENT_VALID = {"--method": "gdas", "--space": "nb201", "--data": "digits", "--epochs": "1", "--seed": "0",
                  "--run-dir": "run", "--channels": "4", "--max-skips": "2", "--stop-at-skips": "3", "--l1": "0.1",
                  "--skip-drop-path": "0.2", "--temperature": "10:0.1", "--flops-budget": "1e6",
                  "--flops-weight": "1", "--fit-budget": None, "--json": "out.json", "--quiet": None}


@FUZZ
@given(data=st.data())
def test_gradient_with_an_unusable_table(tables, tmp_root, data):
    table = tables[data.draw(st.sampled_from(["missing", "tiny"]))]  # tiny has no test_acc column
    args = ["gradient", "--table", table, *options(data.draw, GRADIENT_VALID, GRADIENT)]
    check_refused(*run_in_a_fresh_folder(args, tmp_root, tables))


# ----- compare -----

COMPARE = {"--space": NAMES, "--data": NAMES, "--methods": LISTS, "--seeds": INTS, "--budget-seconds": FLOATS,
           "--objective": NAMES, "--work-dir": PATHS, "--out": PATHS, "--quiet": None}
COMPARE_VALID = {"--space": "nb201", "--data": "digits", "--methods": "rs,gdas", "--seeds": "1",
                 "--budget-seconds": "60", "--objective": "test_acc", "--work-dir": "work", "--out": "out.json",
                 "--quiet": None}


@FUZZ
@given(data=st.data())
def test_compare_with_a_table_it_cannot_search(tables, tmp_root, data):
    table = tables[data.draw(st.sampled_from(["missing", "tiny", "unsearchable", "unsearchable"]))]
    args = ["compare", "--table", table, *options(data.draw, COMPARE_VALID, COMPARE, ("--budget-seconds",))]
    check_refused(*run_in_a_fresh_folder(args, tmp_root, tables))


# ----- bench search -----

BENCH_SEARCH = {"--objective": NAMES, "--minimize": None, "--methods": LISTS, "--seeds": INTS, "--budget": FLOATS,
                "--cheap": NAMES, "--cheap-cost": FLOATS, "--cheap-setup-cost": FLOATS, "--unit-seconds": FLOATS,
                "--workers": INTS, "--space": NAMES, "--full-budget": None, "--out": PATHS, "--quiet": None}
BENCH_SEARCH_VALID = {"--objective": "acc", "--methods": "rs", "--seeds": "1", "--budget": "2", "--cheap": "acc_cheap",
                      "--cheap-cost": "0.1", "--cheap-setup-cost": "1", "--unit-seconds": "2", "--workers": "1",
                      "--space": "nb201", "--out": "out.json", "--quiet": None}


@FUZZ
@given(data=st.data())
def test_bench_search_with_a_missing_table(tables, tmp_root, data):
    args = ["bench", "search", "--table", tables["missing"],
            *options(data.draw, BENCH_SEARCH_VALID, BENCH_SEARCH, ("--objective",))]
    check_refused(*run_in_a_fresh_folder(args, tmp_root, tables))


@FUZZ
@given(data=st.data())
def test_bench_search_on_a_small_table(tables, tmp_root, data):
    """Two evaluations of rs with one seed, in one process: cheap when the options are valid."""
    valid = {k: v for k, v in BENCH_SEARCH_VALID.items() if k not in ("--methods", "--seeds", "--budget", "--workers")}
    fuzzed = {k: v for k, v in BENCH_SEARCH.items() if k not in ("--methods", "--seeds", "--budget", "--workers")}
    args = ["bench", "search", "--table", tables["tiny"], *options(data.draw, valid, fuzzed, ("--objective",)),
            "--methods", "rs", "--seeds", "1", "--budget", "2", "--quiet"]
    check_refused_or_done(*run_in_a_fresh_folder(args, tmp_root, tables))


# ----- regressions for what the fuzzing found -----

def test_bench_search_with_an_empty_cheap_column_leaves_no_log(tables, tmp_root):
    """Regression: ``--cheap ''`` passed the table check (an empty name is falsy), so the refusal
    came after ``out.json.partial.jsonl`` was made, and the file stayed."""
    result, unchanged = run_in_a_fresh_folder(
        ["bench", "search", "--table", tables["tiny"], "--objective", "acc", "--cheap", "", "--cheap-cost", "0.1",
         "--out", "out.json", "--methods", "rs", "--seeds", "1", "--budget", "2", "--quiet"], tmp_root, tables)
    check_refused(result, unchanged)
    assert result.exit_code == 1 and "missing metric column(s) ['']" in result.output


def test_search_into_an_existing_run_is_one_line_naming_resume(tables, tmp_root):
    """Regression: the refusal was two lines, ``Error: ...`` and then ``To continue that run: ...``."""
    result, unchanged = run_in_a_fresh_folder(
        ["search", "--table", tables["tiny"], "--objective", "acc", "--strategy", "rs", "--budget", "1",
         "--run-dir", "run", "--quiet"], tmp_root, tables)
    check_refused(result, unchanged)
    assert result.output.rstrip("\n").endswith("a run already exists at run (config.json present); to resume it use "
                                               "RunStore.open('run') or create(..., exist_ok=True), to start a new "
                                               "run choose another directory; to continue that run: infonas resume run")


@pytest.mark.parametrize("command", [["report"], ["resume"], ["search", "--table", "TINY", "--objective", "acc",
                                                                "--strategy", "rs", "--budget", "1", "--run-dir"]])
def test_a_run_directory_name_too_long_is_a_run_store_error(tables, tmp_root, command):
    """Regression: ``Path.exists`` raises ``OSError`` (not ``False``) for a name over the file system's
    limit, which escaped ``RunStore`` as ``[Errno 36] File name too long``."""
    name = "x" * 300
    args = [tables["tiny"] if part == "TINY" else part for part in command] + [name]
    result, unchanged = run_in_a_fresh_folder(args, tmp_root, tables)
    check_refused(result, unchanged)
    assert f"run directory {name} (File name too long); " in result.output
    with pytest.raises(RunStoreError, match=r"cannot open run directory \S*x \(File name too long\); check the path"):
        RunStore.open(tmp_root / name)
    with pytest.raises(RunStoreError, match=r"cannot create run directory \S*x \(File name too long\); choose"):
        RunStore.create(tmp_root / name, {"seed": 0})


CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


@pytest.mark.parametrize("option, says", [
    (["--device", "nope"], "a device is a torch device name such as cpu, cuda or cuda:0, got 'nope'"),
    (["--device", ""], "got ''"),
    (["--device", "cuda:99"], "device 'cuda:99' is not on this machine, which has"),
    (["--batch-size", "0"], "'--batch-size': 0 is not in the range x>=1"),
    (["--batch-size", "99999999999999999"], "with batch size 99999999999999999 failed ("),  # then torch's reason
])
def test_metrics_of_a_valid_architecture_with_a_bad_device_or_batch(tables, tmp_root, option, says):
    """Regression: an unknown device raised torch's ``RuntimeError``, an absent CUDA device its
    ``AssertionError``, a batch too large to allocate a ``RuntimeError``, all as tracebacks; a batch
    size of 0 reached the latency code. (Each is refused before a network is timed.)"""
    result, unchanged = run_in_a_fresh_folder(["metrics", "--arch", CELL, "--dataset", "digits", *option], tmp_root,
                                              tables)
    check_refused(result, unchanged)
    assert says in result.output


# ----- bench surrogate, bench fidelity -----

BENCH_SURROGATE = {"--objective": NAMES, "--cheap": NAMES, "--train-sizes": LISTS | INTS, "--seeds": INTS,
                   "--models": st.one_of(LISTS, st.sampled_from(["hamming", "wl+hamming", "onehot-rbf", "wl[x]"])),
                   "--space": NAMES, "--out": PATHS, "--quiet": None}
BENCH_SURROGATE_VALID = {"--objective": "acc", "--cheap": "acc_cheap", "--train-sizes": "3", "--seeds": "1",
                         "--models": "hamming", "--space": "nb201", "--out": "out.json", "--quiet": None}


@settings(FUZZ, max_examples=40)
@given(data=st.data())
def test_bench_surrogate_and_fidelity_with_a_missing_table(tables, tmp_root, data):
    if data.draw(st.booleans()):
        args = ["bench", "surrogate", "--table", tables["missing"],
                *options(data.draw, BENCH_SURROGATE_VALID, BENCH_SURROGATE, ("--objective",))]
    else:
        valid = {"--target": "acc", "--signals": "acc_cheap", "--ceiling-column": "acc", "--out": "out.json",
                 "--plot": "out.png", "--bootstrap": "0"}
        fuzzed = {"--target": NAMES, "--signals": LISTS, "--ceiling-column": NAMES, "--out": PATHS, "--plot": PATHS,
                  "--bootstrap": INTS}
        args = ["bench", "fidelity", "--table", tables["missing"], *options(data.draw, valid, fuzzed)]
    check_refused(*run_in_a_fresh_folder(args, tmp_root, tables))


@pytest.mark.parametrize("option, says", [
    (["--cheap", ""], "missing metric column(s) ['']"),
    (["--models", ""], "expected a comma-separated list"),
    (["--models", ",,"], "expected a comma-separated list"),
])
def test_bench_surrogate_with_an_empty_column_or_model_list_leaves_no_log(tables, tmp_root, option, says):
    """Regression: ``--cheap ''`` was taken for no cheap column (an empty name is falsy) and the
    benchmark ran without it; an empty ``--models`` was refused only after ``out.json.partial.jsonl``
    was made, and the file stayed."""
    result, unchanged = run_in_a_fresh_folder(
        ["bench", "surrogate", "--table", tables["tiny"], "--objective", "acc", "--train-sizes", "3", "--seeds", "1",
         "--models", "hamming", "--out", "out.json", "--quiet", *option], tmp_root, tables)
    check_refused(result, unchanged)
    assert says in result.output


@pytest.mark.parametrize("command", [["report"], ["bench", "fidelity", "--table"],
                                     ["bench", "surrogate", "--objective", "acc", "--table"]])
def test_an_error_naming_a_path_with_a_line_break_is_one_line(tables, tmp_root, command):
    """Regression: a message quoting a path that holds a newline came out as two lines."""
    result, unchanged = run_in_a_fresh_folder([*command, "no\nsuch\rrun"], tmp_root, tables)
    check_refused(result, unchanged)
    assert "no\\nsuch\\rrun" in result.output.splitlines()[-1]
