"""The spinach-sentry wheel ships its own subpackage and nothing of the namespace."""

from __future__ import annotations

import email
import subprocess
import sys
import zipfile
from pathlib import Path

from spinach.contrib.sentry_sdk_spinach import __version__

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
SUBPACKAGE = "spinach/contrib/sentry_sdk_spinach"


def build_wheel(directory: Path) -> Path:
    """Build the wheel with hatchling's PEP 517 hook, as any frontend would."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, hatchling.build as b; print(b.build_wheel(sys.argv[1]))",
            str(directory),
        ],
        cwd=PACKAGE_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return directory / result.stdout.strip().splitlines()[-1]


def test_wheel_file_list(tmp_path):
    wheel = build_wheel(tmp_path)
    assert wheel.name == f"spinach_sentry-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = email.message_from_bytes(
            archive.read(f"spinach_sentry-{__version__}.dist-info/METADATA")
        )

    dist_info = {n for n in names if n.startswith("spinach_sentry-")}
    assert names - dist_info == {
        f"{SUBPACKAGE}/__init__.py",
        f"{SUBPACKAGE}/_privacy.py",
        f"{SUBPACKAGE}/_version.py",
        f"{SUBPACKAGE}/py.typed",
    }
    # Never a shared __init__.py: those belong to spinach-core.
    assert "spinach/__init__.py" not in names
    assert "spinach/contrib/__init__.py" not in names
    assert f"spinach_sentry-{__version__}.dist-info/licenses/LICENSE" in names

    assert metadata["Name"] == "spinach-sentry"
    assert metadata["Version"] == __version__
    assert sorted(metadata.get_all("Requires-Dist")) == ["sentry-sdk>=2", "spinach-core"]
