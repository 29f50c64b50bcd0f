"""The README's two commands work on a fresh clone, in either order.

``python3 scripts/demo`` then ``python3 scripts/test`` once failed at once:
creating the demo's environment (``.venv-demo``) made virtualenv write a
``.venv`` redirect file (PEP 832) at the root, where the test environment
``.venv`` was to be created.  ``.ci/run`` runs both commands, demo first, on
CI's clean clone; these tests pin the causes down without creating the
environments themselves.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11: hatchling's dependency
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[2]


def load_bootstrap() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "spinach_scripts_bootstrap", ROOT / "scripts" / "_bootstrap.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bootstrap = load_bootstrap()


def environment_paths() -> dict[str, str]:
    """``{name: path}`` of the environments of hatch.toml."""
    config = tomllib.loads((ROOT / "hatch.toml").read_text())
    return {name: env["path"] for name, env in config["envs"].items() if "path" in env}


def test_only_the_default_environment_sits_beside_pyproject_toml():
    paths = environment_paths()
    assert paths["default"] == ".venv"
    assert (ROOT / "pyproject.toml").is_file()
    beside = {name: path for name, path in paths.items() if Path(path).parent == Path(".")}
    assert beside == {"default": ".venv"}, (
        "an environment created beside .venv makes virtualenv write a .venv redirect "
        f"file when it is created first: {beside}"
    )
    # Each other one in a folder of its own, with no pyproject.toml in it.
    for name, path in paths.items():
        if name != "default":
            assert Path(path).parts[0] == ".venvs", (name, path)
            assert not (ROOT / Path(path).parent / "pyproject.toml").exists()


def hatch_virtualenv() -> list[str]:
    """The virtualenv that hatch runs, from the .tools/ that the scripts install."""
    python = bootstrap.TOOLS / ("Scripts" if sys.platform == "win32" else "bin") / "python"
    if not python.exists():
        pytest.fail(
            f"{python} is missing: run `python3 scripts/test` once, it installs hatch "
            "(and its virtualenv) into .tools/",
            pytrace=False,
        )
    return [str(python), "-m", "virtualenv", "--quiet", "--no-seed", "--no-periodic-update"]


def test_demo_then_tests_with_the_virtualenv_hatch_uses(tmp_path):
    """Create the environments of hatch.toml, the demo's first, in a copy of the root."""
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    paths = environment_paths()
    order = ["demo", *[name for name in paths if name not in ("demo", "default")], "default"]
    for name in order:
        done = subprocess.run(
            [*hatch_virtualenv(), str(tmp_path / paths[name])],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"creating {name}: {done.stdout}{done.stderr}"
        assert (tmp_path / paths[name] / "pyvenv.cfg").is_file()
    assert (tmp_path / ".venv").is_dir()


def make_env(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "pyvenv.cfg").write_text("home = /usr/bin\nvirtualenv = 21.0.0\n")


def test_a_stale_redirect_is_removed(tmp_path, capsys):
    make_env(tmp_path / ".venv-demo")
    (tmp_path / ".venv").write_text(".venv-demo\n")
    assert bootstrap.remove_venv_redirect(tmp_path) is True
    assert not (tmp_path / ".venv").exists()
    assert (tmp_path / ".venv-demo" / "pyvenv.cfg").is_file()  # the environment stays
    assert "removing" in capsys.readouterr().out


@pytest.mark.parametrize(
    "content",
    ["", "\n", "nowhere\n", "../elsewhere\n", "a/b\n", "keep me, I am a user's file\n"],
)
def test_anything_else_named_venv_is_left_alone(tmp_path, content):
    make_env(tmp_path / "a" / "b")
    (tmp_path / ".venv").write_text(content)
    assert bootstrap.remove_venv_redirect(tmp_path) is False
    assert (tmp_path / ".venv").read_text() == content


def test_the_default_environment_itself_is_left_alone(tmp_path):
    make_env(tmp_path / ".venv")
    assert bootstrap.remove_venv_redirect(tmp_path) is False
    assert (tmp_path / ".venv" / "pyvenv.cfg").is_file()
    assert bootstrap.remove_venv_redirect(tmp_path / "missing") is False


def readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```\n(.*?)```", readme, re.S)
    assert first_block is not None
    return [line.split("#")[0].strip() for line in first_block[1].splitlines() if line.strip()]


def test_ci_runs_the_readme_commands_demo_first():
    assert readme_commands() == ["python3 scripts/demo", "python3 scripts/test"]
    script = (ROOT / ".ci" / "run").read_text().splitlines()
    commands = [
        line.removeprefix("exec ").strip()
        for line in script
        if line.strip() and not line.startswith("#") and "scripts/" in line
    ]
    assert commands == readme_commands()
    assert "set -euo pipefail" in script  # the demo failing fails CI
