"""First step of ``scripts/bench``, on any Python 3: get the Python of "ours", run the rest there.

The orchestrator needs redis-py, which the interpreter running
``scripts/bench`` may lack: it runs in the virtualenv of "ours"
(``.bench/venvs/ours``, built on first use), or in the interpreter given
with ``--ours-python`` (the test suite passes its own).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List

SCRIPTS = Path(__file__).resolve().parents[1]


def ours_python(argv: List[str]) -> str:
    for i, arg in enumerate(argv):
        if arg == "--ours-python" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--ours-python="):
            return arg.split("=", 1)[1]
    if any(arg in ("-h", "--help") for arg in argv):
        return sys.executable  # help needs no virtualenv
    from benchkit import venvs

    return str(venvs.ensure_ours())


def main(argv: List[str]) -> None:
    if sys.version_info < (3, 9):  # noqa: UP036 - say it clearly on old Pythons
        sys.exit("scripts/bench needs Python 3.9 or newer; this is " + sys.version)
    python = ours_python(argv)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SCRIPTS), env.get("PYTHONPATH")]))
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    if "--ours-python" not in " ".join(argv):
        argv = [*argv, "--ours-python", python]
    os.execve(python, [python, "-m", "benchkit.orchestrator", *argv], env)
