"""JSON, the only format job arguments travel in.

Arguments are checked when a job is scheduled, so that a value JSON cannot
carry faithfully is refused in the caller's code with the path of the
offending value, instead of failing in a worker later or arriving altered.
JSON carries ``str``, ``int``, ``float`` (finite), ``bool``, ``None``,
lists and dicts with ``str`` keys.  Tuples are accepted and arrive as lists.
Nothing is ever pickled or evaluated.

Payloads read back are bounded (:class:`PayloadLimits`): a payload larger
or nested deeper than the limits is refused before it is decoded, so that a
hostile payload cannot exhaust a worker's memory or stack.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from json.scanner import make_scanner
from typing import Any, Dict, Tuple

from .exc import SerializationError

__all__ = ["DEFAULT_LIMITS", "PayloadLimits", "check_arguments", "decode", "dumps", "loads"]


@dataclass(frozen=True)
class PayloadLimits:
    """Bounds of a job's payload, checked when it is scheduled and when it is read.

    :arg max_bytes: largest payload, in bytes (the JSON of the job with its
        arguments); 1 MiB by default.  Pass ids, not documents.
    :arg max_depth: deepest nesting of JSON arrays and objects in a payload
        (the payload itself and its list of arguments count for two); 64 by
        default.

    Producers and workers of a namespace should use the same limits: a
    worker sets aside a payload over its own.
    """

    max_bytes: int = 1024 * 1024
    max_depth: int = 64

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_depth"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 3:
                raise ValueError(f"PayloadLimits.{name} must be an int of 3 or more, not {value!r}")


#: The limits used unless an Engine is given others.
DEFAULT_LIMITS = PayloadLimits()


_SCALARS = frozenset((str, int, bool, type(None)))
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
_DECODER = json.JSONDecoder()
# The decoder's scanner (the C one where available), called without the
# decoder's whitespace handling.
_SCAN = make_scanner(_DECODER)  # type: ignore[arg-type]  # typeshed wants a scanner


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


def check_arguments(
    task_name: str,
    args: Tuple[Any, ...],
    kwargs: Dict[str, Any],
    limits: PayloadLimits = DEFAULT_LIMITS,
) -> None:
    """Raise :class:`SerializationError` unless args and kwargs are plain JSON.

    Arguments may nest ``limits.max_depth - 2`` levels deep (the payload
    and its lists of arguments take two).
    """
    depth = limits.max_depth - 2
    context = f"cannot schedule task {task_name!r}"
    try:
        for index, value in enumerate(args):
            if type(value) not in _SCALARS:
                _check(value, f"args[{index}]", context, depth)
        for key, value in kwargs.items():
            if type(value) not in _SCALARS:
                _check(value, f"kwargs[{key!r}]", context, depth)
    except RecursionError:
        raise SerializationError(
            f"cannot schedule task {task_name!r}: its arguments nest too deeply (more than "
            f"{depth} levels of lists and dicts, see PayloadLimits.max_depth) or contain "
            "themselves; pass an id instead"
        ) from None


def encode_result(task_name: str, value: Any, limits: PayloadLimits = DEFAULT_LIMITS) -> str:
    """Check what a task returned and encode it as JSON, strictly.

    Raise :class:`SerializationError` for a value JSON cannot carry as it
    is (sets, objects, NaN, non-string keys, tuples are fine as lists), one
    nesting deeper than ``limits.max_depth`` or larger than
    ``limits.max_bytes``: never a silent ``str()``.
    """
    context = f"task {task_name!r} returned a value that cannot be stored as its result"
    try:
        _check(value, "result", context, limits.max_depth)
    except RecursionError:
        raise SerializationError(
            f"{context}: it nests deeper than {limits.max_depth} levels or contains itself"
        ) from None
    text = dumps(value)
    if len(text) > limits.max_bytes:
        raise SerializationError(
            f"{context}: {len(text)} bytes of JSON, more than the limit of {limits.max_bytes} "
            "(PayloadLimits.max_bytes); store large results elsewhere and return a reference"
        )
    return text


def _check(value: Any, path: str, context: str, depth: int) -> None:
    kind = type(value)
    if kind in _SCALARS:
        return
    if kind is float:
        if not math.isfinite(value):
            _fail(context, path, f"{value!r} is not a finite number")
        return
    if (kind is list or kind is tuple or kind is dict) and depth <= 0:
        raise RecursionError  # reported by check_arguments()
    if kind is list or kind is tuple:
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]", context, depth - 1)
        return
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                _fail(
                    context,
                    path,
                    f"has a key {key!r} of type {type(key).__name__}; "
                    "JSON object keys are strings, convert it first",
                )
            _check(item, f"{path}[{key!r}]", context, depth - 1)
        return
    # Subclasses of JSON scalars (enums of str/int, ...) encode as their base.
    if isinstance(value, (str, int)):
        return
    if isinstance(value, float):
        _check(float(value), path, context, depth)
        return
    _fail(
        context,
        path,
        f"is a {kind.__name__}, which JSON cannot carry; pass str, int, float, "
        "bool, None, list or dict values (e.g. an id instead of an object)",
    )


def _fail(context: str, path: str, reason: str) -> None:
    raise SerializationError(f"{context}: {path} {reason}")


def dumps(value: Any) -> str:
    """Encode a JSON value compactly; the value must already be checked."""
    if _C_ENCODE is None:  # pragma: no cover - Pythons without the C accelerator
        return _ENCODER.encode(value)
    return "".join(_C_ENCODE(value, 0))


def loads(payload: str | bytes, limits: PayloadLimits = DEFAULT_LIMITS) -> Any:
    """Decode a JSON document, raising :class:`SerializationError` if it is not one."""
    return decode(payload, limits)[1]


def decode(payload: str | bytes, limits: PayloadLimits = DEFAULT_LIMITS) -> Tuple[str, Any]:
    """Check a payload against ``limits`` and decode it: return its text and its value.

    Raise :class:`SerializationError` if it is larger or nested deeper than
    the limits allow, not UTF-8, or not JSON.  Every step is linear in the
    size of the payload, which is checked first: a hostile payload costs a
    bounded amount of time, memory and stack.
    """
    if len(payload) > limits.max_bytes:
        raise SerializationError(
            f"payload of {len(payload)} bytes is larger than the limit of {limits.max_bytes}"
        )
    try:
        text = payload.decode("utf-8") if isinstance(payload, (bytes, bytearray)) else payload
    except UnicodeDecodeError as exc:
        raise SerializationError(f"payload is not UTF-8: {exc}") from exc
    try:
        # The C scanner is linear, and bounded by the recursion limit. Called
        # directly, it skips the decoder's two whitespace matches: payloads
        # written by Spinach have no whitespace around them.
        value, end = _SCAN(text, 0)
        if end != len(text):
            raise ValueError("trailing data")
    except (StopIteration, ValueError, RecursionError):
        try:  # whitespace around the value, or the decoder's own error message
            value = _DECODER.decode(text)
        except (ValueError, RecursionError) as exc:
            raise SerializationError(f"not a valid JSON payload: {exc!r:.200}") from exc
    # Each level of nesting opens a bracket: with no more brackets than the
    # limit (the usual case), the value cannot nest deeper than it.
    if text.count("[") + text.count("{") > limits.max_depth and _depth(value) > limits.max_depth:
        raise SerializationError(
            f"payload nests deeper than the limit of {limits.max_depth} levels"
        )
    return text, value


def _depth(value: Any) -> int:
    """Deepest nesting of lists and dicts in a decoded value, without recursion."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, level = pending.pop()
        if type(item) is list:
            deepest = max(deepest, level)
            pending.extend((child, level + 1) for child in item)
        elif type(item) is dict:
            deepest = max(deepest, level)
            pending.extend((child, level + 1) for child in item.values())
    return deepest
