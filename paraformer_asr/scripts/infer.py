"""Transcribe with a trained checkpoint: WAV audio (--audio), toy text -> synthetic features, or given features.

    python scripts/infer.py --checkpoint runs/latest/checkpoints/best.pt --audio speech.wav
    python scripts/infer.py --checkpoint ... --audio data/speech/test.jsonl --output out.json --decode-method beam
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python scripts/infer.py` from the project folder

import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from src.data.audio import AudioError  # noqa: E402
from src.data.batching import feature_dim  # noqa: E402
from src.data.manifest import ManifestError, resolve_audio_inputs  # noqa: E402
from src.data.toy_seq2seq import ToySeq2Seq, normalize_text  # noqa: E402
from src.decode.methods import DECODE_METHODS, GREEDY_METHODS  # noqa: E402
from src.training.evaluate import add_lm_arguments, add_vtln_arguments, cli_decode_options, lm_summary, vtln_option  # noqa: E402
from src.training.inference import load_features, load_for_inference  # noqa: E402
from src.training.long_form import LongFormTranscriber  # noqa: E402
from src.training.transcribe import (  # noqa: E402
    AudioInputError,
    AudioTranscriber,
    check_audio_checkpoint,
    check_toy_checkpoint,
    format_timestamps,
)
from src.utils.amp import autocast_model, parse_amp, resolve_amp  # noqa: E402
from src.utils.checkpoint import CheckpointError, load_checkpoint  # noqa: E402
from src.utils.logging import resolve_run_path  # noqa: E402
from src.utils.tensor_utils import resolve_device  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--audio", help="a WAV file, a folder of WAVs or a .jsonl manifest (audio checkpoints)")
    source.add_argument("--text", help='synthesise toy features for this text, e.g. "hello world"')
    source.add_argument("--input-file", help="one text per line; each is synthesised and transcribed")
    source.add_argument("--interactive", action="store_true", help="read texts from stdin until EOF")
    source.add_argument("--features", help="(T, F) features: .npy, or .json ({'features': [[...]]} or a list of lists)")
    parser.add_argument("--output-file", "--output", dest="output_file",
                        help="--audio: JSON with text, tokens, timestamps, duration and rtf per file; otherwise one hypothesis per line")
    parser.add_argument("--max-audio-seconds", type=float,
                        help="--audio: per-segment limit; longer files are split by the VAD (vad.* settings) into segments "
                             "of at most vad.max_segment_seconds (default: serve.max_audio_seconds of the checkpoint)")
    parser.add_argument("--dump-features", help="with --text: write {'features': [[...]]} (a service request body)")
    parser.add_argument("--decode-method", choices=DECODE_METHODS,
                        help="default: decode.method of the checkpoint; ctc_greedy / ctc_beam read the CTC head alone")
    parser.add_argument("--beam-size", type=int, help="default: decode.beam_size of the checkpoint")
    add_lm_arguments(parser)
    add_vtln_arguments(parser)
    parser.add_argument("--timestamps", action="store_true", help="print each token's time (models that give frames)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic features' durations and noise")
    parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU intra-op threads (0 = torch's default). One utterance at a time is a chain of small "
                             "ops, where more threads mostly add synchronisation: on a busy 2-core machine 2 threads "
                             "were 10-20x slower than 1")
    parser.add_argument("--amp", default="false", choices=["auto", "true", "false"],
                        help="bf16 autocast (auto = where the CPU/GPU has native bf16). Off by default here: one "
                             "utterance at a time measured ~10%% slower in bf16 than fp32 on an AMX CPU, where "
                             "batched decoding gains ~2x (docs/BENCHMARKS.md)")
    args = parser.parse_args()
    if args.threads < 0:
        parser.error(f"--threads {args.threads}: use 0 (torch's default) or a positive count")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.dump_features and not args.text:
        parser.error("--dump-features needs --text")
    if args.vtln_warps and not args.audio:
        parser.error("--vtln-warps warps the spectrum of audio: it needs --audio")

    device = resolve_device(args.device)
    amp = resolve_amp(parse_amp(args.amp), device)
    if amp.dtype is not None:
        print(f"amp={amp.describe()}", file=sys.stderr)
    try:
        model, tokenizer, cfg = load_for_inference(args.checkpoint, device)
    except CheckpointError as e:
        print(f"cannot load checkpoint: {e}", file=sys.stderr)
        return 2
    try:
        opts = cli_decode_options(cfg, args, model, args.decode_method or cfg.decode.method,
                                  args.beam_size or cfg.decode.beam_size, tokenizer)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: --decode-method / --lm: {e}", file=sys.stderr)
        return 2
    if args.audio:
        # Only the model runs under autocast: resampling and fbank stay fp32.
        return transcribe_audio(args, autocast_model(model, amp), tokenizer, cfg, opts, device)
    if args.text is not None or args.input_file or args.interactive:
        try:
            check_toy_checkpoint(cfg, args.checkpoint)
        except AudioInputError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    # Seconds per subsampled frame, for timestamps.
    frame_seconds = getattr(model, "subsampling", cfg.model.subsampling) * cfg.features.frame_shift_ms / 1000.0

    def transcribe(feats: torch.Tensor) -> str:
        """feats (T, F) -> hypothesis text (and timestamps when asked)."""
        with torch.inference_mode(), amp.autocast():
            hyp = model.decode(feats[None].to(device), torch.tensor([feats.shape[0]], device=device), **opts)[0]
        text = tokenizer.decode(hyp.tokens)
        if args.timestamps:
            if hyp.token_frames is None:
                print(f"  (no timestamps: {cfg.model.name} does not give token frames)")
            else:
                stamps = [f"{tokenizer.decode([t]) or '?'}@{f * frame_seconds:.2f}s"
                          for t, f in zip(hyp.tokens, hyp.token_frames)]
                print("  timestamps: " + " ".join(stamps))
        return text

    generator = ToySeq2Seq(cfg.data, split="test", tokenizer=tokenizer, subsampling=cfg.model.subsampling)
    rng = np.random.default_rng(args.seed)

    def from_text(raw: str) -> tuple[str, str] | None:
        ref = normalize_text(raw)
        if not ref:
            print(f"skipping {raw!r}: no characters of the toy alphabet (a-z, space, apostrophe)", file=sys.stderr)
            return None
        hyp = transcribe(generator.synthesize(ref, rng))
        print(f"ref: {ref}\nhyp: {hyp}" + ("" if hyp == ref else "   (differs)"))
        return ref, hyp

    hyps: list[str] = []
    if args.text is not None:
        ref = normalize_text(args.text)
        if not ref:
            print(f"--text {args.text!r} has no characters of the toy alphabet (a-z, space, apostrophe)", file=sys.stderr)
            return 2
        feats = generator.synthesize(ref, rng)  # (T, F)
        if args.dump_features:
            Path(args.dump_features).write_text(json.dumps({"features": feats.tolist()}))
            print(f"wrote {args.dump_features} ({feats.shape[0]} frames x {feats.shape[1]})")
        hyp = transcribe(feats)
        print(f"ref: {ref}\nhyp: {hyp}")
        hyps.append(hyp)
    elif args.features:
        try:
            feats = load_features(args.features, feature_dim(cfg))
        except (ValueError, OSError) as e:
            print(f"cannot read features: {e}", file=sys.stderr)
            return 2
        hyp = transcribe(feats)
        print(f"hyp: {hyp}")
        hyps.append(hyp)
    else:
        lines = Path(args.input_file).read_text().splitlines() if args.input_file else sys.stdin
        if args.interactive and sys.stdin.isatty():
            print("type a sentence per line; Ctrl-D to quit", file=sys.stderr)
        for line in lines:
            if line.strip() and (pair := from_text(line)):
                hyps.append(pair[1])
    if args.output_file:
        Path(args.output_file).write_text("".join(h + "\n" for h in hyps))
        print(f"wrote {len(hyps)} predictions to {args.output_file}")
    return 0


def transcribe_audio(args: argparse.Namespace, model: torch.nn.Module, tokenizer, cfg, opts: dict, device: torch.device) -> int:
    """--audio: each file -> transcript, per-token timestamps (seconds) and real-time factor; JSON with --output."""
    cmvn_state = load_checkpoint(resolve_run_path(args.checkpoint)).get("cmvn")
    limit = args.max_audio_seconds if args.max_audio_seconds is not None else cfg.serve.max_audio_seconds
    try:
        opts = opts | vtln_option(cfg, args.vtln_warps, cmvn_state)
    except ValueError as e:
        print(f"error: --vtln-warps: {e}", file=sys.stderr)
        return 2
    try:
        check_audio_checkpoint(cfg, args.checkpoint, cmvn_state)
        inputs = resolve_audio_inputs(args.audio)
        transcriber = AudioTranscriber(model, tokenizer, cfg, cmvn_state=cmvn_state, decode_opts=opts,
                                       max_audio_seconds=limit, device=device)
        # Longer than the per-segment limit: VAD segments decoded in batches (src/training/long_form.py).
        long_form = LongFormTranscriber(transcriber, cfg.vad)
    except (AudioInputError, ManifestError, AudioError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    results = []
    start = time.perf_counter()
    for path, ref in inputs:
        try:
            t = long_form(path, ref)
        except (AudioInputError, AudioError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        results.append(t)
        print(f"{path}  ({t.duration:.2f} s, rtf {t.rtf:.4f})")
        if ref is not None:
            print(f"  ref: {ref}")
        print(f"  hyp: {t.text}")
        if "segments" in t.extra:  # a long recording: one line per VAD segment
            print(f"  {len(t.extra['segments'])} speech segment(s) (VAD), times in the whole file:")
            for seg in t.extra["segments"]:
                print(f"  [{seg['start']:8.2f} s - {seg['end']:8.2f} s] {seg['text']}")
            continue
        print(f"  timestamps (s, start of the CIF fire frame): {format_timestamps(t)}")
    wall = time.perf_counter() - start
    audio = sum(t.duration for t in results)
    rtf = sum(t.seconds for t in results) / max(audio, 1e-9)
    print(f"{len(results)} file(s), {audio:.2f} s of audio in {wall:.2f} s: real-time factor {rtf:.4f} "
          f"({opts['method']}, {torch.get_num_threads()} thread(s), {device})")
    if args.output_file:
        out = {"checkpoint": str(args.checkpoint), "decode_method": opts["method"],
               "beam_size": None if opts["method"] in GREEDY_METHODS else opts["beam_size"], "lm": lm_summary(cfg, opts),
               "vtln_warps": args.vtln_warps, "seconds_per_encoder_frame": transcriber.seconds_per_frame,
               "timestamp": "start of the CIF fire frame",
               "num_files": len(results), "audio_seconds": round(audio, 4), "rtf": round(rtf, 5),
               "files": [t.to_dict() for t in results]}
        Path(args.output_file).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output_file).write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {args.output_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
