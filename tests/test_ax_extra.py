"""Without the Ax extra: infonas imports and its core strategies run, and everything that needs Ax
says so in one clear error naming ``pip install 'infonas[ax]'``. Absence is simulated in process
(``sys.modules["ax"] = None``) and for real in a subprocess whose import system refuses ``ax``."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from infonas.ax import AX_EXTRA
from infonas.cli import main
from infonas.exceptions import UnsupportedError
from search_spaces import NB201Space

#: Ax modules infonas imports; each blocked as absent.
AX_MODULES = ("ax", "ax.api", "ax.api.configs", "ax.api.utils.generation_strategy_dispatch",
              "ax.api.utils.structs", "ax.utils.common.logger", "ax.core.trial_status")


@pytest.fixture
def no_ax(monkeypatch):
    for name in AX_MODULES:
        monkeypatch.setitem(sys.modules, name, None)


@pytest.mark.parametrize("name", ["ax", "ax-infonas"])
def test_make_strategy_names_the_extra(no_ax, name):
    from infonas.strategies import make_strategy

    with pytest.raises(UnsupportedError, match=r"pip install 'infonas\[ax\]'"):
        make_strategy(name, NB201Space(), "acc")


def test_transfer_names_the_extra(no_ax, tmp_path):
    from infonas.ax.transfer import export_run, import_experiment

    with pytest.raises(UnsupportedError, match=r"pip install 'infonas\[ax\]'"):
        export_run(tmp_path / "run", tmp_path / "out.json")
    with pytest.raises(UnsupportedError, match=r"pip install 'infonas\[ax\]'"):
        import_experiment(tmp_path / "x.json", tmp_path / "run", evaluator=None)


def _one_line(result) -> str:
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.fixture
def table_run(tmp_path, tiny_table_file):
    from infonas.evaluators.registry import build_evaluator, table_spec
    from infonas.study import Study

    spec = table_spec(tiny_table_file, "acc")
    study = Study.create(tmp_path / "run", NB201Space(), build_evaluator(spec, NB201Space()), "acc", strategy="rs",
                         evaluator_spec=spec).optimize(2)
    study.store.close()
    return tmp_path / "run"


def test_cli_ax_commands_without_the_extra(no_ax, table_run, tmp_path, tiny_table_file):
    runner = CliRunner()
    result = runner.invoke(main, ["ax", "export", str(table_run), "--out", str(tmp_path / "x.json")])
    assert result.exit_code == 2 and AX_EXTRA in _one_line(result)
    (tmp_path / "x.json").write_text('{"experiment": {"properties": {"infonas": {"space": "nb201"}}}}')
    result = runner.invoke(main, ["ax", "import", str(tmp_path / "x.json"), "--run-dir", str(tmp_path / "new"),
                                  "--table", str(tiny_table_file), "--objective", "acc"])
    assert result.exit_code == 2 and AX_EXTRA in _one_line(result)
    assert not (tmp_path / "new").exists()


def test_bench_search_with_ax_without_the_extra(no_ax, tiny_table_file):
    result = CliRunner().invoke(main, ["bench", "search", "--table", str(tiny_table_file), "--objective", "acc",
                                       "--methods", "ax", "--seeds", "1", "--budget", "2", "--quiet"])
    line = _one_line(result)
    assert line.startswith("Error: ") and AX_EXTRA in line
    # The --methods option refuses it before any benchmark starts, as a usage error.
    assert result.exit_code == 2


BLOCK_AX = textwrap.dedent("""
    import importlib.abc, sys

    class BlockAx(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name == "ax" or name.startswith("ax."):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
            return None

    sys.meta_path.insert(0, BlockAx())
""")

WITHOUT_AX = BLOCK_AX + textwrap.dedent("""
    import infonas, infonas.ax, infonas.ax.strategy, infonas.ax.transfer, infonas.cli
    from infonas.exceptions import UnsupportedError
    from infonas.strategies import make_strategy
    from infonas.study import Study
    from infonas.testing.fakes import FakeEvaluator
    from search_spaces import NB201Space

    space = NB201Space()
    for name in ("rs", "rea", "ls"):
        study = Study.create(None, space, FakeEvaluator(space), "acc", strategy=name).optimize(3)
        assert len(study.finished_trials()) == 3
    try:
        make_strategy("ax", space, "acc")
    except UnsupportedError as error:
        print("refused:", error)
    assert "ax" not in sys.modules, "something imported Ax"
""")


def test_infonas_works_without_ax_for_real():
    result = subprocess.run([sys.executable, "-c", WITHOUT_AX], check=False, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"refused: strategy ax needs Ax (ax-platform), which is not installed: {AX_EXTRA}" in result.stdout
