"""Peak RSS of infer.py --audio on 1-, 10- and 30-minute recordings (docs/AUDIO.md, "Long recordings").

    python scripts/long_audio_memory.py --minutes 1 10 30 --output runs/long_audio_memory.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python scripts/long_audio_memory.py` from the project folder

from src.bench.long_audio_memory import measure  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 30])
    parser.add_argument("--config", default="configs/paraformer_speech.yaml", help="architecture of the random-weight checkpoint")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", help="write the JSON here")
    args = parser.parse_args()
    result = measure(args.minutes, args.config, args.threads)
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
