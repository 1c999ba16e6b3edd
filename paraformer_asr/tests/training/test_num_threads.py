"""training.num_threads: the CPU's cores shared between the model's threads and the data workers."""

import pytest
import torch

from src.training.trainer import choose_num_threads
from src.utils.config import ConfigError

CPU = torch.device("cpu")


@pytest.mark.parametrize("cores,workers,procs,expected", [
    (2, 1, 1, 1),   # the robust recipe on 2 cores: one core each for the model and the worker
    (2, 0, 1, 2),   # no workers: every core to the model
    (8, 2, 1, 6),
    (8, 1, 2, 3),   # two DDP processes on 8 cores: 4 each, minus a worker each
    (1, 3, 1, 1),   # never below one thread
])
def test_auto_gives_the_model_the_cores_the_workers_leave(cores, workers, procs, expected):
    threads, why = choose_num_threads("auto", CPU, workers, cores=cores, processes_per_node=procs)
    assert threads == expected
    assert f"{cores // procs} cores - {workers} data workers" in why


def test_an_explicit_count_wins_and_cuda_keeps_torchs_default():
    assert choose_num_threads(3, CPU, 1, cores=2) == (3, "training.num_threads")
    assert choose_num_threads("auto", torch.device("cuda"), 4)[0] is None


@pytest.mark.parametrize("bad", [0, -2, True])
def test_a_non_positive_count_is_a_config_error(bad):
    with pytest.raises(ConfigError, match=f"training.num_threads={bad} must be a positive integer or auto"):
        choose_num_threads(bad, CPU, 0)


def test_auto_starts_from_torchs_default_thread_count(monkeypatch):
    """With no workers auto is torch's own default (physical cores or OMP_NUM_THREADS), unchanged."""
    monkeypatch.setattr("src.training.trainer.TORCH_DEFAULT_THREADS", 3)
    assert choose_num_threads("auto", CPU, 1)[0] == 2
    assert choose_num_threads("auto", CPU, 0)[0] == 3


@pytest.mark.parametrize("cores,workers,procs,expected", [
    (2, 1, 1, 2),   # the robust recipe on 2 cores: the worker fills the model's gaps
    (8, 1, 2, 4),   # two DDP processes on 8 cores: 4 each
])
def test_auto_with_sleeping_openmp_threads_gives_the_model_the_whole_share(cores, workers, procs, expected):
    threads, why = choose_num_threads("auto", CPU, workers, cores=cores, processes_per_node=procs, passive_waits=True)
    assert threads == expected
    assert f"{cores // procs} cores shared with {workers} data workers, OMP_WAIT_POLICY=PASSIVE" in why


def test_without_workers_the_wait_policy_changes_nothing():
    assert choose_num_threads("auto", CPU, 0, cores=2, passive_waits=True) == \
        choose_num_threads("auto", CPU, 0, cores=2, passive_waits=False)


def test_auto_reads_the_wait_policy_torch_loaded_with(monkeypatch):
    monkeypatch.setattr("src.training.trainer.OPENMP_WAITS_PASSIVELY", True)
    assert choose_num_threads("auto", CPU, 1, cores=2)[0] == 2
    monkeypatch.setattr("src.training.trainer.OPENMP_WAITS_PASSIVELY", False)
    assert choose_num_threads("auto", CPU, 1, cores=2)[0] == 1
