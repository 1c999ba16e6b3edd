"""Transcribe with a trained checkpoint: toy text -> synthetic features -> hypothesis, or given features."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python scripts/infer.py` from the project folder

import numpy as np  # noqa: E402
import torch  # noqa: E402

from src.data.batching import feature_dim  # noqa: E402
from src.data.toy_seq2seq import ToySeq2Seq, normalize_text  # noqa: E402
from src.training.evaluate import decode_options  # noqa: E402
from src.training.inference import load_features, load_for_inference  # noqa: E402
from src.utils.checkpoint import CheckpointError  # noqa: E402
from src.utils.tensor_utils import resolve_device  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help='synthesise toy features for this text, e.g. "hello world"')
    source.add_argument("--input-file", help="one text per line; each is synthesised and transcribed")
    source.add_argument("--interactive", action="store_true", help="read texts from stdin until EOF")
    source.add_argument("--features", help="(T, F) features: .npy, or .json ({'features': [[...]]} or a list of lists)")
    parser.add_argument("--output-file", "--output", dest="output_file", help="write one hypothesis per line")
    parser.add_argument("--dump-features", help="with --text: write {'features': [[...]]} (a service request body)")
    parser.add_argument("--decode-method", choices=["greedy", "beam"], help="default: decode.method of the checkpoint")
    parser.add_argument("--beam-size", type=int, help="default: decode.beam_size of the checkpoint")
    parser.add_argument("--timestamps", action="store_true", help="print each token's time (models that give frames)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic features' durations and noise")
    parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args()
    if args.dump_features and not args.text:
        parser.error("--dump-features needs --text")

    device = resolve_device(args.device)
    try:
        model, tokenizer, cfg = load_for_inference(args.checkpoint, device)
    except CheckpointError as e:
        print(f"cannot load checkpoint: {e}", file=sys.stderr)
        return 2
    opts = decode_options(cfg, args.decode_method or cfg.decode.method, args.beam_size or cfg.decode.beam_size)
    # Seconds per subsampled frame, for timestamps.
    frame_seconds = getattr(model, "subsampling", cfg.model.subsampling) * cfg.features.frame_shift_ms / 1000.0

    def transcribe(feats: torch.Tensor) -> str:
        """feats (T, F) -> hypothesis text (and timestamps when asked)."""
        with torch.inference_mode():
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


if __name__ == "__main__":
    sys.exit(main())
