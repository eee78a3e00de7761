"""A damaged journal, fuzzed: a real run's ``journal.jsonl`` truncated anywhere, with bytes flipped,
garbage lines inserted, lines duplicated, dropped or reordered. Opening the run (``Study.load``,
``infonas report``) either works (a torn last line is skipped by design) or raises one
``InfonasError``, never another exception; reading never changes the journal; ``infonas repair``
keeps the damaged original byte for byte and leaves a journal the strict reader accepts; a resume
only cuts off a torn last line."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infonas.cli import main
from infonas.exceptions import InfonasError, RunStoreError
from infonas.report import load_for_report
from infonas.storage import RunStore, repair
from infonas.storage.journal import JOURNAL_NAME, scan
from infonas.study import Study
from search_spaces import NB201Space

FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def run_template(tmp_path_factory) -> Path:
    """A finished 4-trial local search over a 12-row table, made by the CLI (as users make runs)."""
    space = NB201Space()
    folder = tmp_path_factory.mktemp("fuzz_journal")
    cells = sorted({space.format(space.sample(np.random.default_rng(seed))) for seed in range(12)})
    table = folder / "table.csv"
    table.write_text("arch,acc\n" + "".join(f"{cell},{50 + i}\n" for i, cell in enumerate(cells)))
    run = folder / "run"
    result = CliRunner().invoke(main, ["search", "--table", str(table), "--objective", "acc", "--strategy", "ls",
                                       "--budget", "4", "--run-dir", str(run), "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return run


GARBAGE_LINES = st.one_of(
    st.binary(max_size=30),
    st.sampled_from([b"", b"{}", b"[]", b"null", b"1e999", b'"text"', b"{\"event\":\"asked\"}", b"\xff\xfe",
                     b'{"event":"asked","trial":Infinity,"arch":"x","fidelity":"acc"}',
                     b'{"event":"finished","trial":0,"status":"complete","metrics":{"acc":NaN},"cost":1}',
                     b'{"event":"finished","trial":1,"status":"complete","metrics":{},"cost":1}',
                     b'{"event":"finished","trial":2,"status":"complete","metrics":[1],"cost":1}',
                     b'{"event":"asked","trial":0,"arch":"|none~0|","fidelity":"acc"}',
                     (b'{"event":"asked","trial":-1,"arch":"|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",'
                      b'"fidelity":"acc"}'),
                     b"[" * 5000 + b"]" * 5000]),
    st.dictionaries(st.sampled_from(["event", "trial", "arch", "fidelity", "status", "metrics", "cost", "time"]),
                    st.one_of(st.sampled_from(["asked", "finished", "complete", "failed", "acc"]), st.integers(-2, 5),
                              st.floats(), st.none(), st.booleans(), st.dictionaries(st.text(max_size=3), st.floats(),
                                                                                    max_size=2)),
                    max_size=8).map(lambda d: json.dumps(d).encode()),
)


JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 6), st.floats(), st.text(max_size=4),
                        st.sampled_from(["complete", "failed", "pending", "acc", "asked", "finished"]),
                        st.lists(st.integers(0, 2), max_size=2), st.dictionaries(st.text(max_size=3), st.floats(),
                                                                                 max_size=2))


def _edited(draw, line: bytes) -> bytes:
    """``line``, if it holds a JSON object, with one field (or one metric) set to a random value,
    removed or renamed: damage that leaves valid JSON, which only the meaning of the event can catch."""
    try:
        event = json.loads(line)
    except ValueError:
        return line
    if not isinstance(event, dict) or not event:
        return line
    target = event
    if isinstance(event.get("metrics"), dict) and event["metrics"] and draw(st.booleans()):
        target = event["metrics"]
    key = draw(st.sampled_from(sorted(target)))
    action = draw(st.sampled_from(["set", "remove", "rename"]))
    if action == "set":
        target[key] = draw(JSON_VALUES)
    elif action == "remove":
        del target[key]
    else:
        target[key + draw(st.sampled_from(["x", "_", "0"]))] = target.pop(key)
    return json.dumps(event).encode()


@st.composite
def damaged(draw, original: bytes) -> bytes:
    """``original`` with one to three damages of a file that a crash, an editor or a disk leave."""
    lines = original.split(b"\n")[:-1]  # each line without its newline
    for _ in range(draw(st.integers(1, 3))):
        n = len(lines)
        i, j = draw(st.integers(0, max(n - 1, 0))), draw(st.integers(0, max(n - 1, 0)))
        action = draw(st.sampled_from(["flip", "edit", "insert", "duplicate", "swap", "delete"] if n else ["insert"]))
        if action == "edit":
            lines[i] = _edited(draw, lines[i])
        elif action == "flip" and lines[i]:
            k = draw(st.integers(0, len(lines[i]) - 1))
            line = bytearray(lines[i])
            line[k] ^= draw(st.integers(1, 255))
            lines[i] = bytes(line)
        elif action == "insert":
            lines.insert(i, draw(GARBAGE_LINES).replace(b"\n", b" "))
        elif action == "duplicate":
            lines.insert(j, lines[i])
        elif action == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        elif action == "delete":
            del lines[i]
    data = b"".join(line + b"\n" for line in lines)
    if draw(st.booleans()):  # cut anywhere: a crash mid-append, or a file cut short
        data = data[:draw(st.integers(0, len(data)))]
    return data


def _open_or_refuse(action) -> object | None:
    """``action()``'s value, or ``None`` after checking it raised one clear ``InfonasError``."""
    try:
        return action()
    except InfonasError as error:
        assert str(error) and "Traceback" not in str(error)
        return None


def _without_torn_tail(data: bytes) -> bytes:
    """``data`` less a crash's torn last line: what readers use and what a resume keeps."""
    result = scan(data)
    if result.bad_line is not None and result.bad_is_tail:
        return b"".join(line + b"\n" for line in data.split(b"\n")[:result.bad_line - 1])
    return data


@FUZZ
@given(data=st.data())
def test_a_damaged_journal_loads_or_is_refused_in_one_line(run_template, data):
    journal_bytes = data.draw(damaged((run_template / JOURNAL_NAME).read_bytes()))
    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder) / "run"
        shutil.copytree(run_template, run)
        journal = run / JOURNAL_NAME
        journal.write_bytes(journal_bytes)
        files = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}

        _open_or_refuse(lambda: RunStore.open(run).events())
        loaded = _open_or_refuse(lambda: Study.load(run))
        for_report = _open_or_refuse(lambda: load_for_report(run))
        if loaded is not None:
            assert for_report is not None and for_report[1] is None  # an intact journal needs no salvage
        result = CliRunner().invoke(main, ["report", str(run), "--no-plots"])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        lines = result.output.rstrip("\n").splitlines()
        errors = [line for line in lines if line.startswith("Error")]
        assert result.exit_code in (0, 1) and len(errors) == (result.exit_code == 1), result.output
        assert not errors or lines[-1] == errors[0], result.output
        assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == files  # reading never writes

        if loaded is not None:
            # A resume's first append cuts off a torn last line, and nothing else.
            study = loaded
            try:
                _open_or_refuse(lambda: study.ask(1))
            finally:
                study.store.close()
            assert journal.read_bytes().startswith(_without_torn_tail(journal_bytes))
            return

        report = repair(run)
        if report.backup is not None:
            assert report.backup.read_bytes() == journal_bytes  # the damaged original, byte for byte
        else:
            assert journal.read_bytes() == journal_bytes
        kept = RunStore.open(run).events()  # a repaired journal is one the strict reader accepts
        # and holds only events that name their kind, asking only the space's architectures
        assert all(isinstance(e.get("event"), str) for e in kept)
        for event in kept:
            if event["event"] == "asked":
                NB201Space().parse(event["arch"])
        assert repair(run).backup is None  # and needs no second repair
        repaired = _open_or_refuse(lambda: Study.load(run))
        if repaired is not None:
            repaired.store.close()


# ----- regressions for what the fuzzing found -----

def test_an_infinite_trial_number_is_a_malformed_event(run_template, tmp_path):
    """Regression: ``"trial": Infinity`` (JSON that Python reads) raised ``OverflowError`` from ``int()``."""
    run = tmp_path / "run"
    shutil.copytree(run_template, run)
    journal = run / JOURNAL_NAME
    lines = journal.read_bytes().split(b"\n")
    lines.insert(2, b'{"event":"finished","trial":Infinity,"status":"complete","metrics":{"acc":1},"cost":1}')
    journal.write_bytes(b"\n".join(lines))
    with pytest.raises(RunStoreError, match="is malformed.*infonas repair"):
        Study.load(run)
    assert repair(run).dropped_lines == 1 and Study.load(run).finished_trials()


def test_a_deeply_nested_line_is_a_corrupted_line(run_template, tmp_path):
    """Regression: a line nesting JSON arrays deeper than Python's recursion limit raised
    ``RecursionError`` from ``json.loads``."""
    run = tmp_path / "run"
    shutil.copytree(run_template, run)
    journal = run / JOURNAL_NAME
    lines = journal.read_bytes().split(b"\n")
    lines.insert(2, b"[" * 100_000 + b"]" * 100_000)
    journal.write_bytes(b"\n".join(lines))
    with pytest.raises(RunStoreError, match="journal line 3 .* is corrupted: not valid JSON"):
        Study.load(run)
    assert repair(run).dropped_lines == 1 and len(Study.load(run).finished_trials()) == 4


def _edit_line(run: Path, number: int, old: bytes, new: bytes) -> None:
    journal = run / JOURNAL_NAME
    lines = journal.read_bytes().split(b"\n")
    assert old in lines[number - 1]
    lines[number - 1] = lines[number - 1].replace(old, new, 1)
    journal.write_bytes(b"\n".join(lines))


def test_a_result_without_its_objective_is_refused_naming_the_trial(run_template, tmp_path):
    """Regression: a finished line whose metric name was damaged (``acc`` -> ``acb``) loaded, and
    ``infonas report`` and ``resume`` then died with a ``KeyError: 'acc'`` traceback."""
    run = tmp_path / "run"
    shutil.copytree(run_template, run)
    _edit_line(run, 4, b'"acc":', b'"acb":')  # trial 1's result
    with pytest.raises(RunStoreError, match=r"the journal's result for trial 1 lacks the objective 'acc'.*delete the "
                                            r"finished line of trial 1"):
        Study.load(run)
    for command in (["report", str(run), "--no-plots"], ["resume", str(run), "--budget", "5", "--quiet"]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 1 and result.output.startswith("Error: the journal's result for trial 1"), \
            result.output
        assert len(result.output.splitlines()) == 1


def test_a_non_finite_journalled_metric_counts_as_a_failed_trial(run_template, tmp_path):
    """Regression: ``"acc": NaN`` in a finished line (JSON Python reads) loaded as a complete trial,
    and the next surrogate fit raised ``ValueError: targets must be finite`` as a traceback. It
    replays as ``tell`` would have recorded it: failed."""
    run = tmp_path / "run"
    shutil.copytree(run_template, run)
    _edit_line(run, 4, b'"acc":', b'"acc":NaN,"was":')
    study = Study.load(run)
    trial = {t.number: t for t in study.finished_trials()}[1]
    assert trial.status.value == "failed" and "non-finite metric(s) ['acc']" in trial.error
    assert all(t.number != 1 for t in study.best(4))


def test_an_architecture_outside_the_space_names_the_journal(run_template, tmp_path):
    """Regression: a damaged op name in an asked line failed with the space's bare ``unknown
    operation`` error, which named neither the journal nor the trial."""
    run = tmp_path / "run"
    shutil.copytree(run_template, run)
    arch = json.loads((run / JOURNAL_NAME).read_bytes().split(b"\n")[0])["arch"]
    op = arch.split("~")[0].strip("|").encode()
    _edit_line(run, 1, op, op[:-1] + b"?")
    with pytest.raises(InfonasError, match=r"the journal asks trial 0 with a string that is not a nb201 architecture "
                                           r"\(unknown operation .*journal.jsonl was edited or damaged"):
        Study.load(run)
