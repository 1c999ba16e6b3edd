"""Write the toy shapes as a folder dataset: ``python scripts/make_shapes.py --hard --out data/shapes_hard``.

Train on it with ``configs/folder_hard.yaml`` (see docs/ABLATIONS.md, "Hard folder dataset").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root, for `import src`

from src.data.shapes_folder import write_shapes_folder  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output folder; gets train/ val/ test/ shifted/")
    parser.add_argument("--hard", action="store_true", help="textured, cluttered, occluded shapes (default: the easy task)")
    parser.add_argument("--size", type=int, default=128, help="image side in pixels")
    parser.add_argument("--train", type=int, default=2000, help="training images")
    parser.add_argument("--val", type=int, default=200, help="validation images (pick best.pt)")
    parser.add_argument("--test", type=int, default=200, help="test images, same conditions, never used in training")
    parser.add_argument("--shifted", type=int, default=200, help="test images under shifted conditions")
    parser.add_argument("--seed", type=int, default=0, help="sample i of a split depends only on (seed, split, i)")
    args = parser.parse_args(argv)
    counts = {"train": args.train, "val": args.val, "test": args.test, "shifted": args.shifted}
    try:
        write_shapes_folder(args.out, counts={k: v for k, v in counts.items() if v > 0}, hard=args.hard,
                            size=args.size, seed=args.seed)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
