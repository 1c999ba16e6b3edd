"""Global CMVN: statistics, normalisation and a checkpoint-safe round trip."""

from __future__ import annotations

import io
import json

import pytest
import torch

from src.data.cmvn import GlobalCMVN


def test_stats_match_concatenated_features():
    g = torch.Generator().manual_seed(0)
    utts = [torch.randn(t, 4, generator=g) * torch.tensor([1.0, 2.0, 3.0, 4.0]) + 10.0 for t in (5, 17, 30)]
    cmvn = GlobalCMVN(4)
    for u in utts:
        cmvn.accumulate(u)
    allf = torch.cat(utts).double()  # (52, 4)
    assert cmvn.count == 52
    assert torch.allclose(cmvn.mean, allf.mean(0), atol=1e-9)
    assert torch.allclose(cmvn.std, allf.std(0, unbiased=False), atol=1e-9)
    normed = torch.cat([cmvn.apply(u) for u in utts])
    assert torch.allclose(normed.mean(0), torch.zeros(4), atol=1e-5)
    assert torch.allclose(normed.std(0, unbiased=False), torch.ones(4), atol=1e-5)
    assert normed.dtype == torch.float32


def test_constant_bin_does_not_blow_up():
    cmvn = GlobalCMVN(2)
    cmvn.accumulate(torch.tensor([[1.0, 5.0], [3.0, 5.0]]))
    out = cmvn.apply(torch.tensor([[2.0, 5.0]]))
    assert torch.isfinite(out).all() and float(out[0, 1]) == 0.0


def test_dict_roundtrip_is_plain_and_weights_only_loadable():
    cmvn = GlobalCMVN(3)
    cmvn.accumulate(torch.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 9.0]]))
    d = cmvn.to_dict()
    json.dumps(d)  # plain numbers and lists only
    buf = io.BytesIO()
    torch.save({"cmvn": d}, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)["cmvn"]
    back = GlobalCMVN.from_dict(loaded)
    x = torch.tensor([[0.5, 1.0, 7.0]])
    assert torch.equal(back.apply(x), cmvn.apply(x))
    with pytest.raises(ValueError, match="lacks"):
        GlobalCMVN.from_dict({"num_bins": 3})


def test_empty_and_wrong_shape_errors():
    with pytest.raises(RuntimeError, match="accumulate"):
        GlobalCMVN(3).apply(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"\(T, 3\)"):
        GlobalCMVN(3).accumulate(torch.zeros(2, 4))
