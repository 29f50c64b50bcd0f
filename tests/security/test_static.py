"""Static guarantees of the library: no code is ever built from data.

No module unpickles or evaluates anything, and the Redis broker's Lua
scripts are the static files of its package: every value reaches them as an
argument, never as script text.
"""

from __future__ import annotations

import ast
from importlib import resources
from pathlib import Path

import pytest

LIBRARY = sorted(
    p
    for package in (Path(__file__).resolve().parents[2] / "packages").iterdir()
    for p in (package / "src").rglob("*.py")
)


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(p.parents[3])))
def test_no_library_module_unpickles_or_evaluates(path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            assert not {"pickle", "marshal", "shelve", "dill", "cloudpickle"} & {
                n.split(".")[0] for n in names
            }, f"{path}: imports a deserialiser that runs code"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in {"eval", "exec", "compile"}, (
                f"{path}:{node.lineno}: calls {node.func.id}()"
            )
            if node.func.id == "__import__":  # only the namespace idiom of DESIGN.md
                assert [a.value for a in node.args if isinstance(a, ast.Constant)] == ["pkgutil"], (
                    f"{path}:{node.lineno}: dynamic import"
                )


def test_lua_scripts_are_the_static_package_files():
    SCRIPT_NAMES, scripts = _scripts()
    folder = resources.files("spinach.brokers.redis").joinpath("scripts")
    common = folder.joinpath("_common.lua").read_text()
    for name in SCRIPT_NAMES:
        body = folder.joinpath(f"{name}.lua").read_text()
        source = scripts.sources[name]
        assert source.endswith("\n" + body)
        # The prelude is paragraphs of _common.lua, verbatim and in order.
        paragraphs = iter(common.split("\n\n"))
        prelude = source[: -len(body) - 1].split("\n\n")
        assert all(paragraph in paragraphs for paragraph in prelude), name
        assert prelude[0] == common.split("\n\n")[0]
        # Values come in ARGV, never as script text: no dynamic Lua code.
        for forbidden in ("loadstring", "load(", "dofile", "setfenv"):
            assert forbidden not in body and forbidden not in common


def _scripts():
    from spinach.brokers.redis.scripts import SCRIPT_NAMES, Scripts

    return SCRIPT_NAMES, Scripts()
