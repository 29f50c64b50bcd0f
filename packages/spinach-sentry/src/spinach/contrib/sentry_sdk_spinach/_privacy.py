"""What of a job may reach Sentry: its arguments and the local variables of its frames.

A job's arguments are personal data as often as not (an e-mail address, a
user id, a whole message), and they are everywhere in the stack of the job:
the task's parameters are local variables of its frame, the functions it
calls receive them, and Spinach's own frames hold the job.  Sentry's client
option ``include_local_variables`` is on by default and its default
``EventScrubber`` only hides variables whose *names* are on a denylist, so
``send_default_pii=False`` alone does not keep them out of a report.

This module decides, at the moment an event is sent, whether the job data
may go, and removes the local variables of every frame of the event when it
may not.  The client's ``attach_stacktrace`` option adds the stack of the
current thread to events that have none *after* the event processors ran;
for the events of jobs, the stack is attached here instead, without local
variables, and the client then leaves it as it is.

It only reads and edits the event it is given: the integration runs it as a
global event processor (see :mod:`sentry_sdk.scope`), the hook
sentry-sdk gives integrations to edit events before ``before_send``.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, Optional

import sentry_sdk
from sentry_sdk.utils import current_stacktrace

__all__ = [
    "attach_stacktrace_without_variables",
    "client_allows_job_data",
    "is_job_event",
    "job_data_allowed",
    "strip_local_variables",
]

#: The tag of the job's id, which marks every event sent from a job's scope.
JOB_ID_TAG = "spinach.job_id"


def client_allows_job_data() -> bool:
    """Whether the Sentry client's own settings allow the data of jobs to be sent.

    sentry-sdk versions with the ``data_collection`` option resolve it at
    init (``send_default_pii=True`` alone turns its ``queues`` category
    on); older ones only have ``send_default_pii``.
    """
    client = sentry_sdk.get_client()
    collection = client.options.get("data_collection")
    if isinstance(collection, dict) and "queues" in collection:
        return bool(collection["queues"])
    return bool(client.should_send_default_pii())


def job_data_allowed(option: Optional[bool]) -> bool:
    """Resolve an option of the integration: its own value, or else the client's."""
    if option is not None:
        return option
    return client_allows_job_data()


def is_job_event(event: Dict[str, Any]) -> bool:
    """Whether the event was sent from the scope of a job.

    The job's isolation scope tags every event it sends with the job's id,
    and so do the scopes forked from it (``new_scope()``, and the threads the
    task starts, to which Sentry's threading integration passes its scopes).
    """
    tags = event.get("tags")
    return isinstance(tags, dict) and JOB_ID_TAG in tags


def _stacktraces(event: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
    """Every stack trace of an event (Sentry's event payload format)."""
    for interface in ("exception", "threads"):
        container = event.get(interface)
        values: Any = container.get("values") if isinstance(container, dict) else container
        if isinstance(values, list):
            for value in values:
                if isinstance(value, dict) and isinstance(value.get("stacktrace"), dict):
                    yield value["stacktrace"]
    if isinstance(event.get("stacktrace"), dict):
        yield event["stacktrace"]


def strip_local_variables(event: Dict[str, Any]) -> int:
    """Remove the local variables (``vars``) of every frame of the event.

    The frames keep their module, function, file, line and source context.

    :return: the number of frames whose variables were removed
    """
    stripped = 0
    for stacktrace in _stacktraces(event):
        frames: Any = stacktrace.get("frames")
        if not isinstance(frames, list):
            continue
        frame: Any
        for frame in frames:
            if isinstance(frame, dict) and frame.pop("vars", None) is not None:
                stripped += 1
    return stripped


def attach_stacktrace_without_variables(event: Dict[str, Any], options: Dict[str, Any]) -> None:
    """Attach the current stack to an event as the client's ``attach_stacktrace`` would.

    Done only when the client would do it (the option is on, and the event is
    an error or message without any stack), but without local variables; the
    frames of Sentry and of the callers that hide themselves
    (``__tracebackhide__``) are left out, as the client leaves them out.
    """
    __tracebackhide__ = True  # Sentry leaves out the frames that set it
    if not options.get("attach_stacktrace") or event.get("type") in ("transaction", "check_in"):
        return
    if any(interface in event for interface in ("exception", "stacktrace", "threads")):
        return
    stacktrace = current_stacktrace(
        include_local_variables=False,
        include_source_context=options.get("include_source_context", True) is not False,
        max_value_length=options.get("max_value_length"),
    )
    for frame in stacktrace["frames"]:  # data_collection's stack_frame_variables wins over
        frame.pop("vars", None)  # include_local_variables=False in sentry-sdk's serialize_frame
    event["threads"] = {"values": [{"stacktrace": stacktrace, "crashed": False, "current": True}]}
