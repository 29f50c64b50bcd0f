"""Tripwire for the original ``spinach`` distribution (0.0.x); not a module to use.

The original package had a ``spinach/const.py`` module, imported whenever
``import spinach`` runs its code.  When the original is installed *after*
spinach-core, its ``spinach/__init__.py`` replaces ours and none of our
code would run; but a package directory wins over a module file of the same
name, so the original's ``from .const import ...`` lands here, and importing
:mod:`spinach._conflict` reports the conflict instead of letting the
original's code run silently among leftovers of ours.

spinach-core has no ``spinach.const`` module: importing this always fails.
"""

import spinach._conflict  # noqa: F401 - raises if the original is installed

raise ImportError(
    "spinach.const was a module of the original 'spinach' distribution (0.0.x); "
    "spinach-core has no such module (see 'Migrating from spinach 0.0.x' in the "
    "documentation)",
    name="spinach.const",
)
