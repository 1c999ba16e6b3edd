"""Scores per manifest field: SNR bands, quartiles, categories, explicit edges."""

from __future__ import annotations

import pytest

from src.metrics.asr_metrics import ASRMetrics
from src.metrics.grouped import format_table, group_labels, grouped_scores, parse_group_spec


def test_snr_bands_and_clean():
    labels = group_labels([None, 35.0, 30.0, 29.9, 20.0, 15.0, 5.0], "snr_db")
    assert labels == ["clean", ">=30 dB", ">=30 dB", "20-30 dB", "20-30 dB", "10-20 dB", "<10 dB"]


def test_categories_and_explicit_edges():
    assert group_labels(["flite", "espeak-ng", None], "engine") == ["flite", "espeak-ng", "none"]
    assert group_labels([True, False], "noisy") == ["True", "False"]
    key, edges = parse_group_spec("lead_silence_s:0.3,0.1")
    assert key == "lead_silence_s" and edges == [0.1, 0.3]
    assert group_labels([0.0, 0.1, 0.25, 0.4], key, edges) == ["<0.1", "0.1-0.3", "0.1-0.3", ">=0.3"]
    peaks = group_labels([-11.0, -3.0, -6.0], "peak_dbfs", [-6.0])  # negative edges (dBFS) sort and label too
    assert peaks == ["<-6", ">=-6", ">=-6"]
    assert list(grouped_scores(["a"] * 3, ["a"] * 3, peaks)) == [">=-6", "<-6"]
    with pytest.raises(ValueError, match="band edges"):
        parse_group_spec("x:a,b")


def test_numeric_fields_default_to_quartiles():
    labels = group_labels([float(i) for i in range(8)], "duration_s")
    assert len(set(labels)) == 4 and labels.count(labels[0]) == 2


def test_grouped_scores_equal_per_group_metrics_and_order():
    refs = ["abc", "hello", "abc", "xyz"]
    hyps = ["abd", "hello", "abc", ""]
    labels = ["20-30 dB", "clean", ">=30 dB", "<10 dB"]
    groups = grouped_scores(refs, hyps, labels)
    assert list(groups) == ["clean", ">=30 dB", "20-30 dB", "<10 dB"]
    m = ASRMetrics()
    m.update("abc", "abd")
    assert groups["20-30 dB"] == m.compute()
    assert groups["<10 dB"]["cer"] == 1.0 and groups["clean"]["cer"] == 0.0
    overall = {"cer": 0.1, "cer_sub": 0.05, "cer_del": 0.03, "cer_ins": 0.02, "wer": 0.2, "num_utterances": 4}
    table = format_table("snr_db", groups, overall)
    assert table.splitlines()[0].split() == ["snr_db", "n", "CER", "sub", "del", "ins", "WER"]
    assert table.splitlines()[2].split() == [">=30", "dB", "1", "0.0000", "0.0000", "0.0000", "0.0000", "0.0000"]
    assert table.splitlines()[3].split() == ["20-30", "dB", "1", "0.3333", "0.3333", "0.0000", "0.0000", "1.0000"]
    assert table.splitlines()[-2].split() == ["<10", "dB", "1", "1.0000", "0.0000", "1.0000", "0.0000", "1.0000"]
    assert table.splitlines()[-1].split() == ["all", "4", "0.1000", "0.0500", "0.0300", "0.0200", "0.2000"]
    with pytest.raises(ValueError, match="must match"):
        grouped_scores(refs, hyps, labels[:2])


def test_group_by_fields_follows_the_sampler_order_and_names_missing_fields():
    from types import SimpleNamespace

    from src.training.evaluate import group_by_fields

    entries = [SimpleNamespace(extra={"engine": e}) for e in ("x", "y", "x")]
    loader = SimpleNamespace(dataset=SimpleNamespace(entries=entries), batch_sampler=[[2, 0], [1]])
    result = {"utterances": [{"ref": "ab", "hyp": "ab"}, {"ref": "cd", "hyp": "cd"}, {"ref": "ef", "hyp": "zz"}]}
    groups = group_by_fields(result, loader, ["engine"])["engine"]
    assert groups["x"]["cer"] == 0.0 and groups["y"]["cer"] == 1.0  # utterance 1 (engine y) was scored last
    with pytest.raises(ValueError, match="no utterance of the manifest has this field; its fields are: engine"):
        group_by_fields(result, loader, ["speaker"])
