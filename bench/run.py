#!/usr/bin/env python
"""Run benchmarks under bench/ and print one JSON line per figure (value, baseline and their ratio).

Usage: bench/run.py NAME [NAME...]   or   bench/run.py --all
A benchmark is a module bench/<name>.py with a function `run()` yielding dicts with the keys
metric, value, unit, baseline (the same quantity for the reference in the same run) and,
optionally, note. Ratios are value / baseline, so numbers from different machines compare.
"""
import argparse
import importlib
import json
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))


NOT_BENCHMARKS = {"run", "settings", "urls"}


def available():
    return sorted(p.stem for p in BENCH_DIR.glob("*.py") if p.stem not in NOT_BENCHMARKS and p.stem[0] != "_")


def figure_line(bench, figure):
    baseline = figure.get("baseline")
    ratio = round(figure["value"] / baseline, 3) if baseline else None
    line = {
        "bench": bench,
        "metric": figure["metric"],
        "value": figure["value"],
        "unit": figure["unit"],
        "baseline": baseline,
        "ratio": ratio,
    }
    if figure.get("note"):
        line["note"] = figure["note"]
    return json.dumps(line)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"benchmarks to run: {', '.join(available())}")
    parser.add_argument("--all", action="store_true", help="run every benchmark")
    args = parser.parse_args(argv)
    names = available() if args.all else args.names
    unknown = sorted(set(names) - set(available()))
    if unknown or not names:
        parser.exit(2, f"bench: unknown or no benchmark {' '.join(unknown)}; choose from {', '.join(available())}\n")
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        for figure in module.run():
            print(figure_line(name, figure), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
