"""A test manifest heard through a telephone channel: the same sentences and voices, another channel.

    python scripts/make_channel_set.py --manifest data/speech/test.jsonl --channel 8k --out data/speech_8k
    python scripts/eval.py --checkpoint runs/robust/checkpoints/best.pt --manifest data/speech_8k/test_8k.jsonl

``--channel 8k`` writes 8 kHz files (read back, they hold nothing above ~3.7 kHz);
``--channel telephone`` keeps the rate and the 300-3400 Hz band. The new manifest is
``<out>/<manifest stem>_<channel>.jsonl`` with every field of the original and ``channel``.
See src/data/channel_copy.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from src.data.audio import AudioError  # noqa: E402
from src.data.channel_copy import CHANNELS, copy_through_channel  # noqa: E402
from src.data.manifest import ManifestError  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", required=True, help="a JSONL manifest, e.g. data/speech/test.jsonl")
    parser.add_argument("--channel", required=True, choices=sorted(CHANNELS))
    parser.add_argument("--out", required=True, help="output folder, e.g. data/speech_8k")
    parser.add_argument("--sample-rate", type=int, default=16000, help="the model's rate (features.sample_rate)")
    args = parser.parse_args()
    try:
        path = copy_through_channel(args.manifest, args.out, args.channel, sample_rate=args.sample_rate)
    except (ManifestError, AudioError, FileExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
