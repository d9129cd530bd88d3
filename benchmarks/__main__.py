"""``python -m benchmarks [--quick] [--models gan,vae,lstm,gpt] [--modes fp32,autocast,compile] [--json PATH]``."""

from __future__ import annotations

import argparse
import sys

from benchmarks.runner import MODES, format_table, run, write_json
from benchmarks.workloads import MODELS


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny models and 2 repeats (seconds, for a smoke test)")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated subset of {','.join(MODELS)}")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated subset of {','.join(MODES)}")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per workload (default 5, quick 2)")
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best available)")
    parser.add_argument("--json", default=None, help="where to write the JSON (default: benchmarks/results/)")
    args = parser.parse_args(argv)
    try:
        report = run(_names(args.models), _names(args.modes), quick=args.quick, repeats=args.repeats,
                     device=args.device)
    except ValueError as err:
        parser.error(str(err))
    print(format_table(report))
    print(f"\nJSON written to {write_json(report, args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
