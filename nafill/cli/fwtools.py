"""``nafill lpad|rlaunch|qlaunch ...``: FireWorks' own tools, safe on the embedded store.

Plain ``lpad``/``rlaunch`` with ``MONGOMOCK_SERVERSTORE_FILE`` rewrite the whole store in place
when they exit (an interrupted write leaves 0 bytes), take no lock (a second process overwrites
the first's work) and open a second in-memory copy of the store when a task asks for a LaunchPad.
Through nafill they run in this process with the store's lock held, one shared in-memory store,
a damaged file refused, and the store written back atomically (previous state kept as ``.bak``).
``rlaunch`` first re-runs Fireworks left RUNNING by a killed process (the lock proves they are
lost). ``qlaunch`` lends the store to each job it submits (written and unlocked before the
queue adapter's submit command, locked and re-read after it: :func:`~nafill.workflows.fireworks.
launchpad.lend_store`), so a local adapter whose submit command runs the job (``rlaunch
singleshot``, plain or ``nafill rlaunch``) before returning works like ``nafill run``; a real,
asynchronous queue needs a MongoDB LaunchPad. Everything after the verb goes to FireWorks
unchanged; with ``-l FILE`` (a real MongoDB) the tool runs as it would on its own.
"""

from __future__ import annotations

import contextlib

import click

from nafill.cli.options import NONEMPTY_PATH

TOOLS = {
    "lpad": "fireworks.scripts.lpad_run:lpad",
    "rlaunch": "fireworks.scripts.rlaunch_run:rlaunch",
    "qlaunch": "fireworks.scripts.qlaunch_run:qlaunch",
}


def _entry(tool: str):
    import importlib

    module, attr = TOOLS[tool].split(":")
    return getattr(importlib.import_module(module), attr)


def _call(fn, argv: list[str]) -> int:
    try:
        rv = fn(argv)
    except SystemExit as exc:  # argparse and the tools exit on their own
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return rv if isinstance(rv, int) else 0


def run_tool(tool: str, argv: list[str], store=None) -> int:
    """Run FireWorks' ``tool`` with ``argv`` on the embedded store (or as is with ``-l``)."""
    from nafill.workflows.engine.parallel import install_signal_handlers
    from nafill.workflows.fireworks import env
    from nafill.workflows.fireworks.launchpad import (
        _server_store,
        flush,
        launchpad_file_from_env,
        open_launchpad,
    )
    from nafill.workflows.fireworks.runner import recover_lost_runs

    fn = _entry(tool)
    if any(a in ("-l", "--launchpad_file") or a.startswith("--launchpad_file=") for a in argv) or (
            store is None and launchpad_file_from_env(None) is not None):
        env.use_mongodb()
        return _call(fn, argv)
    if any(a in ("-h", "--help") for a in argv):
        return _call(fn, argv)
    install_signal_handlers()
    with open_launchpad(None, store=store) as lp:
        server = _server_store(lp)
        if tool == "rlaunch":
            lost = recover_lost_runs(lp, embedded=True)
            if lost:
                click.echo(f"nafill: re-running Firework(s) lost by a killed process: {lost}", err=True)
            original_ping = env.rocket.start_ping_launch
            env.rocket.start_ping_launch = lambda launchpad, launch_id: None  # mongomock is not thread-safe
            try:
                rc = _call(fn, argv)
            finally:
                env.rocket.start_ping_launch = original_ping
        elif tool == "qlaunch":
            with _jobs_borrow_the_store(lp):
                rc = _call(fn, argv)
        else:
            rc = _call(fn, argv)
        if server is not None:
            flush(lp)
    return rc


@contextlib.contextmanager
def _jobs_borrow_the_store(lp):
    """While FireWorks' queue launcher runs: every queue adapter it loads submits with the store
    lent to the job (:func:`~nafill.workflows.fireworks.launchpad.lend_store`)."""
    from fireworks.queue import queue_launcher

    from nafill.workflows.fireworks.launchpad import lend_store

    original = queue_launcher.load_object

    def load_object(d):
        obj = original(d)
        submit = getattr(obj, "submit_to_queue", None)
        if submit is not None:
            def submit_lending(script_file, *a, **kw):
                with lend_store(lp):
                    return submit(script_file, *a, **kw)

            obj.submit_to_queue = submit_lending
        return obj

    queue_launcher.load_object = load_object
    try:
        yield
    finally:
        queue_launcher.load_object = original


def _tool_command(tool: str, summary: str):
    @click.command(tool, context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                           "help_option_names": []}, help=summary)
    @click.option("--store", "store", type=NONEMPTY_PATH, default=None,
                  help="Embedded store file or run folder [default: $NAFILL_LAUNCHPAD_STORE, else "
                       "~/.nafill/launchpad_store.json].")
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def cmd(store, args):
        rc = run_tool(tool, list(args), store)
        if rc:
            raise SystemExit(rc)

    return cmd


lpad_cmd = _tool_command("lpad", "FireWorks' lpad on the embedded store, locked and written atomically "
                                  "(e.g. nafill lpad get_wflows; nafill lpad --store runs/c182 get_fws -s FIZZLED).")
rlaunch_cmd = _tool_command("rlaunch", "FireWorks' rlaunch on the embedded store, locked and written atomically "
                                       "(e.g. nafill rlaunch rapidfire).")
qlaunch_cmd = _tool_command("qlaunch", "FireWorks' qlaunch on the embedded store, lent to each job a local queue "
                                       "adapter runs (e.g. nafill qlaunch -q my_local_qadapter.yaml rapidfire); "
                                       "a real queue needs a MongoDB LaunchPad (-l).")
