"""The site builds without a warning, and every code block it shows is run by a test.

The check reads the doctrees Sphinx wrote, so it sees every block whatever
produced it (a Markdown fence, an ``include``, a docstring of the API
reference).  A block is run by a test when it is

- included from a file of ``docs/examples/`` that a test runs
  (:data:`~helpers.EXAMPLES_RUN`);
- a ``console`` block whose commands a test runs
  (:data:`~helpers.COMMANDS_RUN`);
- code of a docstring, run by ``test_docstrings.py``.

Anything else, a Python block typed into a page for instance, fails.
"""

from __future__ import annotations

import html
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import COMMANDS_RUN, DOCS, EXAMPLES, EXAMPLES_RUN, docstring_blocks

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # builds the whole site


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the site once, as ``hatch run docs:build`` does (warnings are errors)."""
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [
            *(sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html"),
            *("-d", str(out / "doctrees"), str(DOCS), str(out / "html")),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr or result.stdout
    return out


def doctrees(site: Path) -> dict[str, object]:
    return {
        path.relative_to(site / "doctrees").with_suffix("").as_posix(): pickle.loads(
            path.read_bytes()
        )
        for path in (site / "doctrees").rglob("*.doctree")
    }


def test_site_builds_without_warnings(site):
    index = html.unescape(re.sub(r"<[^>]+>", "", (site / "html" / "index.html").read_text()))
    assert 'print(f"Computed {a} + {b} = {a + b}")' in index  # the quickstart is shown
    for page in ("migration", "internals", "api/engine", "integrations/django", "releases"):
        assert (site / "html" / f"{page}.html").exists(), page


def test_every_code_block_is_run_by_a_test(site):
    from docutils import nodes

    docstring_code = {b.text for b in docstring_blocks()}
    untested = []
    shown_examples = set()
    for page, tree in doctrees(site).items():
        for node in tree.findall(nodes.literal_block):
            source = node.get("source")
            text = node.astext()
            if source and Path(source).is_relative_to(EXAMPLES):
                example = Path(source).relative_to(EXAMPLES).as_posix()
                shown_examples.add(example)
                if example not in EXAMPLES_RUN:
                    untested.append(f"{page}: docs/examples/{example} is run by no test")
            elif node.get("language") == "console":
                for line in text.splitlines():
                    command = line[2:].strip()
                    if not line.startswith("$ "):
                        untested.append(f"{page}: console line without '$ ': {line!r}")
                    elif command not in COMMANDS_RUN:
                        untested.append(f"{page}: command run by no test: {command!r}")
            elif text not in docstring_code:
                untested.append(f"{page}: code block run by no test:\n{text}")
        for node in tree.findall(nodes.doctest_block):
            if node.astext() not in docstring_code:
                untested.append(f"{page}: doctest block run by no test:\n{node.astext()}")
    assert not untested, "\n".join(untested)
    assert shown_examples, "no example found: is literalinclude still used?"


def test_every_example_is_registered_with_the_test_that_runs_it():
    files = {
        path.relative_to(EXAMPLES).as_posix()
        for path in EXAMPLES.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert files == set(EXAMPLES_RUN)
    for where in {*EXAMPLES_RUN.values(), *COMMANDS_RUN.values()}:
        if "::" not in where:
            assert (DOCS.parent / where).exists(), where
            continue
        module, name = where.split("::")
        path = Path(__file__).parent / module
        assert re.search(rf"^def {name}\(", path.read_text(), re.M), where


def test_the_readme_says_where_the_docs_are_and_how_to_build_them():
    readme = (DOCS.parent / "README.md").read_text()
    assert "## Documentation" in readme
    assert "hatch run docs:build" in readme
    assert "docs/_build/html/index.html" in readme
