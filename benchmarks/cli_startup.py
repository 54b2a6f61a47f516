"""Start-up time of the command line: median wall time of `nafill --help` (and of one verb's
help, which imports that verb's modules), each run in a fresh interpreter.

    python benchmarks/cli_startup.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

NAFILL = [shutil.which("nafill")] if shutil.which("nafill") else [sys.executable, "-m", "nafill.cli"]
COMMANDS = {
    "nafill --help": [*NAFILL, "--help"],
    "nafill fill --help": [*NAFILL, "fill", "--help"],
}


def median_s(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    for name, cmd in COMMANDS.items():
        print(f"{name:<22} median of {args.repeat}: {median_s(cmd, args.repeat):.3f} s")


if __name__ == "__main__":
    main()
