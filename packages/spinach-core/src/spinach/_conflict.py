"""Refuse to run beside the original ``spinach`` distribution (0.0.x).

The original package and spinach-core both install files into the
``spinach`` directory: whichever is installed last overwrites the other's
modules, leftovers of both stay side by side, and uninstalling one deletes
files of the other.  Such an environment is broken in ways that show up
late and far from the cause, so importing Spinach stops at once with an
:class:`ImportError` that names the conflict and the fix.

The check must cost nearly nothing: it imports nothing (``importlib.metadata``
would add milliseconds to every ``import spinach``) and lists only the
directories holding the ``spinach`` package, looking for the original's
``spinach-<version>.dist-info`` (or ``.egg-info``).  Our own distributions
never match: their metadata folders are ``spinach_core-...``,
``spinach_redis-...``, and so on.

The check runs when this module is first imported, which
``spinach/__init__.py`` does before anything else.  This module has a name
the original never used, so it survives when the original overwrites
spinach-core's files, and :mod:`spinach.const` imports it too: the
original's ``__init__.py`` imports ``.const``, which then stops with the same
error (and with :func:`raise_foreign_package` if the original's metadata
cannot be found).
"""

from __future__ import annotations

import os
import re
import sys
from types import ModuleType
from typing import Iterable, NoReturn, Optional, Tuple

__all__ = [
    "check_no_original_spinach",
    "find_original_spinach",
    "original_spinach_message",
    "raise_foreign_package",
]

_ORIGINAL_METADATA = re.compile(r"spinach(?:-(\d[^-]*)(?:-py[^-]*)?)?\.(?:dist|egg)-info", re.I)


def find_original_spinach(package_dirs: Iterable[str]) -> Optional[Tuple[str, str]]:
    """Return ``(version, folder)`` of the original distribution, or ``None``.

    :arg package_dirs: the directories of the ``spinach`` package (its
        ``__path__``); the folders holding them are searched for the
        original's metadata
    """
    seen = set()
    for package_dir in package_dirs:
        folder = os.path.dirname(os.path.abspath(package_dir))
        if folder in seen:
            continue
        seen.add(folder)
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if name[:7].lower() != "spinach":
                continue
            match = _ORIGINAL_METADATA.fullmatch(name)
            if match:
                return match.group(1) or "unknown version", folder
    return None


def original_spinach_message(version: str, folder: str) -> str:
    """The error message for an original ``spinach`` found in ``folder``."""
    return (
        f"The original 'spinach' distribution ({version}, in {folder}) is installed in "
        "the same environment as spinach-core. Both install files into the 'spinach' "
        "package, so their modules replace each other and uninstalling one deletes "
        "files of the other. spinach-core replaces it: run\n"
        "    pip uninstall spinach\n"
        "then reinstall spinach-core and the other spinach-* distributions you use, e.g.\n"
        "    pip install --force-reinstall spinach-core spinach-redis\n"
        "(see 'Migrating from spinach 0.0.x' in the documentation)."
    )


def check_no_original_spinach(package_dirs: Iterable[str]) -> None:
    """Raise :class:`ImportError` if the original ``spinach`` is installed beside us."""
    found = find_original_spinach(package_dirs)
    if found is not None:
        raise ImportError(original_spinach_message(*found), name="spinach")


def raise_foreign_package(package: ModuleType) -> NoReturn:
    """Raise :class:`ImportError`: ``package`` is a ``spinach`` that is not spinach-core's.

    For :mod:`spinach.const` imported by a ``spinach/__init__.py`` that another
    distribution put in place of ours, when no metadata says which.
    """
    where = getattr(package, "__file__", None) or list(getattr(package, "__path__", []))
    raise ImportError(
        f"The 'spinach' package being imported ({where}) is not spinach-core's: another "
        "distribution, probably the original 'spinach' (0.0.x), replaced its files. "
        "spinach-core replaces the original: run\n"
        "    pip uninstall spinach\n"
        "then reinstall spinach-core and the other spinach-* distributions you use, e.g.\n"
        "    pip install --force-reinstall spinach-core spinach-redis\n"
        "(see 'Migrating from spinach 0.0.x' in the documentation).",
        name="spinach",
    )


check_no_original_spinach(sys.modules["spinach"].__path__)
