"""Choose the LM weight and per-token bonus of shallow fusion on a held-out manifest.

    python scripts/tune_lm.py --checkpoint runs/robust_ctc/checkpoints/best.pt --lm runs/robust_ctc/lm6.json \\
        --manifest data/speech/dev.jsonl --weights 0 0.3 0.5 0.8 --bonuses 0 0.5 1 2 --beam-size 8

The model runs once per utterance (its CTC head's log-probabilities are kept); then the CTC
prefix beam search runs for every (weight, bonus) pair. It prints the CER of each pair, and
the best one as the flags to pass to eval.py / infer.py / serve.py. Tune on dev, never on
the test sets you report. ``--output`` writes the grid as JSON. With ``--vtln-warps`` the
log-probabilities are those of each utterance's best warp factor (src/decode/vtln.py), as
eval.py decodes with the same flag, so the weights are tuned for decoding with VTLN.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python scripts/tune_lm.py` from the project folder

import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

from src.data.audio import AudioError  # noqa: E402
from src.data.manifest import ManifestError  # noqa: E402
from src.decode.ctc_prefix_beam import ctc_prefix_beam_search  # noqa: E402
from src.decode.methods import ctc_head_log_probs  # noqa: E402
from src.decode.ngram_lm import load_lm  # noqa: E402
from src.metrics.asr_metrics import ASRMetrics  # noqa: E402
from src.training.evaluate import add_vtln_arguments, manifest_loader, vtln_option  # noqa: E402
from src.training.inference import load_for_inference  # noqa: E402
from src.training.transcribe import AudioInputError, check_audio_checkpoint  # noqa: E402
from src.utils.amp import parse_amp, resolve_amp  # noqa: E402
from src.utils.checkpoint import CheckpointError, load_checkpoint  # noqa: E402
from src.utils.logging import resolve_run_path  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="a model with a CTC head")
    parser.add_argument("--lm", required=True, help="the LM file (scripts/train_lm.py)")
    parser.add_argument("--manifest", required=True, help="held-out JSONL manifest, e.g. data/speech/dev.jsonl")
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.3, 0.5, 0.8, 1.2], help="LM weights to try")
    parser.add_argument("--bonuses", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0], help="per-token bonuses to try")
    parser.add_argument("--beam-size", type=int, default=8)
    parser.add_argument("--max-utterances", type=int, default=0, help="tune on the first N only (0 = all)")
    parser.add_argument("--amp", default="auto", choices=["auto", "true", "false"], help="bf16 autocast of the model, as eval.py")
    parser.add_argument("--output", help="write the grid as JSON")
    add_vtln_arguments(parser)
    args = parser.parse_args()
    if args.beam_size < 1:
        parser.error(f"--beam-size {args.beam_size}: use 1 or more")

    device = torch.device("cpu")
    try:
        model, tokenizer, cfg = load_for_inference(args.checkpoint, device)
        if getattr(model, "ctc_head", None) is None:
            raise ValueError("this model has no CTC head (model.ctc_weight: 0), so no LM can be fused into its decoding")
        lm = load_lm(args.lm)
        lm.check_tokenizer(tokenizer.to_json())
        cmvn_state = load_checkpoint(resolve_run_path(args.checkpoint)).get("cmvn")
        check_audio_checkpoint(cfg, args.checkpoint, cmvn_state)
        vtln = vtln_option(cfg, args.vtln_warps, cmvn_state).get("vtln")
        loader, _ = manifest_loader(cfg, tokenizer, args.manifest, cmvn_state=cmvn_state, max_utterances=args.max_utterances)
    except (CheckpointError, ValueError, FileNotFoundError, AudioInputError, ManifestError, AudioError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    amp = resolve_amp(parse_amp(args.amp), device)
    rows: list[tuple[torch.Tensor, str]] = []  # (T', V) log-probs, reference
    with torch.inference_mode(), amp.autocast():
        for batch in tqdm(loader, desc="CTC head", leave=False):
            if vtln is None:
                log_probs, lens = ctc_head_log_probs(model, batch["feats"], batch["feat_lens"])
            else:
                log_probs, lens, _ = vtln.log_probs(model, batch["feats"], batch["feat_lens"])
            rows += [(log_probs[b, : int(lens[b])].float(), ref) for b, ref in enumerate(batch["texts"])]

    grid = []
    pairs = [(w, b) for w in args.weights for b in args.bonuses]
    for weight, bonus in tqdm(pairs, desc="grid"):
        metrics = ASRMetrics()
        for lp, ref in rows:
            hyp = ctc_prefix_beam_search(lp, beam_size=args.beam_size, lm=lm, lm_weight=weight, lm_bonus=bonus)[0]
            metrics.update(ref, tokenizer.decode(hyp.tokens))
        scores = metrics.compute()
        grid.append({"lm_weight": weight, "lm_bonus": bonus, "cer": scores["cer"], "wer": scores["wer"]})
    print(f"{'weight':>7} {'bonus':>6} {'CER':>7} {'WER':>7}   ({len(rows)} utterances, beam {args.beam_size})")
    for g in grid:
        print(f"{g['lm_weight']:7.2f} {g['lm_bonus']:6.2f} {g['cer']:7.4f} {g['wer']:7.4f}")
    best = min(grid, key=lambda g: (g["cer"], g["wer"]))
    warps = f" --vtln-warps {','.join(f'{a:g}' for a in args.vtln_warps)}" if args.vtln_warps else ""
    print(f"best: --lm {args.lm} --lm-weight {best['lm_weight']:g} --lm-bonus {best['lm_bonus']:g}{warps} (CER {best['cer']:.4f})")
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps({"manifest": args.manifest, "lm": args.lm, "beam_size": args.beam_size,
                                                 "vtln_warps": args.vtln_warps, "grid": grid, "best": best}, indent=2) + "\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
