"""The original ``spinach`` 0.0.x in the same environment is detected, in either order.

The original (from the package index, as users have it) and spinach-core
both install the ``spinach`` package.  Whichever comes second overwrites
files of the first; these tests check that ``import spinach`` then stops with
an ImportError naming the conflict and the fix, instead of running a mix of
the two, and that the fix of the migration guide gives a working
spinach-core back.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from .conftest import docs_helpers, run, versions

# Slow: virtualenvs, and a first session downloads the third-party wheels.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

#: The last release of the original package.
ORIGINAL = "spinach==0.0.25"
UNINSTALL = "pip uninstall spinach"
REINSTALL = "pip install --force-reinstall spinach-core spinach-redis"


@pytest.fixture(scope="session")
def original_wheel(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Path:
    folder = tmp_path_factory.mktemp("original")
    run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(folder),
         ORIGINAL])  # fmt: skip
    [wheel] = folder.glob("spinach-0.0.*.whl")
    return wheel


def install_original(env, wheel: Path) -> None:
    env.pip("install", str(wheel), "--no-index", "--find-links", str(env.wheelhouse))


def assert_conflict_reported(env) -> str:
    error = env.python_code("import spinach", ok=False)
    assert "\nImportError: The original 'spinach' distribution (0.0.25, in " in error, error
    assert "pip uninstall spinach" in error
    assert "pip install --force-reinstall spinach-core" in error
    return error


def assert_fix_works(env) -> None:
    """The commands of the migration guide, as written."""
    assert UNINSTALL in docs_helpers.page_commands()
    assert REINSTALL in docs_helpers.page_commands()
    env.pip(*UNINSTALL.split()[1:], "--yes")
    env.install(REINSTALL)
    assert env.distributions() == {
        "spinach-core": versions()["spinach-core"],
        "spinach-redis": versions()["spinach-redis"],
    }
    out = env.python_code(
        "import spinach\n"
        "from spinach import Engine, MemoryBroker, RedisBroker\n"
        "spin = Engine(MemoryBroker())\n"
        "spin.task(lambda: print('ran'), name='t')\n"
        "spin.schedule('t')\n"
        "spin.start_workers(stop_when_queue_empty=True)\n"
        "print(spinach.__version__)\n"
    )
    assert out == f"ran\n{versions()['spinach-core']}\n"
    # spinach.const is ours again, and a module to use, as it was in the original.
    out = env.python_code(
        "import spinach.const as const\n"
        "print(const.__file__.endswith('spinach/const/__init__.py'), const.DEFAULT_QUEUE)\n"
    )
    assert out == "True spinach\n"


def test_original_first_then_spinach_core(make_venv, original_wheel):
    env = make_venv()
    install_original(env, original_wheel)
    env.install("pip install spinach-core spinach-redis")
    # Our __init__.py replaced the original's: it finds the original's metadata.
    error = assert_conflict_reported(env)
    assert "spinach/const" not in error
    assert_fix_works(env)


@pytest.mark.parametrize("ours", ["spinach-core spinach-redis", "spinach-core"])
def test_ours_first_then_original(make_venv, original_wheel, ours):
    env = make_venv()
    env.install(f"pip install {ours}")
    install_original(env, original_wheel)
    # The original's __init__.py replaced ours; its code imports .const, which
    # is our const package (a directory wins over its const.py): it reports
    # the conflict before any of the original's code can run on.
    error = assert_conflict_reported(env)
    assert "spinach/const/__init__.py" in error
    [original_const] = env.path.glob("lib/python*/site-packages/spinach/const.py")
    assert original_const.is_file()
    assert_fix_works(env)
