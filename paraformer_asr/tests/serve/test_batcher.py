"""DynamicBatcher: batches form, groups by decode settings, equal results, drains on stop."""

from __future__ import annotations

import asyncio

import pytest
import torch

from src.serve.batcher import DynamicBatcher, Overloaded, ShuttingDown, pad_batch, plan_sub_batches
from tests.serve.stub_model import StubModel, offline_decode

F = 8


def _utts(n: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randn(8 + 5 * i, F, generator=g) for i in range(n)]  # different lengths force padding


def _decode_fn(model: StubModel):
    def fn(feats, lens, method, beam_size):
        with torch.inference_mode():
            return model.decode(feats, lens, method=method, beam_size=beam_size)

    return fn


def test_pad_batch_shapes_and_zero_padding():
    feats, lens = pad_batch([torch.ones(3, F), torch.ones(5, F)])
    assert feats.shape == (2, 5, F) and lens.tolist() == [3, 5]
    assert feats[0, 3:].abs().sum() == 0 and feats[0, :3].eq(1).all()


def test_concurrent_requests_share_one_batch_and_match_offline():
    model = StubModel(F, 31)
    utts = _utts(6)

    async def main():
        b = DynamicBatcher(_decode_fn(model), window_ms=200, max_batch_size=8)
        b.start()
        hyps = await asyncio.gather(*(b.submit(u, "greedy", 1) for u in utts))
        await b.stop()
        return hyps, b.batch_sizes

    hyps, sizes = asyncio.run(main())
    assert sizes == [6]  # all six arrived within the window
    for u, h in zip(utts, hyps):
        ref = offline_decode(model, u)
        assert (h.tokens, h.token_frames) == (ref.tokens, ref.token_frames)


def test_max_batch_size_caps_each_batch():
    model = StubModel(F, 31)

    async def main():
        b = DynamicBatcher(_decode_fn(model), window_ms=200, max_batch_size=4)
        b.start()
        await asyncio.gather(*(b.submit(u, "greedy", 1) for u in _utts(10)))
        await b.stop()
        return b.batch_sizes

    assert asyncio.run(main()) == [4, 4, 2]


def test_decode_settings_are_batched_separately():
    model = StubModel(F, 31)
    utts = _utts(6)
    keys = [("greedy", 1), ("beam", 2), ("greedy", 1), ("beam", 3), ("beam", 2), ("greedy", 1)]

    async def main():
        b = DynamicBatcher(_decode_fn(model), window_ms=200, max_batch_size=16)
        b.start()
        hyps = await asyncio.gather(*(b.submit(u, m, k) for u, (m, k) in zip(utts, keys)))
        await b.stop()
        return hyps

    hyps = asyncio.run(main())
    assert sorted(model.calls) == [("beam", 2, 2), ("beam", 3, 1), ("greedy", 1, 3)]
    for u, (m, k), h in zip(utts, keys, hyps):
        assert h.tokens == offline_decode(model, u, m, k).tokens


def test_stop_drains_queued_requests_then_refuses_new_ones():
    model = StubModel(F, 31, delay_s=0.05)

    async def main():
        b = DynamicBatcher(_decode_fn(model), window_ms=0, max_batch_size=1)
        b.start()
        tasks = [asyncio.ensure_future(b.submit(u, "greedy", 1)) for u in _utts(4)]
        await asyncio.sleep(0)  # let the submits enqueue
        await b.stop()  # must decode all four before returning
        assert all(t.done() for t in tasks)
        with pytest.raises(ShuttingDown, match="shutting down"):
            await b.submit(_utts(1)[0], "greedy", 1)
        return [t.result() for t in tasks], b.batch_sizes

    hyps, sizes = asyncio.run(main())
    assert sizes == [1, 1, 1, 1] and len(hyps) == 4


def test_model_error_fails_only_that_batch():
    calls = []

    def flaky(feats, lens, method, beam_size):
        calls.append(method)
        if method == "beam":
            raise RuntimeError("boom")
        return [None] * feats.shape[0]

    async def main():
        b = DynamicBatcher(flaky, window_ms=50, max_batch_size=8)
        b.start()
        res = await asyncio.gather(
            b.submit(torch.zeros(4, F), "beam", 2), b.submit(torch.zeros(4, F), "greedy", 1), return_exceptions=True
        )
        after = await b.submit(torch.zeros(4, F), "greedy", 1)  # the collector survived
        await b.stop()
        return res, after

    (bad, good), after = asyncio.run(main())
    assert isinstance(bad, RuntimeError) and str(bad) == "boom"
    assert good is None and after is None


@pytest.mark.parametrize(
    "lengths, overhead, expected",
    [
        ([50, 50, 50], 100, [[0, 1, 2]]),
        ([10, 1000, 10, 10], 100, [[0, 2, 3], [1]]),  # one long utterance would pad three short ones to 1000
        ([10, 1000, 10, 10], 10_000, [[0, 2, 3, 1]]),  # a pass costs more than the padding: keep one batch
        ([30, 20, 10], 0, [[2], [1], [0]]),  # free passes: never pad
        ([7], 100, [[0]]),
    ],
)
def test_plan_sub_batches(lengths, overhead, expected):
    assert plan_sub_batches(lengths, overhead) == expected


def test_plan_sub_batches_minimises_padded_cost():
    lengths = [12, 90, 33, 34, 91, 15, 60, 88]
    runs = plan_sub_batches(lengths, 40)
    assert sorted(i for r in runs for i in r) == list(range(len(lengths)))

    def cost(rs):
        return sum(40 + len(r) * max(lengths[i] for i in r) for r in rs)

    one = [sorted(range(len(lengths)), key=lambda i: lengths[i])]
    assert cost(runs) < cost(one) and cost(runs) <= cost([[i] for i in range(len(lengths))])


def test_mixed_lengths_are_split_and_still_match_offline():
    model = StubModel(F, 31)
    g = torch.Generator().manual_seed(1)
    utts = [torch.randn(t, F, generator=g) for t in (8, 400, 9, 10)]

    async def main():
        b = DynamicBatcher(_decode_fn(model), window_ms=200, max_batch_size=8, overhead_frames=50)
        b.start()
        hyps = await asyncio.gather(*(b.submit(u, "greedy", 1) for u in utts))
        await b.stop()
        return hyps, b.batch_sizes

    hyps, sizes = asyncio.run(main())
    assert sizes == [3, 1]
    for u, h in zip(utts, hyps):
        assert h.tokens == offline_decode(model, u).tokens


def test_a_failing_request_does_not_fail_its_batch_mates():
    model = StubModel(F, 31)

    def fails_on_short(feats, lens, method, beam_size):
        if int(lens.min()) < 5:
            raise AssertionError("too few frames")
        with torch.inference_mode():
            return model.decode(feats, lens, method=method, beam_size=beam_size)

    utts = [torch.randn(t, F) for t in (20, 3, 21, 22)]

    async def main():
        b = DynamicBatcher(fails_on_short, window_ms=200, max_batch_size=8)
        b.start()
        res = await asyncio.gather(*(b.submit(u, "greedy", 1) for u in utts), return_exceptions=True)
        await b.stop()
        return res, b.batch_sizes

    res, sizes = asyncio.run(main())
    assert isinstance(res[1], AssertionError)
    for i in (0, 2, 3):
        assert res[i].tokens == offline_decode(model, utts[i]).tokens
    assert sizes == [4, 1, 1, 1, 1]  # the batch, then each request alone


def test_padded_frames_are_capped_for_memory():
    # Five 100-frame requests may not share one 500-frame batch under a 300-frame cap.
    runs = plan_sub_batches([100] * 5, overhead_frames=10_000, max_padded_frames=300)
    assert [len(r) for r in runs] in ([3, 2], [2, 3])
    assert plan_sub_batches([500], overhead_frames=0, max_padded_frames=300) == [[0]]  # a lone request always runs


def test_max_pending_sheds_load_and_recovers():
    model = StubModel(F, 31, delay_s=0.05)

    async def main():
        b = DynamicBatcher(_decode_fn(model), window_ms=0, max_batch_size=1, max_pending=2)
        b.start()
        first = [asyncio.ensure_future(b.submit(u, "greedy", 1)) for u in _utts(2)]
        await asyncio.sleep(0)  # both are in (one decoding, one queued)
        assert b.pending == 2
        with pytest.raises(Overloaded, match=r"2 requests queued or decoding, the limit serve.max_pending=2"):
            await b.submit(_utts(1)[0], "greedy", 1)
        await asyncio.gather(*first)
        assert b.pending == 0  # answered requests leave room again
        again = await b.submit(_utts(1)[0], "greedy", 1)
        await b.stop()
        return again

    assert asyncio.run(main()).tokens == offline_decode(model, _utts(1)[0]).tokens


def test_max_pending_must_be_positive():
    with pytest.raises(ValueError, match="max_pending >= 1"):
        DynamicBatcher(lambda *a: [], window_ms=0, max_batch_size=1, max_pending=0)
