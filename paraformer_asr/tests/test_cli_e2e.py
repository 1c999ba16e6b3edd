"""End to end through the scripts, in a temporary folder: train (tiny) -> eval -> infer."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from src.utils.amp import resolve_amp

ROOT = Path(__file__).resolve().parents[1]
# One intra-op thread: tiny models gain nothing from more, and a shared CPU makes extra threads spin.
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def run(*args, stdin=None, cwd=ROOT):
    return subprocess.run(
        [sys.executable, *map(str, args)], cwd=cwd, env=ENV, input=stdin, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    res = run("scripts/train.py", "--config", "configs/tiny_paraformer.yaml", "--runs-dir", runs, "--run-name", "e2e",
              "--override", "training.num_epochs=1")
    assert res.returncode == 0, res.stderr
    ckpt = runs / "e2e" / "checkpoints" / "best.pt"
    assert ckpt.exists() and (runs / "e2e" / "checkpoints" / "latest.pt").exists()
    for name in ("config.yaml", "train.log", "metrics.json", "results.csv"):
        assert (runs / "e2e" / name).exists(), name
    assert (runs / "latest").resolve() == (runs / "e2e").resolve()
    # training.amp: auto (the default) says in the first log line what this CPU gets, and why
    first = (runs / "e2e" / "train.log").read_text().splitlines()[0]
    assert f"amp={resolve_amp('auto', torch.device('cpu')).describe()} " in first, first
    return ckpt


@pytest.mark.slow  # subprocesses: ~3 s each on a quiet CPU, much more on a shared one
@pytest.mark.parametrize("method", ["greedy", "beam", "ctc_greedy"])
def test_eval_writes_json_with_metric_keys(trained, tmp_path, method):
    out = tmp_path / f"{method}.json"
    res = run("scripts/eval.py", "--checkpoint", trained, "--decode-method", method, "--beam-size", "2",
              "--detailed", "--output", out)
    assert res.returncode == 0, res.stderr
    result = json.loads(out.read_text())
    for key in ("cer", "wer", "token_accuracy", "sequence_accuracy", "num_utterances", "decode_seconds"):
        assert key in result, key
    assert result["num_utterances"] == 8  # tiny_paraformer.yaml: data.test_size
    assert 0.0 <= result["token_accuracy"] <= 1.0 and result["cer"] >= 0.0
    assert len(result["utterances"]) == 8 and {"ref", "hyp"} <= set(result["utterances"][0])
    assert result["decode_method"] == method and result["beam_size"] == (None if "greedy" in method else 2)
    assert result["amp"] == resolve_amp("auto", torch.device("cpu")).describe()  # eval.py --amp auto (default)


@pytest.mark.slow  # subprocesses: ~3 s each on a quiet CPU, much more on a shared one
def test_infer_text_dump_and_features_round_trip(trained, tmp_path):
    dump = tmp_path / "req.json"
    res = run("scripts/infer.py", "--checkpoint", trained, "--text", "Hello, World!", "--dump-features", dump)
    assert res.returncode == 0, res.stderr
    assert "ref: hello world" in res.stdout and "hyp:" in res.stdout
    feats = json.loads(dump.read_text())["features"]
    assert len(feats) > 0 and len(feats[0]) == 16  # tiny_paraformer.yaml: data.feat_dim
    res = run("scripts/infer.py", "--checkpoint", trained, "--features", dump, "--amp", "true")
    assert res.returncode == 0, res.stderr
    assert "hyp:" in res.stdout and "amp=bf16 (" in res.stderr  # forced bf16 (emulated on CPUs without it)


@pytest.mark.slow  # subprocesses: ~3 s each on a quiet CPU, much more on a shared one
def test_infer_input_file_and_interactive(trained, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("good morning\n\nsee you\n")
    preds = tmp_path / "predictions.txt"
    res = run("scripts/infer.py", "--checkpoint", trained, "--input-file", texts, "--output-file", preds)
    assert res.returncode == 0, res.stderr
    assert len(preds.read_text().splitlines()) == 2  # the blank line is skipped
    res = run("scripts/infer.py", "--checkpoint", trained, "--interactive", stdin="one\ntwo three\n")
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("hyp:") == 2 and "ref: two three" in res.stdout


@pytest.mark.slow  # subprocesses: ~3 s each on a quiet CPU, much more on a shared one
def test_resume_continues_the_run(trained, tmp_path):
    res = run("scripts/train.py", "--resume", trained.parent / "latest.pt", "--override", "training.num_epochs=2")
    assert res.returncode == 0, res.stderr
    history = json.loads((trained.parent.parent / "metrics.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2]


def test_misspelled_key_exits_2_and_names_it():
    res = run("scripts/train.py", "--config", "configs/paraformer_base.yaml", "--override", "training.batch_sise=4")
    assert res.returncode == 2
    assert "batch_sise" in res.stderr and "batch_size" in res.stderr


def test_bad_checkpoint_is_a_clear_error(tmp_path):
    bad = tmp_path / "x.pt"
    bad.write_bytes(b"not a checkpoint")
    res = run("scripts/eval.py", "--checkpoint", bad)
    assert res.returncode == 2 and "x.pt" in res.stderr


@pytest.mark.slow  # subprocesses: ~3 s each on a quiet CPU, much more on a shared one
def test_train_lm_then_fuse_it_in_eval_and_infer(trained, tmp_path):
    texts = tmp_path / "lm.txt"
    texts.write_text("good morning\nsee you soon\nhello world\ngood night\n")
    lm = tmp_path / "lm3.json"
    res = run("scripts/train_lm.py", "--checkpoint", trained, "--text-file", texts, "--order", "3", "--out", lm)
    assert res.returncode == 0, res.stderr
    assert "4 sentences" in res.stdout and json.loads(lm.read_text())["order"] == 3
    out = tmp_path / "fused.json"
    res = run("scripts/eval.py", "--checkpoint", trained, "--decode-method", "ctc_beam", "--beam-size", "2",
              "--lm", lm, "--lm-weight", "0.3", "--output", out)
    assert res.returncode == 0, res.stderr
    result = json.loads(out.read_text())
    assert result["lm"] == {"path": str(lm), "order": 3, "weight": 0.3, "bonus": 1.0} and result["num_utterances"] == 8
    res = run("scripts/infer.py", "--checkpoint", trained, "--text", "good morning", "--decode-method", "ctc_beam", "--lm", lm)
    assert res.returncode == 0 and "hyp:" in res.stdout, res.stderr
    # An LM where no CTC beam search runs, and an LM for another tokenizer, are errors that say so.
    res = run("scripts/eval.py", "--checkpoint", trained, "--decode-method", "greedy", "--lm", lm)
    assert res.returncode == 2 and "--decode-method ctc_beam" in res.stderr, res.stderr
    data = json.loads(lm.read_text())
    data["tokenizer"] = data["tokenizer"].replace('"a"', '"A"')
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data))
    res = run("scripts/eval.py", "--checkpoint", trained, "--decode-method", "ctc_beam", "--lm", other)
    assert res.returncode == 2 and "another tokenizer" in res.stderr, res.stderr


@pytest.mark.slow  # a subprocess
def test_eval_vtln_needs_the_ctc_model_on_audio(trained):
    res = run("scripts/eval.py", "--checkpoint", trained, "--vtln-warps", "0.9,1.0")
    assert res.returncode == 2 and "--vtln-warps: VTLN decodes the CTC model" in res.stderr
    res = run("scripts/eval.py", "--checkpoint", trained, "--vtln-warps", "0.9,x")
    assert res.returncode == 2 and "--vtln-warps" in res.stderr


@pytest.mark.slow  # two subprocesses
@pytest.mark.parametrize("workers,reason", [
    (1, "auto: 1 cores shared with 1 data workers, OMP_WAIT_POLICY=PASSIVE"),
    (0, "auto: 1 cores - 0 data workers"),
])
def test_train_sets_the_openmp_wait_policy_before_torch_loads(tmp_path, workers, reason):
    """The policy is chosen from the config in scripts/train.py, and the trainer sees it (first log line)."""
    env = {k: v for k, v in ENV.items() if k != "OMP_WAIT_POLICY"}
    res = subprocess.run(
        [sys.executable, "scripts/train.py", "--config", "configs/tiny_ctc.yaml", "--runs-dir", str(tmp_path),
         "--run-name", "omp", "--override", f"data.num_workers={workers}", "training.max_steps=1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    first = (tmp_path / "omp" / "train.log").read_text().splitlines()[0]
    assert f"threads=1 ({reason})" in first, first
