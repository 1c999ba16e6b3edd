"""Manifests of real people's recordings shipped in Debian packages (for evaluation only, never training).

    sudo apt-get install pocketsphinx-testdata asterisk-core-sounds-en asterisk-core-sounds-en-wav
    python scripts/make_real_speech.py --out data/real

Writes ``<out>/real.jsonl`` (everything), ``<out>/pocketsphinx.jsonl`` (10 utterances: read
book sentences and card names, 16 kHz) and ``<out>/asterisk.jsonl`` (about 535 telephone
prompts by one speaker, 8 kHz). Lines carry ``source`` and ``speaker`` for
``eval.py --group-by source``. Audio paths point into the installed packages. See
src/data/real_speech.py for the licences.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from src.data.real_speech import INSTALL_HINT, asterisk_lines, pocketsphinx_lines, write_manifest  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output folder, e.g. data/real")
    args = parser.parse_args()
    sets = {"pocketsphinx": pocketsphinx_lines(), "asterisk": asterisk_lines()}
    if not any(sets.values()):
        print(f"error: no recordings found; install them with\n  {INSTALL_HINT}", file=sys.stderr)
        raise SystemExit(1)
    out = Path(args.out)
    for name, lines in sets.items():
        if lines:
            write_manifest(out / f"{name}.jsonl", lines)
        else:
            print(f"note: no {name} recordings found (install: {INSTALL_HINT}); {name}.jsonl not written", file=sys.stderr)
    everything = [line for lines in sets.values() for line in lines]
    write_manifest(out / "real.jsonl", everything)
    minutes = sum(float(line["duration"]) for line in everything) / 60
    counts = ", ".join(f"{name} {len(lines)}" for name, lines in sets.items())
    print(f"wrote {len(everything)} utterances ({minutes:.1f} min; {counts}) to {out}/real.jsonl")


if __name__ == "__main__":
    main()
