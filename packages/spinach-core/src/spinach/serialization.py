"""JSON, the only format job arguments travel in.

Arguments are checked when a job is scheduled, so that a value JSON cannot
carry faithfully is refused in the caller's code with the path of the
offending value, instead of failing in a worker later or arriving altered.
JSON carries ``str``, ``int``, ``float`` (finite), ``bool``, ``None``,
lists and dicts with ``str`` keys.  Tuples are accepted and arrive as lists.
Nothing is ever pickled or evaluated.
"""

from __future__ import annotations

import json
import math
from typing import Any, Dict, Tuple

from .exc import SerializationError

__all__ = ["check_arguments", "dumps", "loads"]

_SCALARS = frozenset((str, int, bool, type(None)))
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
_DECODER = json.JSONDecoder()


def _unencodable(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# The C encoder, built once (JSONEncoder.encode builds one per call). Values
# are checked before they are encoded, so no check for cycles is needed.
_C_ENCODE = (
    None
    if json.encoder.c_make_encoder is None  # type: ignore[attr-defined]
    else json.encoder.c_make_encoder(  # type: ignore[attr-defined]
        None,
        _unencodable,
        json.encoder.encode_basestring_ascii,
        None,
        ":",
        ",",
        False,
        False,
        False,
    )
)


def check_arguments(task_name: str, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> None:
    """Raise :class:`SerializationError` unless args and kwargs are plain JSON."""
    try:
        for index, value in enumerate(args):
            if type(value) not in _SCALARS:
                _check(value, f"args[{index}]", task_name)
        for key, value in kwargs.items():
            if type(value) not in _SCALARS:
                _check(value, f"kwargs[{key!r}]", task_name)
    except RecursionError:
        raise SerializationError(
            f"cannot schedule task {task_name!r}: its arguments nest too deeply "
            "(or contain themselves) to be sent as JSON"
        ) from None


def _check(value: Any, path: str, task_name: str) -> None:
    kind = type(value)
    if kind in _SCALARS:
        return
    if kind is float:
        if not math.isfinite(value):
            _fail(task_name, path, f"{value!r} is not a finite number")
        return
    if kind is list or kind is tuple:
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]", task_name)
        return
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                _fail(
                    task_name,
                    path,
                    f"has a key {key!r} of type {type(key).__name__}; "
                    "JSON object keys are strings, convert it first",
                )
            _check(item, f"{path}[{key!r}]", task_name)
        return
    # Subclasses of JSON scalars (enums of str/int, ...) encode as their base.
    if isinstance(value, (str, int)):
        return
    if isinstance(value, float):
        _check(float(value), path, task_name)
        return
    _fail(
        task_name,
        path,
        f"is a {kind.__name__}, which JSON cannot carry; pass str, int, float, "
        "bool, None, list or dict values (e.g. an id instead of an object)",
    )


def _fail(task_name: str, path: str, reason: str) -> None:
    raise SerializationError(f"cannot schedule task {task_name!r}: {path} {reason}")


def dumps(value: Any) -> str:
    """Encode a JSON value compactly; the value must already be checked."""
    if _C_ENCODE is None:  # pragma: no cover - Pythons without the C accelerator
        return _ENCODER.encode(value)
    return "".join(_C_ENCODE(value, 0))


def loads(payload: str | bytes) -> Any:
    """Decode a JSON document, raising :class:`SerializationError` if it is not one."""
    try:
        if isinstance(payload, (bytes, bytearray)):
            payload = payload.decode("utf-8")
        return _DECODER.decode(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SerializationError(f"not a valid JSON payload: {exc}") from exc
