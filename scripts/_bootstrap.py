"""Shared by scripts/test and scripts/demo: get hatch, with nothing but Python 3.

Hatch is installed into ``.tools/`` at the root of the checkout (once), and
hatch itself creates the project environments from ``hatch.toml``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

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


def remove_venv_redirect(root: Path = ROOT) -> bool:
    """Remove a ``.venv`` *file* that virtualenv wrote at ``root``; return whether it did.

    virtualenv writes such a file (a PEP 832 redirect naming the environment)
    when it creates an environment in a folder holding a ``pyproject.toml``
    and no ``.venv`` yet.  The environments of hatch.toml now live under
    ``.venvs/`` so that it never happens, but checkouts where the demo ran
    first with the former layout (``.venv-demo`` beside ``.venv``) still have
    one, and hatch cannot create the default environment at ``.venv`` while
    it is there.  Only a file naming an environment beside it is removed.
    """
    redirect = root / ".venv"
    if redirect.is_symlink() or not redirect.is_file():
        return False
    try:
        target = redirect.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return False
    if not target or "/" in target or "\\" in target:
        return False
    if not (root / target / "pyvenv.cfg").is_file():
        return False
    print(f"[bootstrap] removing {redirect}: a redirect to {target}/ by virtualenv", flush=True)
    redirect.unlink()
    return True


def run(args: list[str]) -> int:
    """Run ``hatch <args>`` from the root of the checkout and return its exit code."""
    return start(args).wait()


def start(args: list[str], **popen: Any) -> subprocess.Popen[bytes]:
    """Start ``hatch <args>`` from the root of the checkout (``popen``: more Popen arguments)."""
    remove_venv_redirect()
    env = dict(os.environ)
    env.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    return subprocess.Popen([hatch(), *args], cwd=ROOT, env=env, **popen)


def ensure_redis_server() -> None:
    """Make sure redis-server is on PATH, installing it on Debian/Ubuntu if needed."""
    if shutil.which("redis-server") and shutil.which("redis-cli"):
        return
    apt = shutil.which("apt-get")
    if apt:
        prefix: list[str] = []
        if hasattr(os, "geteuid") and os.geteuid() != 0:
            sudo = shutil.which("sudo")
            prefix = [sudo, "-n"] if sudo else []
        if prefix or (hasattr(os, "geteuid") and os.geteuid() == 0):
            print("[bootstrap] redis-server is missing: installing it with apt-get", flush=True)
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            subprocess.run([*prefix, apt, "-qq", "update"], env=env, check=False)
            done = subprocess.run(
                [*prefix, apt, "install", "-y", "-qq", "redis-server"], env=env, check=False
            )
            if done.returncode == 0 and shutil.which("redis-server"):
                return
    sys.exit(
        "redis-server is needed by the Redis tests (they start their own servers on free "
        "ports) and could not be installed automatically.\n"
        "  Debian/Ubuntu: sudo apt-get install -y redis-server\n"
        "  Fedora:        sudo dnf install -y redis\n"
        "  macOS:         brew install redis\n"
        "Or run the tests without Redis: python3 scripts/test -m 'not redis'"
    )
