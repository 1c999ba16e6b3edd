"""Timestamp accuracy: a Paraformer's CIF fire frames against the toy task's true character boundaries.

Documented convention (src/training/transcribe.py): fire frame t' is reported at the start of its
receptive field, input frame s t'; the field's centre is s t' + s - 1. The centre must lie within
one encoder frame (s input frames) of the fired character's true span [start_i, end_i).
"""

from __future__ import annotations

import torch

from src.data.tokenizer import CharTokenizer
from src.data.toy_seq2seq import ToySeq2Seq
from src.models import build_model
from src.models.subsampling import receptive_field
from src.utils.config import DataConfig
from tests.models.tiny import tiny_config


def test_fire_frames_lie_within_one_encoder_frame_of_the_true_characters():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: extra threads only add contention
    try:
        tok = CharTokenizer.from_alphabet()
        data = DataConfig(feat_dim=16, min_words=1, max_words=1)
        ds = ToySeq2Seq(data, split="train", tokenizer=tok, subsampling=4)
        items = [ds.generate_sample(i) for i in range(3)]
        feat_lens = torch.tensor([n for _, _, n, _ in items])
        token_lens = torch.tensor([n for _, _, _, n in items])
        feats = torch.zeros(len(items), int(feat_lens.max()), 16)  # (B, T, F)
        tokens = torch.zeros(len(items), int(token_lens.max()), dtype=torch.long)  # (B, L)
        for i, (f, t, n, m) in enumerate(items):
            feats[i, :n], tokens[i, :m] = f, t
        torch.manual_seed(0)
        model = build_model(tiny_config("paraformer", ctc_weight=0.3, label_smoothing=0.0), vocab_size=tok.vocab_size, input_dim=16)
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        model.train()
        for _ in range(150):  # overfit three utterances: enough for CIF to count and place the tokens
            loss = model(feats, feat_lens, tokens, token_lens)["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        hyps = model.decode(feats, feat_lens, method="greedy")
    finally:
        torch.set_num_threads(before)
    s = model.subsampling
    for i, hyp in enumerate(hyps):
        text, starts = ds.char_boundaries(i)
        assert tok.decode(hyp.tokens) == text  # the precondition: it transcribes the utterance
        ends = starts[1:] + [int(feat_lens[i]) - data.silence_frames]
        for c, frame, start, end in zip(text, hyp.token_frames, starts, ends):
            first, last = receptive_field(frame, s)
            centre = (first + last) // 2  # s t' + s - 1
            assert start - s <= centre < end + s, f"{text!r}: {c!r} fired at encoder frame {frame} (centre {centre}), true span [{start}, {end})"
