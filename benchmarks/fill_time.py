"""Target 1: the whole fill of the 1.82 nm cavity (4x4) on emt, as the CLI runs it.

    python benchmarks/fill_time.py

Runs `nafill fill --spacing-nm 1.82 --calculator emt` (FireWorks engine, the default) and
`--engine local`, each
until the stop rule / full pore, and prints wall times, steps and relaxations per Na.
"""

import subprocess
import sys
import time

from _common import isolate

tmp = isolate()
for engine in ("fireworks", "local"):
    out = f"{tmp}/c182_{engine}"
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "nafill.cli", "fill", "--spacing-nm", "1.82", "--calculator", "emt", "--out", out, "-q",
                          "--engine", engine], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    print(f"engine {engine:9s}: {wall:6.1f} s wall for the whole fill (target <= 60 s)")
    for line in res.stdout.splitlines():
        if line.startswith(("steps:", "relaxations:", "nucleation", "capacity")):
            print("   " + line)
