"""spinach-core refuses to run beside the original ``spinach`` 0.0.x distribution.

The full story (both install orders with the real original from PyPI) is in
``tests/packaging/test_original_spinach.py``; these tests pin the detection
itself without installing anything.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from spinach._conflict import find_original_spinach, original_spinach_message


def make_site(tmp_path: Path, *names: str) -> Path:
    """A folder holding a ``spinach`` package directory and metadata folders."""
    site = tmp_path / "site"
    (site / "spinach").mkdir(parents=True)
    for name in names:
        (site / name).mkdir()
    return site


@pytest.mark.parametrize(
    ("metadata", "version"),
    [
        ("spinach-0.0.25.dist-info", "0.0.25"),
        ("spinach-0.0.17.dist-info", "0.0.17"),
        ("spinach-0.0.9-py3.11.egg-info", "0.0.9"),
        ("Spinach-0.0.25.dist-info", "0.0.25"),
        ("spinach.egg-info", "unknown version"),
    ],
)
def test_the_original_metadata_is_found(tmp_path, metadata, version):
    site = make_site(tmp_path, "blinker-1.9.0.dist-info", metadata)
    assert find_original_spinach([str(site / "spinach")]) == (version, str(site))


@pytest.mark.parametrize(
    "metadata",
    [
        "spinach_core-0.1.0.dist-info",
        "spinach_redis-0.1.0.dist-info",
        "spinach_django-0.1.0.dist-info",
        "spinachlang-0.4.1.dist-info",
        "spinach-0.0.25.dist-info.tmp",
    ],
)
def test_our_distributions_and_other_names_are_not_the_original(tmp_path, metadata):
    site = make_site(tmp_path, metadata)
    assert find_original_spinach([str(site / "spinach")]) is None


def test_missing_folders_are_ignored(tmp_path):
    assert find_original_spinach([str(tmp_path / "nowhere" / "spinach")]) is None


def test_the_message_names_the_conflict_and_the_fix():
    message = original_spinach_message("0.0.25", "/venv/site-packages")
    assert "'spinach' distribution (0.0.25, in /venv/site-packages)" in message
    assert "pip uninstall spinach" in message
    assert "pip install --force-reinstall spinach-core" in message


def run_python(code: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    prelude = f"import sys; sys.path[:0] = {[str(p) for p in paths]!r}\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=60
    )


def test_import_spinach_fails_when_the_original_shares_a_folder_of_the_namespace(tmp_path):
    # A folder earlier on sys.path with a spinach/ directory (no __init__.py) and
    # the original's metadata: pkgutil.extend_path adds it to spinach.__path__.
    site = make_site(tmp_path, "spinach-0.0.25.dist-info")
    result = run_python("import spinach", site)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()
    assert any(
        line.startswith("ImportError: The original 'spinach' distribution (0.0.25") for line in last
    ), result.stderr
    assert "pip uninstall spinach" in result.stderr


def test_import_spinach_works_beside_our_own_distributions(tmp_path):
    site = make_site(tmp_path, "spinach_core-0.1.0.dist-info", "spinach_redis-0.1.0.dist-info")
    result = run_python("import spinach; print(spinach.Engine.__name__)", site)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Engine"


def test_spinach_const_is_a_module_beside_our_own_distributions(tmp_path):
    site = make_site(tmp_path, "spinach_core-0.1.0.dist-info")
    result = run_python("from spinach.const import DEFAULT_QUEUE; print(DEFAULT_QUEUE)", site)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "spinach"


def replaced_package(*path: Path) -> str:
    """Code making ``spinach`` a foreign package, as after the original overwrote ours.

    The original's ``__init__.py`` imports ``.const``: the parent package is
    theirs and the import lands on our ``const`` package directory.
    """
    return (
        "import os, sys, types\n"
        "import spinach\n"
        "ours = os.path.dirname(spinach.__file__)\n"
        "for name in [m for m in sys.modules if m.startswith('spinach')]:\n"
        "    del sys.modules[name]\n"
        "original = sys.modules['spinach'] = types.ModuleType('spinach')\n"
        f"original.__path__ = [*{[str(p) for p in path]!r}, ours]\n"
        "from spinach.const import DEFAULT_QUEUE\n"
        "print('the foreign package got', DEFAULT_QUEUE)\n"
    )


def test_const_reports_the_original_when_its_code_imports_const(tmp_path):
    site = make_site(tmp_path, "spinach-0.0.25.dist-info")
    result = run_python(replaced_package(site / "spinach"))
    assert result.returncode == 1
    assert "ImportError: The original 'spinach' distribution (0.0.25" in result.stderr, (
        result.stderr
    )
    assert "spinach/const/__init__.py" in result.stderr
    assert "the foreign package got" not in result.stdout


def test_const_refuses_a_foreign_package_even_without_the_original_metadata(tmp_path):
    # The metadata may live elsewhere (or be gone): the package importing
    # const is not ours all the same, since ours imports _conflict first.
    site = make_site(tmp_path, "unrelated-1.0.dist-info")
    result = run_python(replaced_package(site / "spinach"))
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-5:]
    assert any(
        line.startswith("ImportError: The 'spinach' package being imported") for line in last
    ), result.stderr
    assert "is not spinach-core's" in result.stderr
    assert "pip uninstall spinach" in result.stderr
    assert "pip install --force-reinstall spinach-core" in result.stderr
    assert "the foreign package got" not in result.stdout
