"""Dynamic batching: concurrent requests share one padded forward pass.

A single collector task owns the model. It takes the first waiting request, then
keeps collecting for up to ``window_ms`` or until ``max_batch_size`` requests are
in hand, groups them by decode settings (greedy and each beam width are decoded
separately, since one ``model.decode`` call takes one method), sorts each group
by length and splits it where padding would waste more than a forward pass costs
(:func:`plan_sub_batches`), pads each part into (B, T_max, F) and decodes it in
a worker thread. Each request awaits its own
future, so the event loop stays free to accept and parse requests meanwhile.

Why it helps: on a CPU a forward pass over B utterances costs far less than B
passes (the matrix products get larger and better vectorised, and Python overhead
is paid once). While one batch decodes, new requests queue up, so under load the
next batch fills without waiting for the window at all. Why results do not change:
the models mask padding everywhere (encoder attention, CIF, decoder), so batch
decoding equals per-utterance decoding by contract; tests/serve checks it.

With ``max_batch_size=1`` and ``window_ms=0`` (``--no-batching``) the same single
worker decodes one request per pass, which is the baseline for the speed-up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import torch

log = logging.getLogger("paraformer_asr.serve")

# decode_fn(feats (B, T, F), feat_lens (B,), method, beam_size) -> one hypothesis per row
DecodeFn = Callable[[torch.Tensor, torch.Tensor, str, int], Sequence[Any]]


class ShuttingDown(RuntimeError):
    """Raised by :meth:`DynamicBatcher.submit` once shutdown has begun."""


class Overloaded(RuntimeError):
    """Raised by :meth:`DynamicBatcher.submit` when ``max_pending`` requests are already in."""


@dataclass
class _Request:
    feats: torch.Tensor  # (T, F)
    key: tuple[str, int]  # (method, beam_size): requests are batched only with equal keys
    future: asyncio.Future = field(repr=False)


def plan_sub_batches(
    lengths: Sequence[int], overhead_frames: float, max_padded_frames: float = float("inf")
) -> list[list[int]]:
    """Split requests into length-sorted sub-batches that minimise the padded compute.

    A padded batch costs about ``overhead + B * T_max`` frames of work (the fixed cost
    of one forward pass, then every row padded to the longest). Toy utterances range
    over 5x in length, so one mixed batch of 16 computes almost twice the real frames.
    After sorting by length, the best split into contiguous runs is a small dynamic
    programme: best[j] = min_i best[i] + overhead + (j - i) * L[j-1], O(n^2) for n <= 64.
    Runs of more than one request whose padded size B * T_max exceeds
    ``max_padded_frames`` are not allowed, which bounds a batch's activation memory
    by that of the largest single request the server accepts.

    Returns:
        lists of indices into ``lengths``, each sorted by length.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    sorted_lens = [lengths[i] for i in order]
    n = len(order)
    best = [0.0] + [float("inf")] * n
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j):
            padded = (j - i) * sorted_lens[j - 1]
            if j - i > 1 and padded > max_padded_frames:
                continue
            cost = best[i] + overhead_frames + padded
            if cost < best[j]:
                best[j], cut[j] = cost, i
    runs, j = [], n
    while j > 0:
        runs.append(order[cut[j] : j])
        j = cut[j]
    return runs[::-1]


def pad_batch(feats: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """List of (T_i, F) -> zero-padded (B, T_max, F) and lengths (B,)."""
    lens = torch.tensor([f.shape[0] for f in feats], dtype=torch.int64)  # (B,)
    out = feats[0].new_zeros(len(feats), int(lens.max()), feats[0].shape[1])  # (B, T_max, F)
    for i, f in enumerate(feats):
        out[i, : f.shape[0]] = f
    return out, lens


class DynamicBatcher:
    """Collects concurrent :meth:`submit` calls into batches for ``decode_fn``.

    Usage (inside a running event loop)::

        batcher = DynamicBatcher(decode_fn, window_ms=10, max_batch_size=16)
        batcher.start()
        hyp = await batcher.submit(feats, "greedy", 1)
        await batcher.stop()  # decodes everything already queued, then returns
    """

    def __init__(
        self,
        decode_fn: DecodeFn,
        *,
        window_ms: float,
        max_batch_size: int,
        overhead_frames: float = float("inf"),
        max_padded_frames: float = float("inf"),
        max_pending: int | None = None,
    ) -> None:
        """``overhead_frames`` and ``max_padded_frames``: see :func:`plan_sub_batches`.
        The defaults (inf) never split a collected group. ``max_pending``: most requests
        queued or decoding at once; one more gets :class:`Overloaded` (None: no cap)."""
        if max_batch_size < 1 or window_ms < 0 or overhead_frames < 0 or (max_pending is not None and max_pending < 1):
            raise ValueError(
                "need max_batch_size >= 1, window_ms >= 0, overhead_frames >= 0 and max_pending >= 1, "
                f"got {max_batch_size}, {window_ms}, {overhead_frames}, {max_pending}"
            )
        self.decode_fn = decode_fn
        self.window_s = window_ms / 1000.0
        self.max_batch_size = max_batch_size
        self.overhead_frames = overhead_frames
        self.max_padded_frames = max_padded_frames
        self.max_pending = max_pending
        self.pending = 0  # requests submitted and not yet answered
        # One worker thread: the model runs one batch at a time (torch already uses
        # several cores inside each op), and the event loop never runs the model.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="asr-decode")
        self._queue: asyncio.Queue[_Request | None] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self._closing = False
        self.batch_sizes: list[int] = []  # sizes of the decode calls so far (for tests and stats)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="asr-batcher")

    async def submit(self, feats: torch.Tensor, method: str, beam_size: int) -> Any:
        """Queue one utterance (T, F) and wait for its hypothesis."""
        if self._closing or self._task is None:
            raise ShuttingDown("the server is shutting down and accepts no new requests; retry on another instance")
        if self.max_pending is not None and self.pending >= self.max_pending:
            # Shed load at the door: a longer queue would only raise every client's latency
            # (and the server's memory) without raising throughput.
            raise Overloaded(
                f"the server is at capacity ({self.pending} requests queued or decoding, the limit "
                f"serve.max_pending={self.max_pending}); retry shortly"
            )
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Request(feats, (method, beam_size), future))
        self.pending += 1
        try:
            return await future
        finally:
            self.pending -= 1

    async def stop(self) -> None:
        """Refuse new work, finish every queued request, then release the worker thread."""
        self._closing = True
        if self._task is not None:
            self._queue.put_nowait(None)  # sentinel after everything already queued
            await self._task
        self._executor.shutdown(wait=True)

    async def _collect(self, first: _Request) -> tuple[list[_Request], bool]:
        """``first`` plus whatever arrives within the window; True if the sentinel was seen."""
        batch = [first]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.window_s
        while len(batch) < self.max_batch_size:
            try:
                # Requests that queued up during the previous decode are taken at once.
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    async def _run(self) -> None:
        stop = False
        while not stop:
            first = await self._queue.get()
            if first is None:
                break
            batch, stop = await self._collect(first)
            groups: dict[tuple[str, int], list[_Request]] = {}
            for req in batch:
                groups.setdefault(req.key, []).append(req)
            for (method, beam_size), reqs in groups.items():
                live = [r for r in reqs if not r.future.done()]  # a client may have gone away
                if not live:
                    continue
                lengths = [r.feats.shape[0] for r in live]
                for run in plan_sub_batches(lengths, self.overhead_frames, self.max_padded_frames):
                    await self._decode([live[i] for i in run], method, beam_size)

    async def _decode(self, reqs: list[_Request], method: str, beam_size: int) -> None:
        """One padded forward pass in the worker thread; resolves each request's future."""
        feats, lens = pad_batch([r.feats for r in reqs])  # (B, T_max, F), (B,)
        self.batch_sizes.append(len(reqs))
        try:
            hyps = await asyncio.get_running_loop().run_in_executor(
                self._executor, self.decode_fn, feats, lens, method, beam_size
            )
            if len(hyps) != len(reqs):
                raise RuntimeError(f"decode returned {len(hyps)} hypotheses for a batch of {len(reqs)}")
        except Exception as e:  # a model bug must fail these requests, not kill the collector
            if len(reqs) > 1:
                # One bad utterance must not fail the requests it happened to share a batch
                # with: retry each alone, so only the culprit gets the error.
                log.warning("decoding a batch of %d failed (%s); retrying one by one", len(reqs), e)
                for r in reqs:
                    await self._decode([r], method, beam_size)
                return
            log.exception("decoding a request of %d frames failed", reqs[0].feats.shape[0])
            if not reqs[0].future.done():
                reqs[0].future.set_exception(e)
            return
        for r, hyp in zip(reqs, hyps):
            if not r.future.done():
                r.future.set_result(hyp)
