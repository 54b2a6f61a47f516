"""Shared set-up of the benchmark scripts: an isolated cache/LaunchPad, a timer, a table printer."""

from __future__ import annotations

import os
import tempfile
import time
from contextlib import contextmanager


def isolate() -> str:
    """Point nafill's cache, home and LaunchPad store at a fresh temporary folder."""
    tmp = tempfile.mkdtemp(prefix="nafill_bench_")
    os.environ["NAFILL_CACHE_DIR"] = os.path.join(tmp, "cache")
    os.environ["NAFILL_HOME"] = os.path.join(tmp, "home")
    os.environ["NAFILL_LAUNCHPAD_STORE"] = os.path.join(tmp, "store.json")
    return tmp


@contextmanager
def timer(out: dict, key: str):
    t0 = time.perf_counter()
    yield
    out[key] = time.perf_counter() - t0


def table(rows: list[dict], cols: list[str]) -> str:
    widths = {c: max(len(c), *(len(f"{r[c]}") for r in rows)) for c in cols}
    lines = ["  ".join(f"{c:>{widths[c]}}" for c in cols)]
    for r in rows:
        lines.append("  ".join(f"{r[c]:>{widths[c]}}" for c in cols))
    return "\n".join(lines)


def path_before_step(path, k: int, policy):
    """A copy of ``path`` cut to its first ``k`` steps, its beam the structure kept at step k, and
    ``policy`` in place: the default policy can then choose from the same parent."""
    from nafill.workflows.engine.documents import FillingPath

    parent = FillingPath.from_dict(path.as_dict())
    parent.steps = parent.steps[:k]
    prev = path.steps[k - 1] if k else None
    parent.state["beam"] = [{"energy_eV": prev["energy_eV"] if prev else path.reference["e_host_eV"],
                             "parent_rank": 0, "structure": prev["structure"] if prev else path.host}]
    policy.validate(backend=path.backend["name"])  # an unset fmax_eV_A takes the backend's default
    parent.policy = policy.as_dict()
    return parent
