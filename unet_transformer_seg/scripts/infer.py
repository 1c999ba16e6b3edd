"""Predict masks: ``python scripts/infer.py --checkpoint runs/latest/checkpoints/best.pt --input IMG_OR_DIR --output DIR``.

For every input image writes, at the image's original size:
  DIR/<stem>_mask.png      the mask in the model's data.mask_format (index: 8-bit class ids;
                           palette: P-mode PNG with the training palette; binary: 0/255)
  DIR/<stem>_overlay.png   the image with the predicted classes coloured in
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root, for `import src`

from src.training.infer_run import infer_paths  # noqa: E402
from src.utils.checkpoint import CheckpointError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="e.g. runs/latest/checkpoints/best.pt")
    parser.add_argument("--input", required=True, help="an image (.png/.jpg/.jpeg) or a folder of them")
    parser.add_argument("--output", required=True, help="folder for the mask and overlay PNGs")
    parser.add_argument("--mode", choices=["resize", "pad", "window"], default="resize",
                        help="resize to the training size and back (default); pad to a multiple of 2**depth; "
                             "or window: native scale in overlapping Gaussian-weighted tiles (large images)")
    parser.add_argument("--tile", type=int, default=None, help="--mode window: tile side (default data.image_size)")
    parser.add_argument("--overlap", type=float, default=0.5, help="--mode window: overlap fraction in [0, 1)")
    parser.add_argument("--tile-batch", type=int, default=4, help="--mode window: tiles per forward pass")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--amp", default="auto", choices=["auto", "true", "false"],
                        help="bf16 autocast: auto = where the CPU/GPU has native bf16 (src/utils/amp.py)")
    args = parser.parse_args(argv)
    try:
        written = infer_paths(args.checkpoint, args.input, args.output, mode=args.mode, device=args.device,
                              amp=args.amp, tile=args.tile, overlap=args.overlap, tile_batch=args.tile_batch)
    except (CheckpointError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for mask_path in written:
        print(f"wrote {mask_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
