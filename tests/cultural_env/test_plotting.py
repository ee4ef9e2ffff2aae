"""Tests of the training plots and `cultural-kd plot`."""

from __future__ import annotations

import io
import json
import sys

import pytest
from rich.console import Console

from cultural_env.cli import main
from cultural_env.errors import ConfigError
from cultural_env.plotting import MissingDependencyError, write_training_plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_run(run_dir, steps=6, with_val_kl=True, summary=None):
    """A run folder with a metrics.jsonl of ``steps`` records, as `cultural-kd train` writes it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    for step in range(1, steps + 1):
        record = {
            "step": step,
            "epoch": 0,
            "loss": 2.0 / step,
            "acceptance_rate": 0.1 * step,
            "first_token_acceptance": 0.12 * step,
            "full_match_rate": 0.05 * step,
            "gamma_mean": 2.0 + step,
            "gamma_min": 1.0,
            "gamma_max": 4.0 + step,
        }
        if with_val_kl and step % 3 == 0:
            record["val_kl"] = 1.0 / step
        lines.append(json.dumps(record))
    (run_dir / "metrics.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if summary is not None:
        (run_dir / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return run_dir


def test_plots_written_as_png(tmp_path):
    run_dir = write_run(tmp_path / "run", summary={"val_kl_first": 1.5, "val_kl_last": 0.2})
    written = write_training_plots(run_dir)
    names = sorted(path.name for path in written)
    assert names == ["acceptance.png", "gamma.png", "loss.png", "overview.png", "val_kl.png"]
    for path in written:
        assert path.parent == run_dir / "plots"
        assert path.read_bytes()[:8] == PNG_SIGNATURE


def test_validation_kl_from_summary_only(tmp_path):
    run_dir = write_run(tmp_path / "run", with_val_kl=False, summary={"val_kl_first": 1.5, "val_kl_last": 0.2})
    names = [path.name for path in write_training_plots(run_dir)]
    assert "val_kl.png" in names


def test_validation_kl_skipped_without_data(tmp_path):
    run_dir = write_run(tmp_path / "run", with_val_kl=False)
    names = [path.name for path in write_training_plots(run_dir, tmp_path / "out")]
    assert "val_kl.png" not in names
    assert "loss.png" in names
    assert (tmp_path / "out" / "loss.png").is_file()


def test_plot_cli_prints_paths(tmp_path, capsys):
    run_dir = write_run(tmp_path / "run")
    assert main(["plot", str(run_dir)]) == 0
    output = capsys.readouterr().out
    assert f"wrote {run_dir / 'plots' / 'loss.png'}" in output
    assert "overview.png" in output


def test_plot_cli_missing_folder(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "absent")]) == 2
    assert "run folder not found" in capsys.readouterr().err


def test_plot_missing_metrics(tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(ConfigError, match="no metrics.jsonl"):
        write_training_plots(tmp_path / "run")


def test_plot_invalid_metrics_line(tmp_path):
    run_dir = write_run(tmp_path / "run")
    with (run_dir / "metrics.jsonl").open("a", encoding="utf-8") as file:
        file.write("{not json\n")
    with pytest.raises(ConfigError, match="line 7"):
        write_training_plots(run_dir)


def test_plot_empty_metrics(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="no records"):
        write_training_plots(run_dir)


def test_plot_without_matplotlib(tmp_path, monkeypatch):
    run_dir = write_run(tmp_path / "run")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingDependencyError, match="pip install matplotlib"):
        write_training_plots(run_dir)


def test_train_writes_plots_at_end(tmp_path):
    from cultural_env.cli.train import write_plots

    run_dir = write_run(tmp_path / "run")
    console = Console(file=io.StringIO(), width=200)
    write_plots(run_dir, console)
    assert f"plots: {run_dir / 'plots'}" in console.file.getvalue()
    assert (run_dir / "plots" / "overview.png").is_file()


def test_train_plots_warn_without_matplotlib(tmp_path, monkeypatch, caplog):
    from cultural_env.cli.train import write_plots

    run_dir = write_run(tmp_path / "run")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    console = Console(file=io.StringIO())
    write_plots(run_dir, console)
    assert "pip install matplotlib" in caplog.text
    assert console.file.getvalue() == ""
