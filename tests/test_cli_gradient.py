"""``infonas gradient``: tiny seeded searches on the digits (fast; mnist1d takes seconds per epoch)."""

import json
import re

import pytest
from click.testing import CliRunner

from infonas.cli import main
from infonas.cli_gradient import table_score
from infonas.evaluators.tabular import TabularBenchmark
from infonas.gradient.report import collapse_summary
from search_spaces.nb201 import NB201Space

TINY = ("--data", "digits", "--channels", 2, "--seed", 3, "--quiet")
# Two cells of one canonical class: node 2 feeds only a none edge, so its operation is dead.
CELL = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
TWIN = "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|none~1|none~2|"


def invoke(*args):
    return CliRunner().invoke(main, ["gradient", *map(str, args)], catch_exceptions=False)


def derived_cell(output):
    return re.search(r"^derived cell: (\S+)$", output, re.MULTILINE).group(1)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One 2-epoch search with its JSON, shared by the tests that read or resume it."""
    root = tmp_path_factory.mktemp("gradient")
    run, out = root / "run", root / "out.json"
    result = invoke("--epochs", 2, "--run-dir", run, "--json", out, *TINY)
    assert result.exit_code == 0, result.output
    return run, out, result


def test_prints_cell_seconds_and_collapse_report_and_writes_json(finished):
    run, out, result = finished
    payload = json.loads(out.read_text())
    assert set(payload) == {"settings", "arch", "search_seconds", "epochs_done", "stopped_early", "history"}
    assert payload["settings"]["method"] == "darts-1" and payload["settings"]["epochs"] == 2
    assert payload["settings"]["channels"] == 2 and payload["settings"]["seed"] == 3
    assert payload["epochs_done"] == 2 and payload["stopped_early"] is None
    assert [r["epoch"] for r in payload["history"]] == [1, 2] and payload["search_seconds"] > 0
    cell = derived_cell(result.stdout)
    assert cell == payload["arch"] == payload["history"][-1]["arch"]
    assert "stopped early: no" in result.stdout and f"run directory: {run}" in result.stdout
    lines = result.stdout.splitlines()
    header = lines.index(next(line for line in lines if line.startswith("epoch  skip  none")))
    assert [line.split()[0] for line in lines[header + 1: header + 3]] == ["1", "2"]
    assert lines[header + 3] == collapse_summary(payload["history"])
    assert re.fullmatch(r"(collapsed: \d/6 skip edges by epoch \d.*|no collapse: at most \d skip edges)",
                        lines[header + 3])


def test_same_command_resumes_with_nothing_left(finished):
    run, _, first = finished
    state = (run / "gradient.json").read_text()
    again = invoke("--epochs", 2, "--run-dir", run, *TINY)
    assert again.exit_code == 0, again.output
    assert f"resuming {run}: 2/2 epochs done, nothing left to do" in again.output
    assert derived_cell(again.stdout) == derived_cell(first.stdout)
    assert (run / "gradient.json").read_text() == state  # no epoch ran, nothing was rewritten


def test_run_dir_of_other_settings_is_one_line_and_exit_2(finished):
    run, _, _ = finished
    other = invoke("--epochs", 3, "--run-dir", run, *TINY)
    assert other.exit_code == 2
    assert other.output.splitlines() == [(f"Error: {run} holds a gradient search with other settings "
                                          "(epochs: 2 -> 3): use the same settings to resume it, or another "
                                          "directory")]


def test_table_score_and_regret(finished, tmp_path):
    run, _, first = finished
    cell = derived_cell(first.stdout)
    convs = "|avg_pool_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    other = next(c for c in (CELL, convs) if NB201Space().parse(c).key != NB201Space().parse(cell).key)
    table = tmp_path / "table.csv"
    table.write_text(f"arch,test_acc,flops\n{cell},81.5,100\n{other},95.25,200\n")
    out = tmp_path / "with_table.json"
    scored = invoke("--epochs", 2, "--run-dir", run, "--table", table, "--json", out, *TINY)
    assert scored.exit_code == 0, scored.output
    assert "table test_acc: 81.50 (its row); regret 13.75 against the table's best 95.25" in scored.stdout
    payload = json.loads(out.read_text())
    assert payload["test_acc"] == 81.5 and payload["regret"] == pytest.approx(13.75)
    table.write_text(f"arch,test_acc\n{other},95.25\n")
    missing = invoke("--epochs", 2, "--run-dir", run, "--table", table, *TINY)
    assert missing.exit_code == 0 and f"table: the cell is not in {table} (1 rows, none isomorphic)" in missing.stdout
    table.write_text(f"arch,valid_acc\n{other},95.25\n")
    wrong = invoke("--epochs", 2, "--run-dir", run, "--table", table, *TINY)
    assert wrong.exit_code == 2 and len(wrong.output.splitlines()) == 1
    assert wrong.output.startswith(f"Error: {table}: missing metric column(s) ['test_acc']")


def test_table_score_falls_back_to_the_canonical_class():
    space = NB201Space()
    cell, twin = space.parse(CELL), space.parse(TWIN)
    assert cell != twin and cell.key == twin.key
    table = TabularBenchmark(space, [twin, space.parse(CELL.replace("skip_connect~0", "nor_conv_1x1~0"))],
                             {"test_acc": [70.0, 90.0]})
    assert table_score(table, cell) == (70.0, 90.0, "an isomorphic row")
    assert table_score(table, twin) == (70.0, 90.0, "its row")
    assert table_score(table, space.parse(CELL.replace("skip_connect~0", "avg_pool_3x3~0"))) is None


def test_early_stop_and_the_flops_term(tmp_path):
    out = tmp_path / "out.json"
    result = invoke("--method", "gdas", "--epochs", 2, "--stop-at-skips", 0, "--temperature", "5:1", "--flops-budget",
                    5e4, "--flops-weight", 1, "--run-dir", tmp_path / "run", "--json", out, *TINY)
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["epochs_done"] == 1 and "stop_at_skips=0" in payload["stopped_early"]
    assert f"stopped early: {payload['stopped_early']}" in result.stdout
    assert payload["settings"]["relaxation_options"] == {"temperature_start": 5.0, "temperature_end": 1.0}
    assert payload["settings"]["flops_budget"] == 5e4 and payload["history"][0]["expected_flops"] > 0
    assert "E[MFLOPs]" in result.stdout


def test_bad_options_are_usage_errors(tmp_path):
    bad_method = invoke("--method", "darts-3", "--run-dir", tmp_path / "a")
    assert bad_method.exit_code == 2 and "Invalid value for '--method': 'darts-3' is not one of" in bad_method.output
    alone = invoke("--flops-budget", 1e5, "--run-dir", tmp_path / "b")
    assert alone.exit_code == 2 and "--flops-budget needs a use: give --flops-weight" in alone.output
    weight_alone = invoke("--flops-weight", 5, "--run-dir", tmp_path / "e")
    assert weight_alone.exit_code == 2 and "give the budget in FLOPs too" in weight_alone.output
    fit_alone = invoke("--fit-budget", "--run-dir", tmp_path / "f")
    assert fit_alone.exit_code == 2 and "--fit-budget fits the derived architecture" in fit_alone.output
    no_temperature = invoke("--method", "drnas", "--temperature", "2:1", "--run-dir", tmp_path / "c")
    assert no_temperature.exit_code == 2
    assert no_temperature.output.splitlines() == [
        ("Error: 'dirichlet' takes the options ['kl_weight', 'prior'], got ['temperature_end', 'temperature_start']; "
         "drop or rename them (--method drnas)")]
    malformed = invoke("--temperature", "10", "--run-dir", tmp_path / "d")
    assert malformed.exit_code == 2 and "expected START:END" in malformed.output
    assert not any(tmp_path.iterdir())  # refused before any run directory was made


def _epochs_done(run):
    try:
        return json.loads((run / "gradient.json").read_text())["epochs_done"]
    except (OSError, ValueError):
        return 0


def test_kill_9_mid_search_then_the_same_command_resumes_to_the_uninterrupted_result(finished, tmp_path):
    import os
    import subprocess
    from pathlib import Path

    from infonas.bench.main_job import cli_command
    from infonas.testing.processes import sigkill_when

    _, out, _ = finished
    root = Path(__file__).resolve().parents[1]
    run = tmp_path / "killed"
    args = ["gradient", "--epochs", "2", "--run-dir", str(run), *map(str, TINY)]
    process = subprocess.Popen(cli_command(*args), cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sigkill_when(process, lambda: _epochs_done(run) >= 1)
    # Killed after the first epoch's checkpoint (a loaded machine may let the second one finish too).
    assert 1 <= _epochs_done(run) <= 2
    resumed = invoke("--epochs", 2, "--run-dir", run, "--json", tmp_path / "resumed.json", *TINY)
    assert resumed.exit_code == 0, resumed.output
    whole, again = json.loads(out.read_text()), json.loads((tmp_path / "resumed.json").read_text())
    assert again["arch"] == whole["arch"] and again["epochs_done"] == 2
    assert [r["arch"] for r in again["history"]] == [r["arch"] for r in whole["history"]]
    assert [r["train_loss"] for r in again["history"]] == [r["train_loss"] for r in whole["history"]]


def test_macro_space_prints_the_architecture_its_exact_costs_and_its_history(tmp_path):
    from search_spaces.macro import MacroSpace
    from search_spaces.macro.cost_tables import MacroCosts
    from search_spaces.macro.network import MacroNetworkConfig

    out = tmp_path / "macro.json"
    result = invoke("--space", "macro", "--method", "gdas", "--epochs", 2, "--flops-budget", 2e4, "--flops-weight", 5,
                    "--run-dir", tmp_path / "run", "--json", out, *TINY)
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    arch = MacroSpace().parse(re.search(r"^derived architecture: (\S+)$", result.stdout, re.MULTILINE).group(1))
    assert payload["arch"] == MacroSpace().format(arch) and payload["settings"]["space"] == "macro"
    costs = MacroCosts.measure(MacroNetworkConfig.for_dataset("digits", channels=2))
    assert payload["flops"] == costs.value(arch, "flops") and payload["params"] == costs.value(arch, "params")
    verdict = "within" if payload["flops"] <= 2e4 else "over"
    assert f"exact FLOPs: {payload['flops']:.0f} ({verdict} the budget 20000)" in result.stdout
    assert f"exact params: {payload['params']:.0f}" in result.stdout
    lines = result.stdout.splitlines()
    header = lines.index(next(line for line in lines if line.startswith("epoch  depths  widths")))
    assert [line.split()[0] for line in lines[header + 1:]] == ["1", "2", "wrote"]
    assert lines[header + 2].endswith(payload["arch"]) and "skip" not in result.stdout
    assert [r["depths"] for r in payload["history"]][-1] == [d for d, _, _ in MacroSpace().stages(arch)]
    assert (tmp_path / "run" / "gradient.json").exists()


@pytest.mark.parametrize("option, value, field", [("--max-skips", 2, "max_skips=2"),
                                                  ("--stop-at-skips", 3, "stop_at_skips=3"),
                                                  ("--skip-drop-path", 0.3, "skip_drop_path=0.3")])
def test_macro_space_refuses_skip_options_in_one_line(tmp_path, option, value, field):
    result = invoke("--space", "macro", option, value, "--run-dir", tmp_path / "run", *TINY)
    assert result.exit_code == 2 and len(result.output.splitlines()) == 1, result.output
    assert result.output.startswith(f"Error: invalid gradient search settings: {field} is refused on space 'macro'")
    assert "Traceback" not in result.output and not any(tmp_path.iterdir())


def test_fit_budget_alone_derives_a_macro_architecture_within_the_budget(tmp_path):
    out = tmp_path / "fit.json"
    result = invoke("--space", "macro", "--method", "darts-1", "--epochs", 1, "--flops-budget", 2e4, "--fit-budget",
                    "--run-dir", tmp_path / "run", "--json", out, *TINY)
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["settings"]["discretise_within_budget"] and payload["settings"]["flops_weight"] == 0
    assert payload["flops"] <= 2e4 and "within the budget 20000" in result.stdout
