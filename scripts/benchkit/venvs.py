"""One virtualenv per system under ``.bench/venvs/<name>`` (git-ignored).

A virtualenv is (re)built when its requirements change: the list is kept
in ``bench-requirements.txt`` inside it.  "ours" installs the packages of
this checkout in editable mode, so it always runs the code of the work tree.
Standard library only: this runs before any virtualenv exists.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path
from typing import List

ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = ROOT / ".bench"
VENVS = BENCH_DIR / "venvs"

#: "ours": the distributions of this checkout, with hiredis like every other system.
OURS_REQUIREMENTS = [
    "-e",
    str(ROOT / "packages" / "spinach-core"),
    "-e",
    str(ROOT / "packages" / "spinach-redis") + "[hiredis]",
    "hiredis==3.5.0",
]


def python_of(folder: Path) -> Path:
    return folder / ("Scripts" if os.name == "nt" else "bin") / "python"


def ensure(name: str, requirements: List[str], log: bool = True) -> Path:
    """The Python of the virtualenv ``name``, built with ``requirements`` if needed."""
    folder = VENVS / name
    stamp = folder / "bench-requirements.txt"
    wanted = "\n".join(requirements) + "\n"
    if name == "ours":  # editable installs: rebuild when their metadata changes
        for package in ("spinach-core", "spinach-redis"):
            project = (ROOT / "packages" / package / "pyproject.toml").read_bytes()
            wanted += f"# {package} {hashlib.sha1(project).hexdigest()}\n"
    python = python_of(folder)
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    if log:
        print(f"[bench] installing {name} into {folder}: {' '.join(requirements)}", flush=True)
    if folder.exists():
        shutil.rmtree(folder)
    venv.EnvBuilder(with_pip=True, clear=True).create(folder)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *requirements],
        env=env,
        check=False,
    )
    if done.returncode:
        shutil.rmtree(folder, ignore_errors=True)
        raise InstallError(f"pip could not install {name}: {' '.join(requirements)}")
    stamp.write_text(wanted)
    return python


def ensure_ours() -> Path:
    return ensure("ours", OURS_REQUIREMENTS)


class InstallError(RuntimeError):
    """A virtualenv could not be built; the system is reported as n/a."""


def describe(python: Path | str, distributions: List[str]) -> dict:
    """Versions of ``distributions`` in the environment of ``python``."""
    code = (
        "import json, sys, importlib.metadata as m\n"
        "out = {'python': sys.version.split()[0]}\n"
        "for d in sys.argv[1:]:\n"
        "    try: out[d] = m.version(d)\n"
        "    except m.PackageNotFoundError: out[d] = None\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [str(python), "-c", code, *distributions], capture_output=True, text=True, check=False
    )
    if done.returncode:
        return {"error": done.stderr.strip()[-500:]}
    result: dict = json.loads(done.stdout)
    return result


if __name__ == "__main__":  # pragma: no cover - manual use: python -m benchkit.venvs NAME
    from benchkit.systems import BY_NAME

    for arg in sys.argv[1:]:
        reqs = BY_NAME[arg].requirements
        print(ensure(arg, OURS_REQUIREMENTS if reqs is None else reqs))
