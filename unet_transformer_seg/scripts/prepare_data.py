"""Convert a public dataset's native download into our folder layout.

    python scripts/prepare_data.py --dataset voc --src ~/VOCdevkit/VOC2012 --out data/voc
    python scripts/prepare_data.py --dataset pets --src ~/oxford-iiit-pet --out data/pets
    python scripts/prepare_data.py --dataset dsb2018 --src ~/dsb2018/stage1_train --out data/dsb2018
    python scripts/prepare_data.py --dataset carvana --src ~/carvana --out data/carvana

then ``python scripts/train.py --config configs/<dataset>.yaml``. What each recipe expects,
writes and skips: README "Datasets / recipes" and the docstrings in src/data/recipes/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root, for `import src`

from src.data.recipes import RECIPES, RecipeError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, choices=sorted(RECIPES))
    parser.add_argument("--src", required=True, help="the unpacked download (see the examples above)")
    parser.add_argument("--out", required=True, help="output folder, e.g. data/voc")
    parser.add_argument("--test-fraction", type=float, default=0.1,
                        help="dsb2018/carvana: seeded share held out in OUT/test (carvana: whole cars)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the test hold-out")
    parser.add_argument("--pets-border", choices=["ignore", "pet"], default="ignore",
                        help="pets: the trimap's unclassified border -> 255 (ignored) or pet")
    args = parser.parse_args(argv)
    try:
        report = RECIPES[args.dataset](Path(args.src), Path(args.out), test_fraction=args.test_fraction,
                                       seed=args.seed, border=args.pets_border)
    except RecipeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(report.summary())
    if not report.written:
        print(f"error: nothing was written; is {args.src} the {args.dataset} download?", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
