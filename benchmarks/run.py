"""Run every benchmark script of this directory (``*_bench.py``) and print their tables.

Each script runs in its own process, so compile times are those of a fresh
process. Extra arguments are passed on to every script (e.g. ``--quick``).

Usage::

    python benchmarks/run.py [--quick] [--only compartments]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def scripts(only: str | None = None) -> list[Path]:
    """The benchmark scripts, optionally only those whose name contains ``only``."""
    found = sorted(HERE.glob("*_bench.py"))
    return [s for s in found if only is None or only in s.stem]


def main(argv: list[str] | None = None) -> int:
    """Run the scripts one after another; return non-zero if any failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run only the scripts whose name contains this")
    args, rest = parser.parse_known_args(argv)
    failed = []
    for script in scripts(args.only):
        print(f"\n## {script.stem}\n", flush=True)
        start = time.perf_counter()
        result = subprocess.run([sys.executable, str(script), *rest], cwd=HERE.parent)
        print(f"\n({script.name}: {time.perf_counter() - start:.0f} s, exit {result.returncode})",
              flush=True)
        if result.returncode:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
