"""The development commands the docs show are the ones CI runs."""

from __future__ import annotations

import ast

from .helpers import COMMANDS_RUN, ROOT, page_commands


def ci_steps() -> list[list[str]]:
    """The hatch commands of scripts/test's STEPS, as CI runs them."""
    tree = ast.parse((ROOT / "scripts" / "test").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "STEPS":
            return [
                [element.value for element in step.elts if isinstance(element, ast.Constant)]
                for step in node.value.elts  # type: ignore[attr-defined]
            ]
    raise AssertionError("scripts/test has no STEPS")


def test_ci_runs_the_documented_commands():
    shown = set(page_commands())
    mine = {
        c
        for c, where in COMMANDS_RUN.items()
        if where.endswith(test_ci_runs_the_documented_commands.__name__)
    }
    assert mine <= shown
    # CI's entry point runs exactly the documented test command.
    assert "exec python3 scripts/test" in (ROOT / ".ci" / "run").read_text()
    assert "python3 scripts/test" in mine
    steps = ci_steps()
    # The documentation build and the release checks are steps of scripts/test.
    assert ["run", "docs:build"] in steps
    assert ".tools/bin/hatch run docs:build" in mine
    assert any(
        step[:1] == ["run"] and "release-check" in " ".join(step) and "--all" in step
        for step in steps
    ), steps
    assert "python3 scripts/release-check --all" in mine
