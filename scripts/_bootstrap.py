"""Shared by scripts/test and scripts/demo: get hatch, with nothing but Python 3.

Hatch is installed into ``.tools/`` at the root of the checkout (once), and
hatch itself creates the project environments from ``hatch.toml``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"
HATCH_SPEC = "hatch>=1.16,<2"


def _bin(name: str) -> Path:
    folder = "Scripts" if os.name == "nt" else "bin"
    return TOOLS / folder / name


def hatch() -> str:
    """Return the path of a working hatch, installing it into .tools/ if needed."""
    exe = _bin("hatch")
    if not exe.exists():
        if sys.version_info < (3, 9):  # noqa: UP036 - say it clearly on old Pythons
            sys.exit("Spinach needs Python 3.9 or newer to develop; this is " + sys.version)
        print(f"[bootstrap] installing {HATCH_SPEC} into {TOOLS}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(TOOLS)
        subprocess.run(
            [
                str(_bin("python")),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                HATCH_SPEC,
            ],
            check=True,
        )
    return str(exe)


def run(args: list[str]) -> int:
    """Run ``hatch <args>`` from the root of the checkout and return its exit code."""
    env = dict(os.environ)
    env.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    return subprocess.run([hatch(), *args], cwd=ROOT, env=env, check=False).returncode
