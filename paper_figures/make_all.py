"""Rebuild every paper figure: run each script of this folder, then print a table of timings and outputs.

Discovers every ``*.py`` here except this file and helpers whose name starts with ``_``, so figure
scripts added later join automatically. Each runs as its own process (``--quick`` passed on), from
the repository root; its outputs are the files under ``out/`` (cache excluded) it wrote.

    python3 paper_figures/make_all.py [--quick]

Exit status 1 if any script failed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"


def discover() -> list[Path]:
    """Figure scripts in natural order (figure3 before figure10)."""
    scripts = [p for p in HERE.glob("*.py") if p.name != Path(__file__).name and not p.name.startswith("_")]
    return sorted(scripts, key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.stem)])


def snapshot() -> dict[str, int]:
    """Every output file (cache excluded) with its modification time in ns."""
    if not OUT.exists():
        return {}
    return {str(p.relative_to(OUT)): p.stat().st_mtime_ns for p in OUT.rglob("*")
            if p.is_file() and "cache" not in p.relative_to(OUT).parts}


def written(before: dict[str, int], after: dict[str, int]) -> list[str]:
    return sorted(name for name, mtime in after.items() if before.get(name) != mtime)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="pass --quick to every script (seconds each)")
    args = parser.parse_args(argv)
    # The repository root first on the path, so the scripts use this checkout's dashsim even uninstalled.
    env = dict(os.environ, MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join(filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")])))
    rows = []
    for script in discover():
        print(f"== {script.name}{' --quick' if args.quick else ''}", flush=True)
        before, start = snapshot(), time.perf_counter()
        proc = subprocess.run([sys.executable, str(script), *(["--quick"] if args.quick else [])],
                              cwd=HERE.parent, env=env)
        seconds = time.perf_counter() - start
        rows.append((script.name, "ok" if proc.returncode == 0 else f"FAILED ({proc.returncode})", seconds,
                     ", ".join(written(before, snapshot())) or "-"))
    width = max(len(r[0]) for r in rows) if rows else 6
    print(f"\n{'script':<{width}} | {'status':<11} | {'seconds':>7} | outputs (in {OUT})")
    print(f"{'-' * width}-+-{'-' * 11}-+-{'-' * 7}-+-{'-' * 30}")
    for name, status, seconds, outs in rows:
        print(f"{name:<{width}} | {status:<11} | {seconds:>7.1f} | {outs}")
    return 0 if all(r[1] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
