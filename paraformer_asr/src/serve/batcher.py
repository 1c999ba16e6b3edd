"""Dynamic batching: concurrent requests share one padded forward pass.

A single collector task owns the model. It takes the first waiting request, then
keeps collecting for up to ``window_ms`` or until ``max_batch_size`` requests are
in hand, groups them by decode settings (greedy and each beam width are decoded
separately, since one ``model.decode`` call takes one method), pads each group
into (B, T_max, F) and decodes it in a worker thread. Each request awaits its own
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


@dataclass
class _Request:
    feats: torch.Tensor  # (T, F)
    key: tuple[str, int]  # (method, beam_size): requests are batched only with equal keys
    future: asyncio.Future = field(repr=False)


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

    def __init__(self, decode_fn: DecodeFn, *, window_ms: float, max_batch_size: int) -> None:
        if max_batch_size < 1 or window_ms < 0:
            raise ValueError(f"need max_batch_size >= 1 and window_ms >= 0, got {max_batch_size}, {window_ms}")
        self.decode_fn = decode_fn
        self.window_s = window_ms / 1000.0
        self.max_batch_size = max_batch_size
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
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Request(feats, (method, beam_size), future))
        return await future

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
        loop = asyncio.get_running_loop()
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
                feats, lens = pad_batch([r.feats for r in live])
                self.batch_sizes.append(len(live))
                try:
                    hyps = await loop.run_in_executor(self._executor, self.decode_fn, feats, lens, method, beam_size)
                    if len(hyps) != len(live):
                        raise RuntimeError(f"decode returned {len(hyps)} hypotheses for a batch of {len(live)}")
                except Exception as e:  # a model bug must fail these requests, not kill the collector
                    log.exception("decoding a batch of %d failed", len(live))
                    for r in live:
                        if not r.future.done():
                            r.future.set_exception(e)
                    continue
                for r, hyp in zip(live, hyps):
                    if not r.future.done():
                        r.future.set_result(hyp)
