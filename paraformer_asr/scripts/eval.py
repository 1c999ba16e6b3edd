"""Evaluate a checkpoint: CER, WER, token and sequence accuracy (and the real-time factor on audio) as JSON.

Without --manifest it scores the test (or val) split of the data the checkpoint was trained on;
with --manifest it scores any JSONL manifest using the checkpoint's features and CMVN.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python scripts/eval.py` from the project folder

import torch  # noqa: E402

from src.data.batching import build_dataloaders, feature_dim  # noqa: E402
from src.data.audio import AudioError  # noqa: E402
from src.data.manifest import ManifestError  # noqa: E402
from src.decode.methods import DECODE_METHODS, GREEDY_METHODS  # noqa: E402
from src.metrics.grouped import format_table  # noqa: E402
from src.training.evaluate import (  # noqa: E402
    add_lm_arguments,
    add_vtln_arguments,
    cli_decode_options,
    evaluate,
    group_by_fields,
    lm_summary,
    manifest_audio_seconds,
    manifest_loader,
    vtln_option,
)
from src.training.inference import load_for_inference  # noqa: E402
from src.training.transcribe import AudioInputError, check_audio_checkpoint  # noqa: E402
from src.utils.amp import autocast_model, parse_amp, resolve_amp  # noqa: E402
from src.utils.checkpoint import CheckpointError, load_checkpoint  # noqa: E402
from src.utils.logging import resolve_run_path  # noqa: E402
from src.utils.tensor_utils import resolve_device  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", required=True, help="e.g. runs/my_first_run/checkpoints/best.pt")
    parser.add_argument("--decode-method", choices=DECODE_METHODS,
                        help="default: decode.method of the checkpoint; ctc_greedy / ctc_beam read the CTC head alone")
    parser.add_argument("--beam-size", type=int, help="default: decode.beam_size of the checkpoint")
    add_lm_arguments(parser)
    parser.add_argument("--split", choices=["test", "val"], default="test", help="which split of the training data to score")
    parser.add_argument("--manifest", help="score this JSONL manifest instead (audio checkpoints), e.g. data/speech/test.jsonl")
    parser.add_argument("--max-audio-seconds", type=float,
                        help="--manifest: refuse longer files (default: serve.max_audio_seconds of the checkpoint)")
    parser.add_argument("--batch-size", type=int, help="default: training.batch_size of the checkpoint")
    parser.add_argument("--max-utterances", type=int, default=0, help="score only the first N (0 = all)")
    parser.add_argument("--detailed", action="store_true", help="add per-utterance ref/hyp and the worst errors")
    parser.add_argument("--group-by", action="append", default=[], metavar="KEY[:EDGES]",
                        help="also score per value of this manifest field (repeatable), e.g. snr_db, engine, "
                             "lead_silence_s:0.1,0.3; numbers are binned (SNR: clean/>=30/20-30/10-20/<10 dB); "
                             "the table goes to stderr, the scores into the JSON's 'groups'")
    parser.add_argument("--output", help="write the JSON here (it is always printed)")
    parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    add_vtln_arguments(parser)
    parser.add_argument("--amp", default="auto", choices=["auto", "true", "false"],
                        help="bf16 autocast: auto = where the CPU/GPU has native bf16 (batched decoding "
                             "measured ~2x faster on an AMX CPU, docs/BENCHMARKS.md); false = fp32")
    args = parser.parse_args()

    device = resolve_device(args.device)
    amp = resolve_amp(parse_amp(args.amp), device)
    try:
        model, tokenizer, cfg = load_for_inference(args.checkpoint, device)
    except CheckpointError as e:
        print(f"cannot load checkpoint: {e}", file=sys.stderr)
        return 2
    method = args.decode_method or cfg.decode.method
    beam_size = args.beam_size or cfg.decode.beam_size
    try:
        opts = cli_decode_options(cfg, args, model, method, beam_size, tokenizer)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: --decode-method / --lm: {e}", file=sys.stderr)
        return 2
    if args.batch_size:
        cfg.training.batch_size = args.batch_size
    if args.max_utterances:
        cfg.data.test_size = min(cfg.data.test_size, args.max_utterances)
        cfg.data.val_size = min(cfg.data.val_size, args.max_utterances)
    cmvn_state = load_checkpoint(resolve_run_path(args.checkpoint)).get("cmvn")  # real audio: training statistics
    try:
        opts |= vtln_option(cfg, args.vtln_warps, cmvn_state)
    except ValueError as e:
        print(f"error: --vtln-warps: {e}", file=sys.stderr)
        return 2
    audio_seconds = None
    try:
        if args.manifest:
            check_audio_checkpoint(cfg, args.checkpoint, cmvn_state)
            limit = args.max_audio_seconds if args.max_audio_seconds is not None else cfg.serve.max_audio_seconds
            loader, audio_seconds = manifest_loader(cfg, tokenizer, args.manifest, cmvn_state=cmvn_state,
                                                    max_utterances=args.max_utterances, max_audio_seconds=limit)
        else:
            loader = build_dataloaders(cfg, tokenizer, input_dim=feature_dim(cfg), splits=(args.split,),
                                       cmvn_state=cmvn_state)[args.split]
            if cfg.data.dataset == "manifest":  # the checkpoint's own dev/test manifest: also report the RTF
                audio_seconds = manifest_audio_seconds(loader.dataset)
    except (AudioInputError, ManifestError, AudioError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    with torch.inference_mode():  # only the model runs under autocast: features and resampling stay fp32
        result = evaluate(autocast_model(model, amp), loader, tokenizer, device, decode_opts=opts,
                          detailed=args.detailed or bool(args.group_by))
    if args.group_by:
        try:
            result["groups"] = group_by_fields(result, loader, args.group_by)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        if not args.detailed:
            result.pop("utterances"), result.pop("worst")
        for key, groups in result["groups"].items():
            print(format_table(key, groups, {k: result[k] for k in ("cer", "cer_sub", "cer_del", "cer_ins", "wer", "num_utterances")}) + "\n", file=sys.stderr)
    source = {"manifest": str(args.manifest)} if args.manifest else {"split": args.split}
    result = {"checkpoint": str(args.checkpoint), **source, "decode_method": method,
              "beam_size": None if method in GREEDY_METHODS else beam_size, "lm": lm_summary(cfg, opts),
              "amp": amp.describe(), "vtln_warps": args.vtln_warps, **result}
    if audio_seconds is not None:
        # Model time only (features come from the fbank cache after the first pass); infer.py --audio
        # reports the end-to-end factor including reading the WAV and computing fbank.
        result["audio_seconds"] = audio_seconds
        result["rtf"] = result["decode_seconds"] / max(audio_seconds, 1e-9)
    text = json.dumps(result, indent=2)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text + "\n")
    summary = {k: result[k] for k in ("cer", "wer", "token_accuracy", "sequence_accuracy", "num_utterances",
                                      "decode_seconds", "audio_seconds", "rtf", "groups") if k in result}
    print(json.dumps(summary, indent=2) if args.detailed else text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
