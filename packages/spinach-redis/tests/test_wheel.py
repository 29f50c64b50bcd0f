"""The spinach-redis wheel ships its subpackage and Lua scripts, nothing else."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from spinach.brokers.redis.scripts import SCRIPT_NAMES

PACKAGE = Path(__file__).resolve().parents[1]


def test_wheel_contents(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path)],
        cwd=PACKAGE,
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("spinach_redis-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    files = [n for n in names if ".dist-info/" not in n]
    assert files and all(n.startswith("spinach/brokers/redis/") for n in files), files
    lua = {n for n in files if n.endswith(".lua")}
    expected = {f"spinach/brokers/redis/scripts/{name}.lua" for name in (*SCRIPT_NAMES, "_common")}
    assert lua == expected
    assert "spinach/brokers/redis/py.typed" in files
    assert "spinach/brokers/redis/__init__.py" in files
    metadata = (
        zipfile.ZipFile(wheel)
        .read(next(n for n in names if n.endswith(".dist-info/METADATA")))
        .decode()
    )
    assert "Requires-Dist: spinach-core" in metadata
    assert "Requires-Dist: redis>=5.0" in metadata
    assert "Provides-Extra: hiredis" in metadata
