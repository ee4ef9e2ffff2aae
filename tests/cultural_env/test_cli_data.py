"""Tests of the `cultural-kd data` subcommand through cultural_env.cli.main."""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path

import pytest

from cultural_env.cli import main
from cultural_env.data import CATEGORIES

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_dataset(path: Path, count_per_category: int = 3) -> Path:
    lines = []
    for category in CATEGORIES:
        for number in range(1, count_per_category + 1):
            record = {
                "id": f"{category}_{number:03d}",
                "category": category,
                "query": f"{category} 질문 {number}",
                "knowledge": "배경 지식 " * (10 * number),
            }
            lines.append(json.dumps(record, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def packaged_file_exists(language: str) -> bool:
    return resources.files("cultural_env").joinpath("resources").joinpath(f"korean_culture.{language}.jsonl").is_file()


def test_validate_valid_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_dataset(tmp_path / "data.jsonl")

    exit_code = main(["data", "validate", str(path)])

    assert exit_code == 0
    assert capsys.readouterr().out.strip() == "OK: 15 records, 5 categories"


def test_validate_invalid_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text('{"id": "food_001", "category": "food", "query": "q", "knowledge": ""}\n', encoding="utf-8")

    exit_code = main(["data", "validate", str(path)])

    captured = capsys.readouterr()
    assert exit_code == 2
    assert "OK" not in captured.out
    assert captured.err.startswith(f"error: invalid dataset file {path}: record 1 (line 1, id 'food_001')")
    assert "field 'knowledge' is empty" in captured.err
    assert len(captured.err.strip().splitlines()) == 1


def test_validate_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exit_code = main(["data", "validate", str(tmp_path / "missing.jsonl")])

    assert exit_code == 2
    assert "dataset file not found" in capsys.readouterr().err


def test_validate_requires_file(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["data", "validate"])

    assert raised.value.code == 2
    assert "FILE" in capsys.readouterr().err


def test_data_without_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code = main(["data"])

    assert exit_code == 2
    output = capsys.readouterr().out
    assert "validate" in output
    assert "stats" in output


def test_stats_prints_tables_and_histogram(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_dataset(tmp_path / "data.jsonl")

    exit_code = main(["data", "stats", str(path), "--bins", "4"])

    output = capsys.readouterr().out
    assert exit_code == 0
    for category in CATEGORIES:
        assert category in output
    assert "total" in output
    assert "15" in output
    assert "Lengths in characters" in output
    assert "knowledge" in output
    assert "Knowledge length histogram" in output
    assert output.count("│█") == 3  # 4 bins; the lengths 60, 120 and 180 leave one bin empty


def test_stats_invalid_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "data.json"
    path.write_text('{"records": []}', encoding="utf-8")

    exit_code = main(["data", "stats", str(path)])

    assert exit_code == 2
    assert "the top-level JSON value is an object" in capsys.readouterr().err


def test_stats_rejects_zero_bins(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exit_code = main(["data", "stats", str(write_dataset(tmp_path / "data.jsonl")), "--bins", "0"])

    assert exit_code == 2
    assert "--bins must be at least 1" in capsys.readouterr().err


def test_stats_rejects_unknown_language(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["data", "stats", "--language", "jp"])

    assert raised.value.code == 2
    assert "invalid choice: 'jp'" in capsys.readouterr().err


def test_stats_plot_writes_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    path = write_dataset(tmp_path / "data.jsonl")
    plot_path = tmp_path / "histogram.png"

    exit_code = main(["data", "stats", str(path), "--plot", str(plot_path)])

    assert exit_code == 0
    assert plot_path.read_bytes().startswith(PNG_SIGNATURE)
    assert f"wrote {plot_path}" in capsys.readouterr().out


def test_stats_plot_without_matplotlib(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes the import raise ImportError, as when the package is absent.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    path = write_dataset(tmp_path / "data.jsonl")
    plot_path = tmp_path / "histogram.png"

    exit_code = main(["data", "stats", str(path), "--plot", str(plot_path)])

    assert exit_code == 2
    assert "pip install matplotlib" in capsys.readouterr().err
    assert not plot_path.exists()


def test_stats_plot_unwritable_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    path = write_dataset(tmp_path / "data.jsonl")

    exit_code = main(["data", "stats", str(path), "--plot", str(tmp_path / "missing_dir" / "histogram.png")])

    assert exit_code == 2
    assert "cannot write the plot to" in capsys.readouterr().err


@pytest.mark.parametrize("language", ["ko", "en"])
def test_stats_of_packaged_dataset(language: str, capsys: pytest.CaptureFixture[str]) -> None:
    if not packaged_file_exists(language):
        pytest.skip(f"cultural_env/resources/korean_culture.{language}.jsonl is not assembled yet (run tools/assemble_dataset.py)")

    exit_code = main(["data", "stats", "--language", language])

    output = capsys.readouterr().out
    assert exit_code == 0
    assert f"packaged dataset ({language})" in output
    assert "200" in output


@pytest.mark.parametrize("language", ["ko", "en"])
def test_validate_packaged_file(language: str, capsys: pytest.CaptureFixture[str]) -> None:
    if not packaged_file_exists(language):
        pytest.skip(f"cultural_env/resources/korean_culture.{language}.jsonl is not assembled yet (run tools/assemble_dataset.py)")
    path = resources.files("cultural_env").joinpath("resources").joinpath(f"korean_culture.{language}.jsonl")

    exit_code = main(["data", "validate", str(path)])

    assert exit_code == 0
    assert capsys.readouterr().out.strip() == "OK: 200 records, 5 categories"
