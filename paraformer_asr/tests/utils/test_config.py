"""Config system: defaults, YAML overrides, CLI overrides, and the errors for bad keys and types."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from src.utils.config import (
    ConfigError,
    ExperimentConfig,
    config_from_dict,
    config_to_dict,
    dump_config,
    load_config,
    load_config_or_exit,
)

PROJECT = Path(__file__).resolve().parents[2]
SHARED_KEYS = [
    "training.batch_size", "training.learning_rate", "training.num_epochs", "training.max_steps",
    "training.max_grad_norm", "training.seed", "training.device", "data.train_size", "data.val_size",
]


def test_defaults_come_from_the_dataclasses():
    assert load_config(None) == ExperimentConfig()


@pytest.mark.parametrize("dotted", SHARED_KEYS)
def test_keys_shared_by_both_projects_exist(dotted):
    section, key = dotted.split(".")
    assert key in {f.name for f in dataclasses.fields(getattr(ExperimentConfig(), section))}


def test_yaml_holds_only_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("training:\n  batch_size: 3\n")
    cfg = load_config(path)
    assert cfg.training.batch_size == 3
    assert cfg.training.learning_rate == ExperimentConfig().training.learning_rate


def test_cli_overrides_are_parsed_as_yaml_and_win_over_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("training:\n  batch_size: 3\n")
    cfg = load_config(path, ["training.batch_size=32", "training.learning_rate=2e-4", "training.device=cpu"])
    assert cfg.training.batch_size == 32
    assert cfg.training.learning_rate == pytest.approx(2e-4)  # PyYAML alone reads "2e-4" as a string
    assert cfg.training.device == "cpu"


def test_int_is_accepted_for_float_but_not_the_reverse():
    assert load_config(None, ["training.learning_rate=1"]).training.learning_rate == 1.0
    with pytest.raises(ConfigError, match=r"training\.batch_size: expected int"):
        load_config(None, ["training.batch_size=1.5"])


@pytest.mark.parametrize(
    "override, words",
    [
        ("training.batch_sise=4", ["batch_sise", "training", "batch_size"]),
        ("trainig.batch_size=4", ["trainig", "training"]),
        ("training.batch_size=abc", ["training.batch_size", "expected int", "'abc'"]),
        ("training.device=gpu", ["training.device", "'gpu'", "'cuda'"]),
        ("training.max_steps=true", ["training.max_steps", "expected int"]),
        ("training.batch_size", ["section.key=value"]),
    ],
)
def test_bad_overrides_name_the_problem(override, words):
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    for word in words:
        assert word in str(err.value)


def test_unknown_key_in_file_names_key_section_and_suggestion(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("training:\n  learning_rat: 0.1\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert "learning_rat" in msg and "'training'" in msg and "learning_rate" in msg


def test_wrong_type_in_file_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("training:\n  num_epochs: [1, 2]\n")
    with pytest.raises(ConfigError, match=r"training\.num_epochs"):
        load_config(path)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("training: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_load_config_or_exit_exits_with_code_2(capsys):
    with pytest.raises(SystemExit) as err:
        load_config_or_exit(None, ["training.batch_sise=4"])
    assert err.value.code == 2
    assert "batch_size" in capsys.readouterr().err


def test_dump_and_reload_round_trip(tmp_path):
    cfg = load_config(None, ["training.batch_size=7", "training.seed=11"])
    text = dump_config(cfg, tmp_path / "config.yaml")
    assert yaml.safe_load(text) == config_to_dict(cfg)
    assert load_config(tmp_path / "config.yaml") == cfg
    assert config_from_dict(config_to_dict(cfg)) == cfg


def test_every_shipped_config_loads():
    configs = sorted((PROJECT / "configs").glob("*.yaml"))
    for path in configs:
        load_config(path)


def test_train_script_exits_2_on_a_misspelt_key():
    script = PROJECT / "scripts" / "train.py"
    configs = sorted((PROJECT / "configs").glob("*.yaml"))
    if not script.exists() or not configs:
        pytest.skip("scripts/train.py or configs/ not there yet")
    proc = subprocess.run(
        [sys.executable, str(script), "--config", str(configs[0]), "--override", "training.batch_sise=4"],
        cwd=PROJECT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "batch_sise" in proc.stderr and "batch_size" in proc.stderr


def test_long_utterance_configs_change_only_the_utterance_length():
    """The speed comparison at a similar CER (docs/BENCHMARKS.md) is fair only if each *_long
    config is its base config on longer utterances: the same model, the same data otherwise.
    Only the training length may differ (the AR baseline gets more epochs to converge)."""
    for long_name, base_name in [("paraformer_long", "paraformer_base"), ("transformer_ar_long", "transformer_ar")]:
        long_cfg = load_config(PROJECT / "configs" / f"{long_name}.yaml")
        base_cfg = load_config(PROJECT / "configs" / f"{base_name}.yaml")
        assert long_cfg.data.max_words > base_cfg.data.max_words, long_name
        expected = load_config(PROJECT / "configs" / f"{base_name}.yaml", [
            f"data.max_words={long_cfg.data.max_words}", f"training.num_epochs={long_cfg.training.num_epochs}"])
        assert long_cfg == expected, f"{long_name}.yaml differs from {base_name}.yaml in more than data.max_words and training.num_epochs"
