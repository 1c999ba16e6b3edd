"""StreamResampler: block-by-block resampling equals resample() on the whole signal."""

import pytest
import torch

from src.data.audio import StreamResampler, resample


@pytest.mark.parametrize("orig,new", [(44100, 16000), (8000, 16000), (22050, 16000), (48000, 16000), (16000, 16000)])
@pytest.mark.parametrize("block", [7, 997, 50_000])
def test_blocks_equal_the_whole_signal(orig, new, block):
    torch.manual_seed(0)
    x = torch.randn(orig // 4 + 37)
    r = StreamResampler(orig, new)
    out = [r.push(x[s : s + block]) for s in range(0, x.numel(), block)] + [r.flush()]
    y, ref = torch.cat(out), resample(x, orig, new)
    assert y.shape == ref.shape
    assert torch.allclose(y, ref, atol=1e-5)


def test_bad_rates_are_errors():
    with pytest.raises(ValueError, match="positive"):
        StreamResampler(0, 16000)
