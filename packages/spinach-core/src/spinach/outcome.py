"""How a finished job's outcome is stored for those who wait for its result.

Both brokers keep, for a job whose task stores results, one JSON object
once the job is over for good: ``status``, a :class:`~spinach.job.JobStatus`
value (4 succeeded, 5 failed, 6 cancelled), then ``result``, what the task
returned, for a job that succeeded, or ``error``, the
:class:`~spinach.job.JobError` of its last attempt as an object with
``type``, ``message`` and ``traceback`` (or ``null``).  The Redis broker's
scripts write the same text.
"""

from __future__ import annotations

import json
from typing import Any, Optional, Tuple

from .job import JobError, JobStatus

__all__ = ["Outcome", "decode_outcome", "encode_outcome"]

#: Status, returned value (if it succeeded) and error (if it failed).
Outcome = Tuple[JobStatus, Any, Optional[JobError]]


def encode_outcome(status: JobStatus, result: Optional[str], error: Optional[JobError]) -> str:
    """The stored outcome; ``result`` is the JSON text of the returned value."""
    if status is JobStatus.SUCCEEDED:
        return f'{{"status":{int(status)},"result":{result or "null"}}}'
    described = error.to_json() if error is not None else "null"
    return f'{{"status":{int(status)},"error":{described}}}'


def decode_outcome(text: str | bytes) -> Outcome:
    """Read a stored outcome back."""
    data = json.loads(text)
    status = JobStatus(int(data["status"]))
    error = data.get("error")
    described = None
    if isinstance(error, dict):
        described = JobError(
            str(error.get("type", "")),
            str(error.get("message", "")),
            str(error.get("traceback", "")),
        )
    return status, data.get("result"), described
