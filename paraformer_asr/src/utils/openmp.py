"""OpenMP's wait policy: whether torch's idle CPU threads spin or sleep. Imports no torch.

Between two parallel regions torch's OpenMP threads (GNU libgomp in the pip wheels) spin on the
core for a while, waiting for the next region. That is the fastest choice when nothing else
wants the cores. It is the wrong one when a DataLoader worker shares them: the spinning threads
take the worker's core, and when the worker does run, it pre-empts a model thread that the
others then spin-wait for at the region's barrier. With ``OMP_WAIT_POLICY=PASSIVE`` idle threads
sleep instead, so the model can use every core and the worker fills the gaps.

Measured on the robust recipe (configs/ctc_speech_robust.yaml, one worker; 2-vCPU AMD EPYC,
fp32; steps 10-70 of 70-step probes, docs/ABLATIONS.md): 1 model thread 0.83-0.87 s/step,
2 spinning threads 0.73-0.75, 2 sleeping threads 0.63. Without workers (paraformer_base.yaml,
2 threads) sleeping costs a little instead: 0.215 against 0.20-0.21 s/step.

libgomp reads the variable once, when torch loads it, so the choice has to be made before the
first ``import torch``: scripts/train.py calls :func:`prefer_passive_waits` first thing.
"""

from __future__ import annotations

import os
import sys

VARIABLE = "OMP_WAIT_POLICY"


def waits_passively() -> bool:
    """True when OpenMP's idle threads sleep (``OMP_WAIT_POLICY=PASSIVE`` in the environment)."""
    return os.environ.get(VARIABLE, "").strip().upper() == "PASSIVE"


def prefer_passive_waits(num_workers: int) -> bool:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` for a process whose ``num_workers`` data workers share its cores.

    Only where it pays (``num_workers > 0``) and only while torch is not loaded yet; a policy the
    user set is kept. Returns :func:`waits_passively`, the policy the process will run with.
    """
    if num_workers > 0 and "torch" not in sys.modules:
        os.environ.setdefault(VARIABLE, "PASSIVE")
    return waits_passively()
