"""FireWorks' own rlaunch gives nafill's path; transient failures re-run by the same command; the
store file's guarantees; worker pools made once and reaped; the host validator."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nafill.cli import main
from nafill.errors import NafillInputError
from nafill.structures.pores import cavity
from nafill.structures.validation import check_host

NAFILL = [sys.executable, "-m", "nafill.cli"]
BIN = Path(sys.executable).parent
SMALL = ["--spacing-nm", "1.05", "--max-na", "3", "--candidates", "6", "-q"]


def _key(path_json: Path) -> str:
    """The steps without clock times (wall_s, elapsed_s, the cost's wall_s): equal = same path."""
    def clean(x):
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items() if "wall" not in k and "elapsed" not in k}
        if isinstance(x, list):
            return [clean(v) for v in x]
        return x

    return json.dumps(clean(json.loads(Path(path_json).read_text())["steps"]), sort_keys=True)


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    monkeypatch.setenv("NAFILL_HOME", str(h))
    monkeypatch.setenv("NAFILL_LAUNCHPAD_STORE", str(h / "launchpad_store.json"))
    monkeypatch.delenv("NAFILL_LAUNCHPAD", raising=False)
    monkeypatch.delenv("MONGOMOCK_SERVERSTORE_FILE", raising=False)
    return h


def test_submit_then_plain_rlaunch_gives_the_path_of_nafill_fill(home, tmp_path):
    assert main(["fill", *SMALL, "--out", str(tmp_path / "fill")]) == 0
    env = dict(os.environ)
    sub = subprocess.run(NAFILL + ["submit", "fill", *SMALL[:-1]], env=env, capture_output=True, text=True, check=True)
    wf = int(sub.stdout.split("added workflow ")[1].split(":")[0])
    launch = tmp_path / "launch"
    launch.mkdir()
    r = subprocess.run([str(BIN / "rlaunch"), "rapidfire"], cwd=launch, capture_output=True, text=True,
                       env={**env, "MONGOMOCK_SERVERSTORE_FILE": str(home / "launchpad_store.json")})
    assert r.returncode == 0, r.stderr[-2000:]
    assert main(["export", str(wf), "--out", str(tmp_path / "exp")]) == 0
    assert _key(tmp_path / "exp" / "path.json") == _key(tmp_path / "fill" / "path.json")


def test_transient_fizzle_is_rerun_by_the_same_command(home, tmp_path, monkeypatch, capsys):
    from nafill.workflows.fireworks import tasks

    assert main(["fill", *SMALL, "--engine", "local", "--out", str(tmp_path / "ref")]) == 0
    original = tasks.RelaxCandidatesTask.run_task

    def broken(self, fw_spec):
        if int(self["n_na"]) == 2:
            raise OSError(28, "No space left on device (injected)")
        return original(self, fw_spec)

    monkeypatch.setattr(tasks.RelaxCandidatesTask, "run_task", broken)
    out = tmp_path / "run"
    assert main(["fill", *SMALL, "--out", str(out)]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "same command" in err[0]
    assert json.loads((out / "path.json").read_text())["steps"][0]["n_na"] == 1
    monkeypatch.setattr(tasks.RelaxCandidatesTask, "run_task", original)
    assert main(["fill", *SMALL, "--out", str(out)]) == 0
    assert _key(out / "path.json") == _key(tmp_path / "ref" / "path.json")


def test_store_file_atomic_backup_and_refusals(tmp_path):
    from nafill.workflows.fireworks.store_file import DamagedStoreError, read_store, write_store

    store = tmp_path / "s.json"
    assert read_store(store) == {}
    write_store(store, {"fireworks": {"a": {"name": "a", "documents": []}}})
    write_store(store, {"fireworks": {"b": {"name": "b", "documents": []}}})
    assert "a" in read_store(Path(str(store) + ".bak"))["fireworks"]
    assert "b" in read_store(store)["fireworks"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    for text in ("", "{\"fireworks\": {", "[1, 2]", "garbage"):
        store.write_text(text)
        with pytest.raises(DamagedStoreError) as e:
            read_store(store)
        assert str(store) in str(e.value) and "cp " in str(e.value) and "\n" not in str(e.value)
    store.unlink()
    with pytest.raises(DamagedStoreError, match="missing, but its backup exists"):
        read_store(store)


def test_worker_pools_made_once_per_process_and_reaped():
    from nafill.workflows.backends.registry import get_backend
    from nafill.workflows.engine import parallel

    parallel.shutdown_pools()
    atoms = cavity(1.05)
    from nafill.structures.sites import add_guest

    structures = [add_guest(atoms, atoms.positions.mean(axis=0) + [dx, 0, 0]) for dx in (0.0, 0.7)]
    for _ in range(3):  # every FireWorks relax task builds a new backend object
        parallel.map_relax(get_backend("emt"), structures, 0.1, 5, workers=2)
    assert len(parallel._POOLS) == 1
    pids = parallel.pool_processes()
    assert len(pids) == 2
    parallel.shutdown_pools()
    time.sleep(0.2)
    for pid in pids:  # stopped and joined: not even a zombie is left
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_no_worker_survives_its_parent(sig, home, tmp_path):
    p = subprocess.Popen(NAFILL + ["fill", "--spacing-nm", "1.19", "--max-na", "10", "--candidates", "16",
                                   "--workers", "2", "-q", "--out", str(tmp_path / "run")],
                         env=dict(os.environ, PYTHONFAULTHANDLER="1"), stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and p.poll() is None:
        kids = subprocess.run(["pgrep", "-s", str(p.pid)], capture_output=True, text=True).stdout.split()
        if len(kids) >= 3:  # the runner and its two workers
            break
        time.sleep(0.1)
    assert p.poll() is None, "the run should still be going"
    os.kill(p.pid, sig)
    try:
        p.wait(timeout=90)
    except subprocess.TimeoutExpired:  # say where it hangs: faulthandler dumps every thread on SIGABRT
        os.kill(p.pid, signal.SIGABRT)
        pytest.fail(f"no exit 90 s after {sig.name}; stacks:\n" + p.communicate(timeout=30)[1].decode()[-4000:])
    for _ in range(100):
        left = subprocess.run(["pgrep", "-s", str(p.pid)], capture_output=True, text=True).stdout.split()
        if not left:
            break
        time.sleep(0.1)
    assert not left, f"orphans after {sig.name}: {left}"
    # and the next command is not refused by a lock a dead process held
    q = subprocess.run(NAFILL + ["fill", "--spacing-nm", "1.19", "--max-na", "2", "--candidates", "16", "-q",
                                 "--out", str(tmp_path / "run")], env=dict(os.environ), capture_output=True, text=True)
    assert q.returncode == 0, q.stderr


def test_host_validator_warns_small_cells_and_accepts_good_hosts():
    assert check_host(cavity(1.82)) == []
    for n in (1, 2):
        w = check_host(cavity(1.19, (n, n)))
        assert any("lateral cell" in x and "--supercell" in x for x in w), w
    assert not any("lateral cell" in x for x in check_host(cavity(1.19, (3, 3))))
    host = cavity(1.19)
    host.positions[0] = host.positions[1] + [0.1, 0, 0]
    with pytest.raises(NafillInputError, match="0.10 A apart"):
        check_host(host)


SBATCH_NOW = """#!/bin/bash
# A local queue: runs the job script at once, in its folder, and answers as SLURM's sbatch does.
cd "$(dirname "$1")" && timeout 240 bash "$1" > job.out 2> job.err
echo "Submitted batch job $$"
"""


def test_qlaunch_with_a_local_queue_adapter_gives_the_path_of_nafill_fill(home, tmp_path):
    """FireWorks' own qlaunch (its queue launcher and CommonAdapter) through ``nafill qlaunch``:
    each job the adapter's submit command runs (FireWorks' own ``rlaunch``) borrows the embedded
    store; the result is the path ``nafill fill`` computes."""
    args = ["--spacing-nm", "1.05", "--max-na", "2", "--candidates", "6"]
    assert main(["fill", *args, "-q", "--out", str(tmp_path / "fill")]) == 0
    sbatch = tmp_path / "sbatch_now"
    sbatch.write_text(SBATCH_NOW)
    sbatch.chmod(0o755)
    qadapter = tmp_path / "my_qadapter.yaml"
    qadapter.write_text(
        "_fw_name: CommonAdapter\n_fw_q_type: SLURM\n"
        f"_q_commands_override: {{submit_cmd: {sbatch}}}\n"
        # two jobs for this fill's 7 Fireworks, each leaving when it has nothing left to run
        f"rocket_launch: {BIN / 'rlaunch'} rapidfire --nlaunches 4 --max_loops 1\n"
        "nodes: 1\nwalltime: '00:10:00'\njob_name: nafill\n")
    (tmp_path / "FW_config.yaml").write_text("QUEUE_UPDATE_INTERVAL: 0\nRAPIDFIRE_SLEEP_SECS: 1\n")
    env = {**os.environ, "FW_CONFIG_FILE": str(tmp_path / "FW_config.yaml")}
    sub = subprocess.run(NAFILL + ["submit", "fill", *args], env=env, capture_output=True, text=True, check=True)
    wf = int(sub.stdout.split("added workflow ")[1].split(":")[0])
    launch = tmp_path / "launch"
    launch.mkdir()
    q = subprocess.run(NAFILL + ["qlaunch", "-q", str(qadapter), "rapidfire"], cwd=launch, env=env,
                       capture_output=True, text=True, timeout=300)
    assert q.returncode == 0, q.stderr[-2000:]
    jobs = sorted(launch.glob("block_*/launcher_*"))
    assert len(jobs) == 2 and all((j / "FW_submit.script").is_file() for j in jobs), jobs
    assert main(["export", str(wf), "--out", str(tmp_path / "exp")]) == 0
    assert _key(tmp_path / "exp" / "path.json") == _key(tmp_path / "fill" / "path.json")


def test_a_job_still_holding_the_lent_store_is_never_written_over(home):
    """An asynchronous queue: the job still runs (holds the store's lock) when the submit command
    returns. nafill qlaunch then stops with a one-line reason and never writes its stale copy."""
    from nafill.errors import NafillRunError
    from nafill.workflows.fireworks.launchpad import lend_store, open_launchpad

    store = home / "launchpad_store.json"
    hold = ("import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.lockf(f, fcntl.LOCK_EX); "
            "print('held', flush=True); time.sleep(30)")
    with pytest.raises(NafillRunError, match="local queue adapter.*MongoDB"):
        with open_launchpad() as lp:
            with lend_store(lp):
                job = subprocess.Popen([sys.executable, "-c", hold, str(store) + ".lock"], stdout=subprocess.PIPE,
                                       text=True)
                assert job.stdout.readline().strip() == "held"
                before = store.read_text()
                store.write_text(before + " ")  # the job's write
        # leaving open_launchpad writes nothing: the file stays the job's
    job.kill()
    job.wait()
    assert store.read_text() == before + " "
