"""A tasks.py that fails to import: discovery must not hide the error."""

import a_module_that_does_not_exist  # noqa: F401
