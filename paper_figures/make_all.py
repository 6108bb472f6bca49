"""Rebuild every paper figure into one folder, then print a table of timings and outputs.

Discovers every ``*.py`` here except this file and names starting with ``_``, so figure scripts
added later join automatically. Each script's ``main(argv)`` runs in this process (one import of
torch for all of them) with ``--out DIR --no-progress`` and, when given, ``--quick`` / ``--replot``
and the executor flags (each script then runs its own runs on that executor); a script that fails
is reported in the table and the others still run.

    python paper_figures/make_all.py --out DIR [--quick] [--replot] [--only figure1 table1]
        [--executor {local,processes,ray}] [--workers N] [--address ADDR]
    python paper_figures/make_all.py --committed [--only ...]

``--committed`` re-draws every committed figure in ``paper_figures/results`` from its CSV (``--replot``:
nothing is computed) with the flags of the run that made it, as ``results/committed.toml`` records them
(the flags set the figure's title).

Exit status 1 if any script failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shlex
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def discover() -> list[Path]:
    """Figure scripts in natural order (figure3 before figure10)."""
    scripts = [p for p in HERE.glob("*.py") if p.name != Path(__file__).name and not p.name.startswith("_")]
    return sorted(scripts, key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.stem)])


def load(script: Path):
    """The script as a module (its ``main(argv)`` is the figure)."""
    spec = importlib.util.spec_from_file_location(f"paper_figures_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def committed() -> list[tuple[str, Path, list[str]]]:
    """``results/committed.toml``: (script name, output folder, flags) of every committed figure, in file order."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]

    path = RESULTS / "committed.toml"
    entries = tomllib.loads(path.read_text()).get("figure", [])
    out = []
    for number, entry in enumerate(entries, 1):
        script, folder, flags = entry.get("script"), entry.get("out", "."), entry.get("flags")
        if not isinstance(script, str) or not (HERE / f"{script}.py").is_file():
            raise ValueError(f"{path}, figure {number}: script must name a script in {HERE}, got {script!r}")
        if not isinstance(folder, str) or Path(folder).is_absolute() or ".." in Path(folder).parts:
            raise ValueError(f"{path}, figure {number} ({script}): out must be a folder inside results/, "
                             f"got {folder!r}")
        if not isinstance(flags, str):
            raise ValueError(f"{path}, figure {number} ({script}): flags must be a string of the run's flags")
        out.append((script, RESULTS / folder, shlex.split(flags)))
    return out


def snapshot(out: Path) -> dict[str, int]:
    """Every output file (cache excluded) with its modification time in ns."""
    if not out.exists():
        return {}
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.rglob("*")
            if p.is_file() and "cache" not in p.relative_to(out).parts}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder of every figure (runs cached in DIR/cache); required unless --committed")
    parser.add_argument("--committed", action="store_true",
                        help="re-draw every committed figure in results/ from its CSV with its recorded flags")
    parser.add_argument("--quick", action="store_true", help="pass --quick to every script (seconds each)")
    parser.add_argument("--replot", action="store_true", help="pass --replot: redraw every figure from its CSV in DIR")
    parser.add_argument("--only", nargs="+", default=None, help="run only these scripts (names without .py)")
    parser.add_argument("--executor", choices=("local", "processes", "ray"), default=None,
                        help="pass --executor to every script (default: the scripts' own, local)")
    parser.add_argument("--workers", type=int, default=None, help="pass --workers N to every script")
    parser.add_argument("--address", default=None, help="pass --address ADDR (a Ray cluster) to every script")
    args = parser.parse_args(argv)
    if args.committed == (args.out is not None):
        parser.error("give either --out DIR or --committed")
    if args.committed and (args.quick or args.replot or args.executor or args.workers or args.address):
        parser.error("--committed only re-draws (it implies --replot and computes nothing)")
    scripts = discover()
    if args.only:
        unknown = sorted(set(args.only) - {p.stem for p in scripts})
        if unknown:
            parser.error(f"--only: no scripts {unknown}; scripts: {[p.stem for p in scripts]}")
    if args.committed:
        entries = committed()
        missing = sorted(set(args.only or ()) - {name for name, _, _ in entries})
        if missing:
            parser.error(f"--only: no committed figure of {missing} (results/committed.toml)")
        jobs = [(HERE / f"{name}.py", out, ["--replot", "--out", str(out), "--no-progress", *flags])
                for name, out, flags in entries if not args.only or name in args.only]
    else:
        flags = ["--out", str(args.out), "--no-progress"] + (["--quick"] if args.quick else []) + (
            ["--replot"] if args.replot else [])
        for flag in ("executor", "workers", "address"):
            if getattr(args, flag) is not None:
                flags += [f"--{flag}", str(getattr(args, flag))]
        jobs = [(script, args.out, flags) for script in scripts if not args.only or script.stem in args.only]
    rows = []
    for script, out, flags in jobs:
        print(f"== {script.name} {' '.join(flags)}", flush=True)
        before, start = snapshot(out), time.perf_counter()
        try:
            load(script).main(flags)
            status = "ok"
        except Exception:  # noqa: BLE001 - report the script's failure and go on with the others
            traceback.print_exc()
            status = "FAILED"
        after = snapshot(out)
        outputs = sorted(str((out / name).relative_to(args.out or RESULTS))
                         for name, mtime in after.items() if before.get(name) != mtime)
        label = str((out / script.name).relative_to(RESULTS)) if args.committed else script.name
        rows.append((label, status, time.perf_counter() - start, ", ".join(outputs) or "-"))
    width = max((len(r[0]) for r in rows), default=6)
    print(f"\n{'script':<{width}} | {'status':<6} | {'seconds':>7} | outputs (in {args.out or RESULTS})")
    print(f"{'-' * width}-+-{'-' * 6}-+-{'-' * 7}-+-{'-' * 30}")
    for name, status, seconds, outs in rows:
        print(f"{name:<{width}} | {status:<6} | {seconds:>7.1f} | {outs}")
    return 0 if all(r[1] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
