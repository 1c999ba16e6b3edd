"""Wall time to a validation accuracy target, fp32 against faster configurations, back to back.

    python scripts/time_to_accuracy.py                           # paraformer_base: fp32 vs bf16, 0.99 / 0.95
    python scripts/time_to_accuracy.py --repeats 2 --out tta.json --variants \\
        fp32=training.amp=false bf16=training.amp=true bf16_sdpa=training.amp=true,model.attention_impl=sdpa

Defaults live in TimeToAccuracyConfig (src/bench/time_to_accuracy.py). Every number is
wall-clock time: run it on a quiet machine and record the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python scripts/time_to_accuracy.py` from the project folder

import torch  # noqa: E402

from src.bench.bench_utils import machine_info, machine_line  # noqa: E402
from src.bench.time_to_accuracy import TimeToAccuracyConfig, markdown_table, run_time_to_accuracy  # noqa: E402
from src.utils.config import ConfigError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    d = TimeToAccuracyConfig()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=d.config)
    parser.add_argument("--variants", nargs="+", default=d.variants, help="name=override[,override...] each")
    parser.add_argument("--override", nargs="*", default=[], help="applied to every variant")
    parser.add_argument("--token-accuracy", type=float, default=d.token_accuracy)
    parser.add_argument("--sequence-accuracy", type=float, default=d.sequence_accuracy)
    parser.add_argument("--repeats", type=int, default=d.repeats)
    parser.add_argument("--runs-dir", default=d.runs_dir)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch intra-op threads (training.num_threads); 0 = the config's (default auto)")
    parser.add_argument("--out", help="write the JSON result here")
    args = parser.parse_args(argv)
    overrides = list(args.override)
    if args.threads:
        torch.set_num_threads(args.threads)
        overrides.append(f"training.num_threads={args.threads}")  # train() sets the threads from the config
    tta = TimeToAccuracyConfig(config=args.config, variants=args.variants, overrides=overrides,
                               token_accuracy=args.token_accuracy, sequence_accuracy=args.sequence_accuracy,
                               repeats=args.repeats, runs_dir=args.runs_dir)
    start = machine_info(torch.device("cpu"))
    try:
        result = run_time_to_accuracy(tta)
    except (ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    result["machine_start"], result["machine_end"] = start, machine_info(torch.device("cpu"))
    result["load_average_end"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    report = (f"Machine at the start: {machine_line(start)}\n\nMachine at the end: {machine_line(result['machine_end'])}\n\n"
              + markdown_table(result))
    print("\n" + report)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
