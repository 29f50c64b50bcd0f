"""The spinach-django wheel ships its own subpackage and nothing of spinach-core."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]


def test_wheel_ships_only_its_subpackage(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path)],
        cwd=PACKAGE,
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("spinach_django-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    code = sorted(n for n in names if ".dist-info/" not in n)
    prefix = "spinach/contrib/spinachd/"
    assert code == [
        prefix + name
        for name in (
            "__init__.py",
            "_email.py",
            "_version.py",
            "apps.py",
            "conf.py",
            "db.py",
            "engine.py",
            "mail.py",
            "management/__init__.py",
            "management/commands/__init__.py",
            "management/commands/spinach.py",
            "py.typed",
            "sessions.py",
            "tasks.py",
            "transaction.py",
        )
    ]
    metadata = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith(".dist-info/METADATA"))
    )
    text = metadata.decode()
    assert "Requires-Dist: spinach-core" in text
    assert "Requires-Dist: django" in text
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
