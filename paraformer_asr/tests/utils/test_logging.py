"""Run folders: naming, runs/latest, and the files a run writes."""

import csv
import json
import re

import pytest

from src.utils.logging import RunLogger, make_run_dir, resolve_run_path


def test_named_run_and_latest(tmp_path):
    run = make_run_dir("configs/x.yaml", "my_run", runs_root=tmp_path)
    assert run == tmp_path / "my_run"
    assert (run / "checkpoints").is_dir() and (run / "plots").is_dir()
    assert resolve_run_path(tmp_path / "latest").resolve() == run.resolve()
    second = make_run_dir(None, "second", runs_root=tmp_path)
    assert resolve_run_path(tmp_path / "latest" / "checkpoints").resolve() == (second / "checkpoints").resolve()


def test_default_name_is_timestamp_and_config_stem(tmp_path):
    run = make_run_dir("configs/paraformer_base.yaml", None, runs_root=tmp_path)
    assert re.fullmatch(r"\d{8}_\d{6}_paraformer_base", run.name)


def test_latest_falls_back_to_a_file_where_symlinks_fail(tmp_path, monkeypatch):
    from pathlib import Path

    def no_symlinks(*args, **kwargs):
        raise OSError("symlinks not permitted")

    monkeypatch.setattr(Path, "symlink_to", no_symlinks)
    run = make_run_dir(None, "r1", runs_root=tmp_path)
    assert (tmp_path / "latest").is_file()
    assert resolve_run_path(tmp_path / "latest" / "checkpoints" / "best.pt") == run / "checkpoints" / "best.pt"


@pytest.mark.parametrize("bad", ["latest", "a/b", ""])
def test_bad_run_names_are_refused(tmp_path, bad):
    with pytest.raises(ValueError, match="run name"):
        make_run_dir(None, bad, runs_root=tmp_path)


def test_run_logger_writes_log_metrics_and_csv(tmp_path):
    run = make_run_dir(None, "r", runs_root=tmp_path)
    logger = RunLogger(run, run_id="r", model_type="m", console=False)
    logger.info("hello log")
    logger.log_epoch({"epoch": 1, "step": 10, "loss": 0.5, "per_class": {"a": 1.0}})
    logger.log_epoch({"epoch": 2, "step": 20, "loss": 0.25, "val_score": 0.9})
    logger.close()
    assert "hello log" in (run / "train.log").read_text()
    history = json.loads((run / "metrics.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2] and history[0]["per_class"] == {"a": 1.0}
    rows = list(csv.reader(open(run / "results.csv")))
    assert rows[0][:4] == ["run_id", "model_type", "epoch", "step"]
    assert rows[0][4:] == ["loss", "val_score"]
    assert rows[2][:5] == ["r", "m", "2", "20", "0.25"]


def test_resumed_run_replaces_superseded_epochs(tmp_path):
    run = make_run_dir(None, "r", runs_root=tmp_path)
    logger = RunLogger(run, run_id="r", model_type="m", console=False)
    for epoch in (1, 2, 3):
        logger.log_epoch({"epoch": epoch, "step": epoch * 10, "loss": 1.0 / epoch})
    logger.close()
    resumed = RunLogger(run, run_id="r", model_type="m", console=False)  # resumed from epoch 2's checkpoint
    resumed.log_epoch({"epoch": 3, "step": 30, "loss": 0.1})
    resumed.close()
    history = json.loads((run / "metrics.json").read_text())
    assert [(r["epoch"], r["loss"]) for r in history] == [(1, 1.0), (2, 0.5), (3, 0.1)]


def test_log_epoch_needs_epoch_and_step(tmp_path):
    logger = RunLogger(make_run_dir(None, "r", runs_root=tmp_path), run_id="r", model_type="m", console=False)
    with pytest.raises(ValueError, match="epoch"):
        logger.log_epoch({"loss": 1.0})
    logger.close()
