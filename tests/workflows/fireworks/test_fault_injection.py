"""Fault injection: SIGKILL of ``nafill fill`` (both engines), ``nafill run``, ``rlaunch`` and
``lpad`` at seeded random moments (24 kills), damaged stores, two writers, disk full.

After each fault: no finished step is lost (the store holds at least the steps ``path.json`` had
when the process died), and the same command resumes to the path of an uninterrupted run (every
number and coordinate equal, only wall-clock times differ), or a one-line refusal names the file
and the way out, which, followed, works.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import bson.json_util
import pytest

NAFILL = [sys.executable, "-m", "nafill.cli"]
BIN = Path(sys.executable).parent
FILL_ARGS = ["--spacing-nm", "1.05", "--max-na", "3", "--candidates", "6", "-q"]
SEED = 20240615


def _env(home: Path, **extra) -> dict:
    env = dict(os.environ)
    env["NAFILL_HOME"] = str(home)
    env.pop("NAFILL_LAUNCHPAD", None)
    env.pop("MONGOMOCK_SERVERSTORE_FILE", None)
    env["NAFILL_LAUNCHPAD_STORE"] = str(home / "launchpad_store.json")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _run(args, env, check=True, **kw):
    p = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600, **kw)
    if check:
        assert p.returncode == 0, (args, p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    return p


def _steps_key(path_json: Path) -> str:
    """The path without wall-clock times: equal strings = the same path, bitwise."""
    doc = json.loads(path_json.read_text())

    def clean(x):
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()
                    if "wall" not in k and "elapsed" not in k and k not in ("updated_at",)}
        if isinstance(x, list):
            return [clean(v) for v in x]
        return x

    return json.dumps(clean(doc["steps"]), sort_keys=True)


def _n_steps(path_json: Path) -> int:
    try:
        return len(json.loads(path_json.read_text())["steps"])
    except (OSError, ValueError, KeyError):
        return 0


def _store_steps(store: Path) -> int:
    """Most steps of any path document in an embedded store file (0 if none)."""
    data = bson.json_util.loads(store.read_text())
    best = 0
    for db in data.values():
        coll = db.get("nafill_paths")
        if coll:
            for _, doc in coll["documents"]:
                best = max(best, len(doc.get("steps", [])))
    return best


def _kill_after(args, env, delay_s: float, watch: Path | None = None) -> int:
    """Start ``args``, SIGKILL it (and its process group) after ``delay_s``; return steps seen in
    ``watch`` (a path.json) just before the kill."""
    p = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    t_end = time.monotonic() + delay_s
    while time.monotonic() < t_end and p.poll() is None:
        time.sleep(0.02)
    seen = _n_steps(watch) if watch is not None else 0
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    time.sleep(0.05)
    with pytest.raises(ProcessLookupError):  # no orphans left of the killed process group
        for _ in range(100):
            os.killpg(p.pid, 0)
            time.sleep(0.05)
    return seen


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted fill (default engine) and its duration."""
    d = tmp_path_factory.mktemp("ref")
    env = _env(d / "home")
    t0 = time.monotonic()
    _run(NAFILL + ["fill", *FILL_ARGS, "--out", str(d / "run")], env)
    return {"key": _steps_key(d / "run" / "path.json"), "wall_s": time.monotonic() - t0}


def _delays(n: int, wall_s: float, salt: int) -> list[float]:
    rng = random.Random(SEED + salt)
    return [rng.uniform(0.25, 0.95) * wall_s for _ in range(n)]


@pytest.mark.parametrize("engine", ["fireworks", "local"])
def test_sigkill_fill_resumes_identically(engine, reference, tmp_path):
    n_kills = 8 if engine == "fireworks" else 4
    env = _env(tmp_path / "home")
    for k, delay in enumerate(_delays(n_kills, reference["wall_s"], 1 if engine == "fireworks" else 2)):
        out = tmp_path / f"run{k}"
        args = NAFILL + ["fill", *FILL_ARGS, "--engine", engine, "--out", str(out)]
        seen = _kill_after(args, env, delay, out / "path.json")
        assert _n_steps(out / "path.json") >= seen
        if engine == "fireworks" and (out / "launchpad_store.json").exists():
            assert _store_steps(out / "launchpad_store.json") >= seen  # no finished step lost
        _run(args, env)
        assert _steps_key(out / "path.json") == reference["key"], (engine, k, delay)


def _submit(env) -> int:
    p = _run(NAFILL + ["submit", "fill", "--spacing-nm", "1.05", "--max-na", "3", "--candidates", "6"], env)
    return int(p.stdout.split("added workflow ")[1].split(":")[0])


@pytest.mark.parametrize("tool", ["nafill run", "rlaunch"])
def test_sigkill_runner_resumes_identically(tool, reference, tmp_path):
    for k, delay in enumerate(_delays(4, reference["wall_s"], 3 if tool == "rlaunch" else 4)):
        home = tmp_path / f"home{k}"
        store = home / "launchpad_store.json"
        env = _env(home)
        wf = _submit(env)
        if tool == "rlaunch":
            args = [str(BIN / "rlaunch"), "rapidfire"]
            kill_env = {**env, "MONGOMOCK_SERVERSTORE_FILE": str(store)}
        else:
            args, kill_env = NAFILL + ["run", "-q"], env
        os.makedirs(tmp_path / f"launch{k}", exist_ok=True)
        p = subprocess.Popen(args, env=kill_env, cwd=tmp_path / f"launch{k}", stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(delay + 0.5)
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        # the same kind of command resumes: nafill run / nafill rlaunch (which re-run lost Fireworks)
        resume = NAFILL + (["run", "-q"] if tool == "nafill run" else ["rlaunch", "rapidfire"])
        _run(resume, env, cwd=tmp_path / f"launch{k}")
        _run(NAFILL + ["export", str(wf), "--out", str(tmp_path / f"exp{k}")], env)
        assert _steps_key(tmp_path / f"exp{k}" / "path.json") == reference["key"], (tool, k, delay)


def test_sigkill_lpad_never_loses_the_store(tmp_path):
    """Plain ``lpad`` rewrites the store in place at exit (a kill may leave it empty): nafill then
    refuses it in one line naming the file and the restore command, which works; ``nafill lpad``
    writes atomically, so its kills leave the store whole."""
    home = tmp_path / "home"
    store = home / "launchpad_store.json"
    env = _env(home)
    wf = _submit(env)
    _run(NAFILL + ["run", "-q"], env, cwd=tmp_path)
    good = _store_steps(store)
    assert good == 3
    rng = random.Random(SEED + 5)
    for k in range(4):
        plain = k % 2 == 0
        args = ([str(BIN / "lpad"), "get_wflows"] if plain else NAFILL + ["lpad", "get_wflows"])
        kenv = {**env, "MONGOMOCK_SERVERSTORE_FILE": str(store)} if plain else env
        p = subprocess.Popen(args, env=kenv, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
        time.sleep(rng.uniform(0.3, 2.5))
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        st = _run(NAFILL + ["status"], env, check=False)
        if st.returncode != 0:
            assert plain and st.returncode == 2, st.stderr
            line = st.stderr.strip()
            assert "\n" not in line and str(store) in line and "cp " in line, line
            _run(shlex.split(line.split("with: ", 1)[1]), env)  # the way out, as printed
            st = _run(NAFILL + ["status"], env)
        assert f"{wf:>4} COMPLETED" in st.stdout
        assert _store_steps(store) == good


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbled", "missing"])
def test_damaged_store_refused_with_path_and_way_out(damage, tmp_path):
    home = tmp_path / "home"
    store = home / "launchpad_store.json"
    env = _env(home)
    _submit(env)
    _submit(env)  # the second write keeps the first state as store.bak
    text = store.read_text()
    if damage == "empty":
        store.write_text("")
    elif damage == "truncated":
        store.write_text(text[: len(text) // 2])
    elif damage == "garbled":
        store.write_text(text.replace('"', "'", 7))
    else:
        store.unlink()
    for verb in (["status"], ["run", "-q"], ["submit", "fill", "--spacing-nm", "1.05", "--max-na", "1"],
                 ["export", "1", "--out", str(tmp_path / "x")], ["lpad", "get_wflows"]):
        p = _run(NAFILL + verb, env, check=False)
        assert p.returncode == 2, (verb, p.stderr)
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and str(store) in lines[0] and ".json.bak" in lines[0], lines
    assert not (tmp_path / "x").exists()
    _run(shlex.split(lines[0].split("with: ", 1)[1]), env)
    st = _run(NAFILL + ["status"], env)
    assert st.stdout.count("READY") + st.stdout.count("WAITING") >= 1


def test_two_writers_one_out_and_one_store(tmp_path):
    env = _env(tmp_path / "home")
    out = tmp_path / "run"
    slow = NAFILL + ["fill", "--spacing-nm", "1.19", "--max-na", "8", "--candidates", "12", "-q", "--out", str(out)]
    p = subprocess.Popen(slow, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        # the run folder's lock is taken before the store's: wait for both (CI once froze it in between)
        locks = [out / ".nafill.lock", out / "launchpad_store.json.lock"]
        for _ in range(600):
            if all(f.exists() and f.read_text().strip() for f in locks):
                break
            time.sleep(0.05)
        os.kill(p.pid, signal.SIGSTOP)  # frozen while holding both locks: the checks below cannot race it
        for other in (["--engine", "local"], ["--engine", "local", "--candidates", "4"], []):
            q = _run(NAFILL + ["fill", "--spacing-nm", "1.19", "--max-na", "8", "--candidates", "12", "-q",
                               "--out", str(out), *other], env, check=False)
            assert q.returncode == 2, q.stderr
            assert f"in use by process {p.pid}" in q.stderr and len(q.stderr.strip().splitlines()) == 1, q.stderr
        # one store: a second process on the run folder's store is refused too
        q = _run(NAFILL + ["lpad", "--store", str(out), "get_wflows"], env, check=False)
        assert q.returncode == 2 and f"process {p.pid}" in q.stderr, q.stderr
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    # the owner is dead: its lock is taken over, the run resumes
    _run(slow, env)
    assert _n_steps(out / "path.json") == 8


def test_max_na_higher_extends_lower_keeps(tmp_path):
    env = _env(tmp_path / "home")
    for engine in ("fireworks", "local"):
        out = tmp_path / engine
        base = NAFILL + ["fill", "--spacing-nm", "1.05", "--candidates", "6", "-q", "--engine", engine,
                         "--out", str(out)]
        _run(base + ["--max-na", "2"], env)
        assert _n_steps(out / "path.json") == 2
        _run(base + ["--max-na", "4"], env)
        assert _n_steps(out / "path.json") == 4
        p = _run(base + ["--max-na", "3"], env)
        assert "already holds 4 steps" in p.stderr
        assert _n_steps(out / "path.json") == 4
        assert len((out / "path.extxyz").read_text().split("Lattice=")) - 1 == 4
    assert _steps_key(tmp_path / "fireworks" / "path.json") == _steps_key(tmp_path / "local" / "path.json")


def _can_mount_tmpfs(target: Path) -> str | None:
    if shutil.which("mount") is None:
        return "no mount command"
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(target)], capture_output=True, text=True)
    if p.returncode != 0:
        return f"cannot mount a tmpfs here ({p.stderr.strip()[:80]})"
    return None


def test_disk_full_then_same_command_resumes(reference, tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    why = _can_mount_tmpfs(mnt)
    if why:
        pytest.skip(f"disk-full test needs a small tmpfs: {why}")
    try:
        env = _env(tmp_path / "home")
        out = mnt / "run"
        args = NAFILL + ["fill", *FILL_ARGS, "--out", str(out)]
        filler = mnt / "filler"
        # leave a little room: the run starts, then the disk fills up
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1k", "count=3900"], capture_output=True)
        p = _run(args, env, check=False)
        assert p.returncode in (0, 3), p.stderr
        if p.returncode == 3:
            assert len(p.stderr.strip().splitlines()) == 1 and "same command" in p.stderr, p.stderr
        filler.unlink()
        _run(args, env)
        assert _steps_key(out / "path.json") == reference["key"]
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
