"""`cultural-kd train` through the CLI entry point."""

import json

from cultural_env.cli import main

SHORT_RUN = ["train.num_items=2", "train.epochs=1", "train.eval_samples=1", "train.validation_samples=1", "env.max_new_tokens=6"]


def test_train_short_run_writes_run_folder(tmp_path):
    run_dir = tmp_path / "run"
    code = main(["train", "--output-dir", str(run_dir), "--max-steps", "2", "--seed", "3", *SHORT_RUN])
    assert code == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 2
    assert (run_dir / "metrics.jsonl").read_text().count("\n") == 2
    assert (run_dir / "student" / "config.json").is_file()


def test_missing_teacher_path_is_one_line_error(tmp_path, capsys):
    code = main(["train", "--output-dir", str(tmp_path / "run"), "env.teacher=./missing-model", *SHORT_RUN])
    err = capsys.readouterr().err
    assert code == 2
    assert "model path not found: ./missing-model" in err
    assert "Traceback" not in err


def test_unknown_override_key_is_one_line_error(capsys):
    code = main(["train", "agent.lr=0.1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "unknown key 'agent.lr'" in err


def test_missing_config_file_is_one_line_error(capsys):
    code = main(["train", "--config", "no-such-file.yaml"])
    err = capsys.readouterr().err
    assert code == 2
    assert "config file not found: no-such-file.yaml" in err


def test_packaged_config_by_name_resolves(capsys):
    code = main(["train", "--config", "nonexistent-name"])
    assert code == 2
    assert "no packaged config named 'nonexistent-name'" in capsys.readouterr().err


def test_overrides_accepted_after_options(tmp_path):
    run_dir = tmp_path / "run"
    code = main(["train", "train.num_items=2", "--output-dir", str(run_dir), "--max-steps", "1", "train.epochs=1",
                 "train.eval_samples=1", "train.validation_samples=1", "env.max_new_tokens=4"])
    assert code == 0
    assert "max_new_tokens: 4" in (run_dir / "config.yaml").read_text()


def test_unknown_option_still_rejected(capsys):
    try:
        main(["train", "--no-such-option"])
    except SystemExit as raised:
        assert raised.code == 2
    assert "unrecognized arguments: --no-such-option" in capsys.readouterr().err


def test_sigterm_outside_training_exits_143(monkeypatch, capsys):
    import os
    import signal

    import cultural_env.cli as cli

    def terminate_self(args):
        os.kill(os.getpid(), signal.SIGTERM)
        return 0

    real_parse = cli.parse_arguments

    def parse_then_terminate(parser, argv):
        args = real_parse(parser, argv)
        args.handler = terminate_self
        return args

    monkeypatch.setattr(cli, "parse_arguments", parse_then_terminate)
    before = signal.getsignal(signal.SIGTERM)
    assert cli.main(["data", "stats"]) == 128 + signal.SIGTERM
    assert capsys.readouterr().err.strip().endswith("terminated")
    assert signal.getsignal(signal.SIGTERM) is before
