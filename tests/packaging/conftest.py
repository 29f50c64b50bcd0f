"""Built wheels and fresh virtualenvs, shared by the packaging tests of a session.

The six wheels are built once, from this checkout, into a *wheelhouse*
together with the third-party distributions they depend on (downloaded once
from the package index, then served by pip's cache).  Every installation in
these tests uses ``--no-index --find-links <wheelhouse>``, so a
``spinach-*`` distribution can only come from this checkout, and the commands
of the documentation run otherwise as written.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import re
import shlex
import subprocess
import sys
import venv
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def load_script(name: str, path: Path) -> ModuleType:
    """Import a file (a script without ``.py``, a helper of another suite) as a module."""
    if name in sys.modules:
        return sys.modules[name]
    loader = importlib.machinery.SourceFileLoader(name, str(path))
    spec = importlib.util.spec_from_loader(name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


release_check = load_script("spinach_release_check", ROOT / "scripts" / "release-check")
docs_helpers = load_script("spinach_docs_helpers", ROOT / "tests" / "docs" / "helpers.py")


def run(command: list[str], timeout: float = 600, **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )
    assert result.returncode == 0, f"{shlex.join(command)}\n{result.stdout}\n{result.stderr}"
    return result


def third_party_requirements(wheels: list[Path]) -> list[str]:
    """The dependencies of our wheels, with every extra, that are not ours."""
    found = []
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            metadata = archive.read(name).decode()
        for line in re.findall(r"^Requires-Dist: (.+)$", metadata, re.M):
            requirement = Requirement(line)
            if not requirement.name.startswith("spinach"):
                requirement.marker = None  # every extra: the wheelhouse serves them all
                found.append(str(requirement))
    return sorted(set(found))


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Our six wheels, built from this checkout, and every third-party dependency."""
    folder = tmp_path_factory.mktemp("wheelhouse")
    ours = [release_check.build(name, folder).wheel for name in release_check.DISTRIBUTIONS]
    for sdist in folder.glob("*.tar.gz"):
        sdist.unlink()
    download = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(folder)]
    run([*download, *third_party_requirements(ours)])
    return folder


@dataclass
class Venv:
    """A fresh virtualenv, driven by the pip of the test environment."""

    path: Path
    wheelhouse: Path

    @property
    def python(self) -> str:
        return str(self.path / ("Scripts" if os.name == "nt" else "bin") / "python")

    def pip(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``pip <args>`` for this virtualenv, as the docs write it."""
        return run([sys.executable, "-m", "pip", "--python", self.python, *args])

    def install(self, command: str, *extra: str) -> subprocess.CompletedProcess[str]:
        """Run a documented ``pip install ...`` command, from the wheelhouse only."""
        words = shlex.split(command)
        assert words[:2] == ["pip", "install"], command
        return self.pip(
            "install", *words[2:], *extra, "--no-index", "--find-links", str(self.wheelhouse)
        )

    def distributions(self) -> dict[str, str]:
        """``{name: version}`` of the spinach distributions installed."""
        out = self.python_code(
            "import importlib.metadata as m\n"
            "for d in m.distributions():\n"
            "    if d.metadata['Name'].startswith('spinach'):\n"
            "        print(d.metadata['Name'], d.version)\n"
        )
        return dict(line.split() for line in out.splitlines())

    def python_code(self, code: str, env: dict[str, str] | None = None, ok: bool = True) -> str:
        """Run Python code in the virtualenv (outside the checkout) and return its stdout."""
        result = subprocess.run(
            [self.python, "-c", code],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.path,
            env=docs_helpers.clean_env(**(env or {})),
            check=False,
        )
        if ok:
            assert result.returncode == 0, result.stderr
            return result.stdout
        assert result.returncode != 0, result.stdout
        return result.stderr


@pytest.fixture
def make_venv(tmp_path: Path, wheelhouse: Path) -> Callable[[], Venv]:
    def make(name: str = "venv") -> Venv:
        path = tmp_path / name
        venv.EnvBuilder(with_pip=False).create(path)
        return Venv(path, wheelhouse)

    return make


def versions() -> dict[str, str]:
    return {name: release_check.version_of(name) for name in release_check.DISTRIBUTIONS}
