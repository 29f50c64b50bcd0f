"""Sphinx configuration of the Spinach documentation.

Build it with ``hatch run docs:build`` (warnings are errors).  The API
reference imports every distribution of the workspace, so build it in an
environment where all of them are installed (the ``docs`` hatch env).
Nothing is fetched from the network: the site builds offline.
"""

from __future__ import annotations

import importlib.metadata

project = "Spinach"
author = "Spinach maintainers"
copyright = "Spinach maintainers, BSD 2-Clause licence"
release = version = importlib.metadata.version("spinach-core")

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "examples"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# The docstrings use Sphinx's own field lists (:arg x:, :return:), no napoleon.
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autoclass_content = "class"
add_module_names = False
python_use_unqualified_type_names = True

html_theme = "furo"
html_title = f"Spinach {release}"
html_static_path: list[str] = []
