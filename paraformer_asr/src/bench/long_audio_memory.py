"""Peak RSS of ``scripts/infer.py --audio`` on recordings of 1, 10, 30 ... minutes (flat memory check).

Each length runs in a fresh child process; ``os.wait4`` returns that child's own
peak resident set size (``ru_maxrss``), so the numbers do not mix. The recording is
espeak-ng sentences (or a synthetic voiced signal without espeak-ng) with 1 s pauses,
tiled to the length and written block by block. The checkpoint has the architecture
of ``--config`` with random weights and CMVN from the sentences: memory depends on the
shapes, not on what the weights learned (its transcripts are meaningless).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
import torch

from src.bench.bench_utils import machine_info
from src.data.audio import read_wav
from src.data.cmvn import GlobalCMVN
from src.data.features import Fbank
from src.data.tokenizer import CharTokenizer
from src.models import build_model
from src.utils.checkpoint import save_checkpoint
from src.utils.config import config_to_dict, load_config

SR = 16000
SENTENCES = ["the quick brown fox jumps over the lazy dog", "she sells sea shells by the sea shore",
             "a long recording is cut into segments at its pauses", "every segment is decoded in a batch"]


def speech_pattern(tmp: Path) -> np.ndarray:
    """A few seconds of speech + pauses to tile (float32, 16 kHz)."""
    pieces = []
    for i, text in enumerate(SENTENCES):
        if shutil.which("espeak-ng"):
            path = tmp / f"s{i}.wav"
            subprocess.run(["espeak-ng", "-w", str(path), text], check=True)
            pieces.append(read_wav(path, SR).numpy())
        else:
            t = np.arange(int(2.5 * SR)) / SR
            phase = 2 * np.pi * np.cumsum(120 + 60 * np.sin(2 * np.pi * 0.8 * t)) / SR
            pieces.append((0.2 * (np.sin(phase) + 0.5 * np.sin(3 * phase))).astype(np.float32))
        pieces.append(np.zeros(SR, dtype=np.float32))
    return np.concatenate(pieces)


def write_tiled(path: Path, pattern: np.ndarray, seconds: float) -> None:
    """16-bit WAV of ``pattern`` repeated to ``seconds``, written one pattern at a time."""
    total = int(seconds * SR)
    pcm = (np.clip(pattern, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        done = 0
        while done < total:
            chunk = pcm[: total - done]
            w.writeframes(chunk.tobytes())
            done += len(chunk)


def random_checkpoint(config: str, pattern: np.ndarray, path: Path) -> None:
    cfg = load_config(config)
    tok = CharTokenizer.from_alphabet()
    torch.manual_seed(0)
    model = build_model(cfg, tok.vocab_size, cfg.features.num_mel_bins)
    cmvn = GlobalCMVN(cfg.features.num_mel_bins)
    cmvn.accumulate(Fbank(cfg.features)(torch.from_numpy(pattern)))
    save_checkpoint(path, {"model": model.state_dict(), "config": config_to_dict(cfg), "tokenizer": tok.to_json(),
                           "cmvn": cmvn.to_dict()})


def run_child(cmd: list[str], env: dict[str, str]) -> tuple[int, float, float, str]:
    """(exit code, peak RSS MiB, wall seconds, stdout) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024.0, time.perf_counter() - start, out  # ru_maxrss is KiB on Linux


def measure(minutes: list[float], config: str, threads: int) -> dict[str, Any]:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        pattern = speech_pattern(tmp)
        ckpt = tmp / "ckpt.pt"
        random_checkpoint(config, pattern, ckpt)
        for m in minutes:
            wav = tmp / f"{m:g}min.wav"
            write_tiled(wav, pattern, 60.0 * m)
            out = tmp / f"{m:g}min.json"
            cmd = [sys.executable, str(root / "scripts" / "infer.py"), "--checkpoint", str(ckpt), "--audio", str(wav),
                   "--output", str(out), "--threads", str(threads)]
            rc, rss, wall, stdout = run_child(cmd, env)
            if rc != 0:
                raise RuntimeError(f"infer.py failed on {m} min (exit {rc}):\n{stdout[-2000:]}")
            item = json.loads(out.read_text())["files"][0]
            rows.append({"minutes": m, "file_mib": round(wav.stat().st_size / 2**20, 1), "peak_rss_mib": round(rss, 1),
                         "segments": len(item.get("segments") or []), "wall_s": round(wall, 1),
                         "rtf": item["rtf"]})
            print(json.dumps(rows[-1]), flush=True)
            wav.unlink()
    return {"config": config, "machine": machine_info(torch.device("cpu")), "rows": rows}
