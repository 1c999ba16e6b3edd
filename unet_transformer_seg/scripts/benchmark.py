"""Training/inference images/s, FLOPs, achieved GFLOP/s vs the measured matmul peak, peak memory.

    python scripts/benchmark.py --out bench.json --markdown-out docs/bench_table.md   # the full benchmark
    python scripts/benchmark.py --quick --out /tmp/bench.json                        # seconds; a smoke test
    python scripts/benchmark.py --profile --profile-out docs/profile_128.txt         # + where the time goes

Defaults live in BenchmarkConfig (src/bench/benchmark.py); each flag below overrides one.
Run the full benchmark on an otherwise idle machine: every number is wall-clock time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import typing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root, for `import src`

from src.bench.bench_report import markdown_report, target_verdicts, write_profiles  # noqa: E402
from src.bench.benchmark import QUICK, BenchmarkConfig, run_benchmark  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    """One flag per BenchmarkConfig field; a flag left out keeps the dataclass default."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = BenchmarkConfig()
    hints = typing.get_type_hints(BenchmarkConfig)
    for f in dataclasses.fields(BenchmarkConfig):
        flag, tp, default = "--" + f.name.replace("_", "-"), hints[f.name], getattr(defaults, f.name)
        if tp is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=f"default: {default}")
        elif typing.get_origin(tp) is list:
            item = typing.get_args(tp)[0]
            parser.add_argument(flag, nargs="+", type=item, default=None, help=f"default: {' '.join(map(str, default))}")
        else:
            parser.add_argument(flag, type=tp, default=None, help=f"default: {default}")
    parser.add_argument("--quick", action="store_true", help=f"tiny settings for a smoke test: {QUICK}")
    parser.add_argument("--out", help="write the JSON result here")
    parser.add_argument("--markdown-out", help="write the markdown table here (it is always printed)")
    parser.add_argument("--profile-out", default="profile.txt", help="where --profile writes its tables")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    chosen = {f.name: getattr(args, f.name) for f in dataclasses.fields(BenchmarkConfig) if getattr(args, f.name) is not None}
    bench = BenchmarkConfig(**({**QUICK, **chosen} if args.quick else chosen))
    result = run_benchmark(bench)
    command = "python scripts/benchmark.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    result["command"] = command.strip()
    report = markdown_report(result, result["command"]) + "\nTargets:\n\n" + target_verdicts(result) + "\n"
    print("\n" + report)
    if result["profiles"]:
        write_profiles(result["profiles"], args.profile_out)
        for name, table in result["profiles"].items():
            print(f"== {name}: top ops by self CPU time ==\n{table}")
        print(f"profile tables written to {args.profile_out}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")
    if args.markdown_out:
        Path(args.markdown_out).write_text(report)
        print(f"wrote {args.markdown_out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
