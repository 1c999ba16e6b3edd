"""Suite-wide settings: tests use tiny tensors, where one intra-op thread is fastest.

torch's default thread pool (one thread per core) costs more in synchronisation than it
gains on tensors this small, and on a shared 2-core machine it made tiny-model tests up to
10x slower. Subprocesses that a test starts (CLI, DDP) choose their own thread count.
"""

import torch

torch.set_num_threads(1)
