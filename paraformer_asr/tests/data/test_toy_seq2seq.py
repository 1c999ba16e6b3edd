import numpy as np
import pytest
import torch

from src.data.tokenizer import CharTokenizer
from src.data.toy_seq2seq import ToySeq2Seq, normalize_text
from src.utils.config import DataConfig


def _ds(split="train", **kw):
    return ToySeq2Seq(DataConfig(**kw), split=split, tokenizer=CharTokenizer.from_alphabet(), subsampling=4)


def test_sample_shapes_and_types():
    feats, tokens, T, L = _ds().generate_sample(0)
    assert feats.dtype == torch.float32 and feats.shape == (T, 80)
    assert tokens.dtype == torch.int64 and tokens.shape == (L,)
    assert 1 <= len(_ds().text(0).split()) <= 4


def test_deterministic_per_seed_split_index():
    a, b = _ds(), _ds()
    fa, ta, _, _ = a.generate_sample(5)
    fb, tb, _, _ = b.generate_sample(5)
    assert torch.equal(fa, fb) and torch.equal(ta, tb)
    # other split or other seed gives a different sample
    fv, _, _, _ = _ds("val").generate_sample(5)
    fs, _, _, _ = _ds(seed=99).generate_sample(5)
    assert fv.shape != fa.shape or not torch.equal(fv, fa)
    assert fs.shape != fa.shape or not torch.equal(fs, fa)
    # num_frames agrees with the generated length without synthesising
    assert all(a.num_frames(i) == a.generate_sample(i)[2] for i in range(20))


def test_at_most_one_token_per_subsampled_frame():
    ds = _ds()
    for i in range(200):
        text, starts = ds.char_boundaries(i)
        T = ds.num_frames(i)
        ends = starts[1:] + [T - ds.cfg.silence_frames]
        # every character (and the gap before a repeat) spans >= subsampling frames
        assert all(e - s >= 4 for s, e in zip(starts, ends))
        L = len(text)
        repeats = sum(text[j] == text[j - 1] for j in range(1, L))
        # conv2d subsampling x4 (two k=3, s=2 convs) keeps ((T-1)//2 - 1)//2 frames;
        # CTC needs one frame per token plus a blank between repeats
        t_sub = ((T - 1) // 2 - 1) // 2
        assert t_sub >= L + repeats


def test_repeated_letters_have_a_dip():
    ds = _ds(noise_std=0.0)
    rng = np.random.default_rng(0)
    feats = ds.synthesize("ll", rng)  # (T, F)
    proto = torch.from_numpy(ds.prototypes["l"])
    sim = feats @ proto / proto.norm() ** 2  # 1 on a pure "l" frame, 0 on silence
    s = ds.cfg.silence_frames
    inner = sim[s:-s]
    above = (inner > 0.99).int().tolist()
    # two separate runs of pure "l" frames with a lower region between them
    runs = sum(1 for k in range(len(above)) if above[k] and (k == 0 or not above[k - 1]))
    assert runs == 2 and inner.min() < 0.5


def test_subsampling_assertion_names_the_knob():
    with pytest.raises(ValueError, match="min_frames_per_char"):
        ToySeq2Seq(DataConfig(min_frames_per_char=3), split="train", tokenizer=CharTokenizer.from_alphabet(), subsampling=4)
    with pytest.raises(ValueError, match="repeat_gap_frames"):
        ToySeq2Seq(DataConfig(repeat_gap_frames=2), split="train", tokenizer=CharTokenizer.from_alphabet(), subsampling=4)


def test_normalize_text():
    assert normalize_text("  Hello,   World! ") == "hello world"


def test_splits_are_disjoint_in_text():
    """No val/test text occurs in train (before: ~25 % did), and val and test share none."""
    train = {_ds("train").text(i) for i in range(1500)}
    val = {_ds("val").text(i) for i in range(200)}
    test = {_ds("test").text(i) for i in range(200)}
    assert not val & train and not test & train and not val & test
    # Each split still covers one- to four-word texts.
    assert {len(t.split()) for t in val} == {1, 2, 3, 4} == {len(t.split()) for t in test}
