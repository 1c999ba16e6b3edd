"""Each preparer on a tiny tree in its corpus's exact layout: splits, normalised text, skip reasons."""

import json

import pytest

from src.data.corpora import aishell, commonvoice, folder, librispeech
from src.data.corpora.common import CorpusError, write_manifests
from tests.data.corpora.conftest import copy_tree
from tests.data.corpora.fixtures import ENGLISH, MANDARIN, aishell_tree, folder_tree, needs_ffmpeg, write_audio


def _read(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@needs_ffmpeg
def test_librispeech_subsets_lowercase_and_skips(tmp_path, librispeech_root):
    base = copy_tree(librispeech_root, tmp_path / "copy") / "LibriSpeech"
    chapter = base / "train-clean-100" / "19" / "198"
    (chapter / "19-198-0000.flac").unlink()  # a transcript line without audio
    write_audio(chapter / "19-198-0099.flac", "x", 99)  # audio without a transcript line
    summary = write_manifests(librispeech.collect(base.parent), tmp_path / "out", progress=False)
    assert set(summary["splits"]) == {"train-clean-100", "dev-clean", "test-clean"}
    train = _read(tmp_path / "out" / "train-clean-100.jsonl")
    assert sorted(e["text"] for e in train) == sorted(ENGLISH[1:4])
    assert all(e["audio_filepath"].endswith(".flac") and e["duration"] > 0.3 for e in train)
    skipped = (tmp_path / "out" / "skipped.tsv").read_text()
    assert "19-198-0000.flac is missing" in skipped and "19-198-0099.flac\tno transcript line" in skipped
    assert summary["skipped"]["total"] == 2


def test_aishell_removes_spaces_and_reports_orphans(tmp_path):
    base = aishell_tree(tmp_path)
    with (base / "transcript" / "aishell_transcript_v0.8.txt").open("a", encoding="utf-8") as f:
        f.write("BAC009S0999W0001 没有 音频\n")
    write_audio(base / "wav" / "train" / "S0002" / "BAC009S0002W9999.wav", "x", 5)
    summary = write_manifests(aishell.collect(tmp_path), tmp_path / "out", progress=False)
    assert summary["splits"]["train"]["utterances"] == 6
    assert sorted(e["text"] for e in _read(tmp_path / "out" / "train.jsonl")) == sorted(MANDARIN)
    assert [e["text"] for e in _read(tmp_path / "out" / "dev.jsonl")] == MANDARIN[:2]
    skipped = (tmp_path / "out" / "skipped.tsv").read_text(encoding="utf-8")
    assert "BAC009S0002W9999.wav\tno transcript line" in skipped and "BAC009S0999W0001\ttranscript line without a wav" in skipped


def test_aishell_unextracted_archives_say_how(tmp_path):
    (tmp_path / "data_aishell" / "transcript").mkdir(parents=True)
    (tmp_path / "data_aishell" / "transcript" / "aishell_transcript_v0.8.txt").write_text("")
    (tmp_path / "data_aishell" / "wav").mkdir()
    (tmp_path / "data_aishell" / "wav" / "S0002.tar.gz").write_bytes(b"")
    with pytest.raises(CorpusError, match="not extracted yet.*tar xzf"):
        aishell.collect(tmp_path)


@needs_ffmpeg
def test_commonvoice_mp3_and_icefall_normalisation(tmp_path, commonvoice_root):
    base = copy_tree(commonvoice_root, tmp_path / "copy") / "en"
    with (base / "train.tsv").open("a", encoding="utf-8") as f:
        f.write("x\tmissing.mp3\thello\t2\t0\t\t\t\ten\t\n")
        f.write("y\tcommon_voice_en_0.mp3\t?!\t2\t0\t\t\t\ten\t\n")
    write_manifests(commonvoice.collect(base), tmp_path / "out", progress=False, workers=3)  # order kept
    texts = [e["text"] for e in _read(tmp_path / "out" / "train.jsonl")]
    assert texts == ["the cat sat", "a dog ran", "the cat's ran"]
    assert [e["text"] for e in _read(tmp_path / "out" / "test.jsonl")] == ["a cat the dog"]
    skipped = (tmp_path / "out" / "skipped.tsv").read_text()
    assert "clips/missing.mp3 is missing" in skipped and "empty text after normalisation: '?!'" in skipped


def test_commonvoice_other_languages_keep_their_letters():
    assert commonvoice.normalize("Ça va, très-bien ! «Oui»", "fr") == "ça va très bien oui"
    assert commonvoice.normalize("我们，去北京。", "zh-CN") == "我们去北京"


def test_folder_pairs_split_by_hash_and_skip_missing_text(tmp_path):
    base = folder_tree(tmp_path)
    write_audio(base / "orphan.wav", "x", 1)
    collected = folder.collect(base, dev_fraction=0.2, test_fraction=0.2)
    ids = {s: sorted(i.utt_id for i in items) for s, items in collected.splits.items()}
    again = folder.collect(base, dev_fraction=0.2, test_fraction=0.2)
    assert ids == {s: sorted(i.utt_id for i in items) for s, items in again.splits.items()}  # deterministic
    assert sum(len(v) for v in ids.values()) == 12 and "train" in ids and "dev" in ids
    assert {i.text for items in collected.splits.values() for i in items} == set(ENGLISH)  # "The cat sat." -> "the cat sat"
    assert [s.reason for s in collected.skipped] == ["no transcript: orphan.txt is missing"]


def test_folder_ljspeech_metadata_uses_the_normalised_column(tmp_path):
    base = tmp_path / "LJSpeech-1.1"
    write_audio(base / "wavs" / "LJ001-0001.wav", "abc", 0)
    write_audio(base / "wavs" / "LJ001-0002.wav", "abc", 1)
    (base / "metadata.csv").write_text("LJ001-0001|Dr. Smith paid $5.|Doctor Smith paid five dollars.\n"
                                       "LJ001-0002|Hello there|\nLJ001-0003|missing|missing\n")
    collected = folder.collect(base, dev_fraction=0.0, test_fraction=0.0)
    texts = sorted(i.text for items in collected.splits.values() for i in items)
    assert texts == ["doctor smith paid five dollars", "hello there"]
    assert "wavs/LJ001-0003.wav is missing" in collected.skipped[0].reason


def test_wrong_layouts_name_what_was_expected(tmp_path):
    with pytest.raises(CorpusError, match="no LibriSpeech subset folder"):
        librispeech.collect(tmp_path)
    with pytest.raises(CorpusError, match="aishell_transcript_v0.8.txt"):
        aishell.collect(tmp_path)
    with pytest.raises(CorpusError, match="no clips/ folder"):
        commonvoice.collect(tmp_path)
    with pytest.raises(CorpusError, match="no audio files"):
        folder.collect(tmp_path)
