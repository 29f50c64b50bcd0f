"""scripts/release-check: the checks of the release workflow, runnable locally."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .conftest import ROOT, docs_helpers, release_check, versions

# Slow: virtualenvs, and a first session downloads the third-party wheels.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SCRIPT = ROOT / "scripts" / "release-check"
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"


def check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        check=False,
    )


def test_the_documented_check_of_one_distribution_passes():
    command = "python3 scripts/release-check spinach-sentry"
    assert command in docs_helpers.page_commands()
    result = check(*command.split()[2:])
    assert result.returncode == 0, result.stdout + result.stderr
    version = versions()["spinach-sentry"]
    assert f"spinach-sentry {version}: version, wheel and sdist OK" in result.stdout
    assert f"spinach-sentry {version}: tests OK" in result.stdout


def test_a_tag_builds_only_its_distribution(tmp_path):
    version = versions()["spinach-redis"]
    result = check(
        "--tag", f"spinach-redis-v{version}", "--skip-tests", "--dist-dir", str(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"spinach_redis-{version}-py3-none-any.whl",
        f"spinach_redis-{version}.tar.gz",
    ]


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        ("spinach-redis-v99.0.0", "the tag asks for version 99.0.0 but the package is at"),
        ("spinach-celery-v1.0.0", "is not a release tag"),
        ("spinach-redis-1.0.0", "is not a release tag"),
    ],
)
def test_a_wrong_tag_fails_before_building(tag, message, tmp_path):
    result = check("--tag", tag, "--skip-tests", "--dist-dir", str(tmp_path))
    assert result.returncode == 1
    assert message in result.stderr
    assert not list(tmp_path.iterdir())


def test_all_wheels_are_checked_and_share_no_file():
    result = check("--all")
    assert result.returncode == 0, result.stderr
    for name in release_check.DISTRIBUTIONS:
        assert f"{name} {versions()[name]}: wheel and sdist OK" in result.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("built")
    return {name: release_check.build(name, folder) for name in ("spinach-core", "spinach-redis")}


def doctor(wheel: Path, tmp_path: Path, add: dict[str, str] = (), drop: str = "") -> Path:
    """A copy of ``wheel`` with files added or dropped."""
    copy = tmp_path / wheel.name
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(copy, "w") as target:
        for item in source.infolist():
            if not (drop and item.filename.startswith(drop)):
                target.writestr(item, source.read(item))
        for name, text in dict(add).items():
            target.writestr(name, text)
    return copy


def test_the_checks_accept_the_real_wheels(built):
    files = release_check.check_wheel(built["spinach-redis"])
    assert any(f.endswith("scripts/enqueue.lua") for f in files)
    assert "spinach/__init__.py" in release_check.check_wheel(built["spinach-core"])


@pytest.mark.parametrize(
    ("name", "add", "drop", "message"),
    [
        ("spinach-redis", {"spinach/__init__.py": ""}, "", "files outside spinach/brokers/redis/"),
        ("spinach-redis", {}, "spinach/brokers/redis/scripts/", "the Lua scripts must be in"),
        (
            "spinach-core",
            {},
            "spinach/contrib/__init__.py",
            "spinach/contrib/__init__.py is missing",
        ),
        ("spinach-core", {"spinach/contrib/datadog/__init__.py": ""}, "", "file list differs"),
        ("spinach-core", {"spinach/extra.lua": ""}, "", "Lua files outside spinach-redis"),
    ],
)
def test_the_checks_refuse_a_wrong_wheel(built, tmp_path, name, add, drop, message):
    real = built[name]
    wrong = release_check.Built(
        name, real.version, doctor(real.wheel, tmp_path, add, drop), real.sdist
    )
    with pytest.raises(release_check.CheckFailed, match=message.replace("/", ".")):
        release_check.check_wheel(wrong)


def test_the_sdist_holds_only_its_distribution(built, tmp_path):
    release_check.check_sdist(built["spinach-redis"])
    broken = tmp_path / "broken"
    shutil.unpack_archive(built["spinach-redis"].sdist, broken)
    [top] = broken.iterdir()
    (top / "src" / "spinach" / "__init__.py").write_text("")
    archive = shutil.make_archive(str(tmp_path / top.name), "gztar", broken)
    wrong = release_check.Built(
        "spinach-redis", built["spinach-redis"].version, None, Path(archive)
    )
    with pytest.raises(release_check.CheckFailed, match="the code is not only"):
        release_check.check_sdist(wrong)


def test_the_release_workflow_checks_the_tag_then_publishes_that_distribution():
    text = WORKFLOW.read_text()
    for name in release_check.DISTRIBUTIONS:
        assert f'- "{name}-v*"' in text
    assert 'python3 scripts/release-check --tag "$GITHUB_REF_NAME" --dist-dir dist' in text
    assert "uses: pypa/gh-action-pypi-publish@release/v1" in text
    assert "packages-dir: dist/" in text
    publish = text.split("  publish:")[1]
    assert "id-token: write" in publish and "id-token" not in text.split("  publish:")[0]
    assert "needs: check" in publish
