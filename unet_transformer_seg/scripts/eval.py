"""Evaluate a checkpoint: ``python scripts/eval.py --checkpoint runs/latest/checkpoints/best.pt``.

Prints a per-class Dice/IoU table in both conventions (pooled over the split's pixels, and
nnU-Net's per-case mean); ``--output`` writes the same as JSON (pooled: mean_dice, mean_iou,
pixel_accuracy, per_class; per-case: per_case). Folder data is scored at each image's native
resolution with the masks infer.py writes; by default on the held-out test split.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root, for `import src`

from src.training.eval_report import evaluate_checkpoint, format_results_table  # noqa: E402
from src.utils.checkpoint import CheckpointError  # noqa: E402
from src.utils.config import ConfigError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="e.g. runs/latest/checkpoints/best.pt")
    parser.add_argument("--data-dir", help="a folder dataset (images/, masks/) to evaluate on, at native resolution; "
                                           "default: a split of the data the model was trained with (--split)")
    parser.add_argument("--split", default="auto", choices=["auto", "test", "val"],
                        help="without --data-dir: test = held out, never used to pick best.pt (toy shapes; "
                             "folder data with data.test_root); val = the split that picked best.pt; "
                             "auto = test where there is one")
    parser.add_argument("--mode", choices=["resize", "pad", "window"], default="resize",
                        help="how masks are predicted, exactly as infer.py --mode (folder data)")
    parser.add_argument("--tile", type=int, default=None, help="--mode window: tile side (default data.image_size)")
    parser.add_argument("--overlap", type=float, default=0.5, help="--mode window: overlap fraction in [0, 1)")
    parser.add_argument("--tile-batch", type=int, default=4, help="--mode window: tiles per forward pass")
    parser.add_argument("--output", help="write the results as JSON to this file")
    parser.add_argument("--save-vis", type=int, default=0, metavar="N", help="draw the first N predictions to a PNG")
    parser.add_argument("--override", nargs="*", default=[], metavar="SECTION.KEY=VALUE",
                        help="change the stored config, e.g. data.mask_format=binary")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--amp", default="auto", choices=["auto", "true", "false"],
                        help="bf16 autocast: auto = where the CPU/GPU has native bf16 (src/utils/amp.py)")
    args = parser.parse_args(argv)
    vis_path = None
    if args.save_vis > 0:
        vis_path = Path(args.output).with_suffix(".png") if args.output else Path("eval_predictions.png")
    try:
        results = evaluate_checkpoint(args.checkpoint, data_dir=args.data_dir, device=args.device,
                                      overrides=args.override, save_vis=args.save_vis, vis_path=vis_path,
                                      amp=args.amp, split=args.split, mode=args.mode, tile=args.tile,
                                      overlap=args.overlap, tile_batch=args.tile_batch)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    except (CheckpointError, ValueError) as e:  # FolderDatasetError is a ValueError
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(format_results_table(results))
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(results, indent=2))
        print(f"wrote {args.output}")
    if vis_path is not None:
        print(f"wrote {vis_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
