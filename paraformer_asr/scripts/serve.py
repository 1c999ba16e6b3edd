"""Serve a checkpoint over HTTP: GET /health, POST /transcribe, POST /transcribe/audio (docs/SERVICE.md).

Example:
    python scripts/serve.py --checkpoint runs/my_first_run/checkpoints/best.pt --port 8000
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python scripts/serve.py` from the project folder

import uvicorn  # noqa: E402

from src.serve.app import create_app, serve_config_with  # noqa: E402
from src.serve.audio_input import load_cmvn  # noqa: E402
from src.training.inference import load_for_inference  # noqa: E402
from src.training.evaluate import add_lm_arguments, add_vtln_arguments, set_lm_config, vtln_option  # noqa: E402
from src.utils.amp import parse_amp, resolve_amp  # noqa: E402
from src.utils.checkpoint import CheckpointError  # noqa: E402
from src.utils.config import ServeConfig  # noqa: E402
from src.utils.tensor_utils import resolve_device  # noqa: E402


def main() -> int:
    d = ServeConfig  # flags left unset keep the checkpoint's serve.* value (these defaults unless trained otherwise)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="e.g. runs/my_first_run/checkpoints/best.pt")
    parser.add_argument("--host", help=f"interface to listen on (default: serve.host, {d.host}; no authentication, so keep it local)")
    parser.add_argument("--port", type=int, help=f"default: serve.port, {d.port}")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto = CUDA if available")
    parser.add_argument("--max-frames", type=int, help=f"largest T per request (default: serve.max_frames, {d.max_frames})")
    parser.add_argument("--max-body-bytes", type=int, help=f"default: serve.max_body_bytes, {d.max_body_bytes}")
    parser.add_argument("--max-audio-seconds", type=float, help=f"default: serve.max_audio_seconds, {d.max_audio_seconds}")
    parser.add_argument("--max-beam-size", type=int, help=f"default: serve.max_beam_size, {d.max_beam_size}")
    parser.add_argument(
        "--max-pending", type=int,
        help=f"most requests queued or decoding; more get 503 + Retry-After (default: serve.max_pending, {d.max_pending})",
    )  # fmt: skip
    parser.add_argument("--batch-window-ms", type=float, help=f"default: serve.batch_window_ms, {d.batch_window_ms}")
    parser.add_argument("--max-batch-size", type=int, help=f"default: serve.max_batch_size, {d.max_batch_size}")
    parser.add_argument(
        "--batch-overhead-frames", type=int,
        help=f"fixed cost of one forward pass, in frames; decides length-sorted splits (default: serve.batch_overhead_frames, {d.batch_overhead_frames})",
    )  # fmt: skip
    parser.add_argument("--no-batching", action="store_true", help="decode one request per forward pass (baseline)")
    parser.add_argument("--no-long-audio", action="store_true",
                        help="refuse audio over --max-audio-seconds with 413 instead of splitting it with the VAD")
    parser.add_argument("--torch-threads", type=int, help=f"intra-op threads (default: serve.torch_threads, {d.torch_threads} = torch's)")
    parser.add_argument("--amp", default="auto", choices=["auto", "true", "false"],
                        help="bf16 autocast of the decoding: auto = where the CPU/GPU has native bf16 (batches "
                             "measured ~2x faster on an AMX CPU, docs/BENCHMARKS.md); false = fp32")
    add_lm_arguments(parser)
    add_vtln_arguments(parser)
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    device = resolve_device(args.device)
    try:
        model, tokenizer, cfg = load_for_inference(args.checkpoint, device)
        cmvn = load_cmvn(args.checkpoint)
    except CheckpointError as e:
        print(f"cannot load checkpoint: {e}", file=sys.stderr)
        return 2
    set_lm_config(cfg, args)
    scfg = serve_config_with(
        cfg.serve,
        host=args.host,
        port=args.port,
        max_frames=args.max_frames,
        max_body_bytes=args.max_body_bytes,
        max_audio_seconds=args.max_audio_seconds,
        max_beam_size=args.max_beam_size,
        max_pending=args.max_pending,
        batch_window_ms=args.batch_window_ms,
        max_batch_size=args.max_batch_size,
        batch_overhead_frames=args.batch_overhead_frames,
        batching=False if args.no_batching else None,
        long_audio=False if args.no_long_audio else None,
        torch_threads=args.torch_threads,
    )
    try:
        vtln = vtln_option(cfg, args.vtln_warps, cmvn.to_dict() if cmvn is not None else None).get("vtln")
        app = create_app(model, tokenizer, cfg, device, cmvn=cmvn, serve_cfg=scfg,
                         amp=resolve_amp(parse_amp(args.amp), device), vtln=vtln)
    except (ValueError, FileNotFoundError) as e:
        print(f"bad service setting: {e}", file=sys.stderr)
        return 2
    # Our middleware logs one line per request with its latency, so uvicorn's access log is off.
    # uvicorn handles SIGTERM/SIGINT: it stops accepting, lets in-flight requests finish,
    # then runs the app's lifespan exit, which drains the batcher.
    uvicorn.run(app, host=scfg.host, port=scfg.port, log_level=args.log_level, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
