"""How an Engine's jobs travel through its broker: bounded, strict, optionally signed.

The Engine gives its broker a :class:`PayloadCodec`.  Brokers encode every
payload they store with it and decode every payload they read with it:

- a payload is checked against the :class:`~spinach.serialization.PayloadLimits`
  when the job is scheduled (:class:`~spinach.exc.PayloadTooLargeError`
  then, in the caller) and again when it is read (set aside then);
- it is decoded once, strictly (see :meth:`spinach.job.Job.deserialize`);
- with a ``signing_key``, producers sign payloads with HMAC-SHA256 and
  workers set aside the unsigned and the forged ones.  This is for
  deployments whose Redis is shared with less trusted code: whoever can
  write to Redis but lacks the key can no longer make a worker run a task
  with arguments of their choosing.  The runs of periodic tasks, which the
  broker creates itself (in Lua, where the key is not), are accepted
  unsigned only when they are exactly a run of a periodic task the worker
  knows: no arguments, its queue, its retries, the id of its slot.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Callable, Optional

from .exc import PayloadTooLargeError, SerializationError
from .job import Job, JobStatus
from .serialization import DEFAULT_LIMITS, PayloadLimits

__all__ = ["REWRITE_SLACK", "PayloadCodec"]

#: Bytes a payload may grow past ``PayloadLimits.max_bytes`` when workers
#: rewrite it (a retry's date and count, a signature): readers accept them.
REWRITE_SLACK = 256

# ,"sig":"<64 hex>"} : the last field of a signed payload.
_SIG_PREFIX = ',"sig":"'
_SIG_LENGTH = len(_SIG_PREFIX) + 64 + 2
_HEX = frozenset("0123456789abcdef")


class PayloadCodec:
    """Encodes jobs into payloads and decodes them back, for one Engine.

    :arg limits: bounds of a payload
    :arg signing_key: secret shared by the producers and workers of the
        namespace (bytes, 32 random bytes or more advised); ``None`` (the
        default) neither signs nor checks signatures
    :arg trust_unsigned: with a ``signing_key``, says whether an unsigned
        job may run all the same (the Engine accepts the runs of its
        periodic tasks)
    """

    def __init__(
        self,
        limits: PayloadLimits = DEFAULT_LIMITS,
        signing_key: Optional[bytes] = None,
        trust_unsigned: Optional[Callable[[Job], bool]] = None,
    ) -> None:
        if signing_key is not None and (not isinstance(signing_key, bytes) or not signing_key):
            raise TypeError("signing_key must be non-empty bytes, e.g. os.urandom(32)")
        self.limits = limits
        # What a stored payload may take: a rewrite (retry count, date) may
        # have grown it a little past what was checked at schedule time.
        self._read_limits = PayloadLimits(limits.max_bytes + REWRITE_SLACK, limits.max_depth)
        self._key = signing_key
        self._trust_unsigned = trust_unsigned

    @property
    def signs(self) -> bool:
        """Whether payloads are signed and checked."""
        return self._key is not None

    def _signature(self, unsigned: str) -> str:
        assert self._key is not None
        return hmac.new(self._key, unsigned.encode("ascii"), hashlib.sha256).hexdigest()

    def encode(self, job: Job) -> str:
        """The payload of ``job``, signed if there is a key.

        A payload prepared when the job was scheduled (:meth:`prepare`) is
        used once, as it was checked.
        """
        payload = job._payload
        if payload is not None:
            job._payload = None
            return payload
        return self._sign(job.serialize())

    def _sign(self, unsigned: str) -> str:
        if self._key is None:
            return unsigned
        return f"{unsigned[:-1]}{_SIG_PREFIX}{self._signature(unsigned)}" + '"}'

    def prepare(self, job: Job) -> None:
        """Encode a job being scheduled, and refuse it if it is too large.

        Raise :class:`~spinach.exc.PayloadTooLargeError` in the caller,
        before anything is sent.
        """
        payload = self._sign(job.serialize())
        if len(payload) > self.limits.max_bytes:  # ASCII: one byte per character
            raise PayloadTooLargeError(
                f"cannot schedule task {job.task_name!r}: its payload is {len(payload)} bytes, "
                f"more than the limit of {self.limits.max_bytes} (PayloadLimits.max_bytes); "
                "pass ids and references, not documents"
            )
        job._payload = payload

    def decode(self, payload: str | bytes, status: JobStatus = JobStatus.NOT_SET) -> Job:
        """Rebuild a job from a payload read from the broker, strictly.

        Raise :class:`~spinach.exc.SerializationError` for a payload to set
        aside: over the limits, not exactly a job's, unsigned or forged.
        The size is checked first and the signature before any parsing, so
        that a payload costs a bounded amount of work, and a forged one
        almost none.
        """
        limit = self._read_limits.max_bytes
        if len(payload) > limit:
            raise SerializationError(
                f"payload of {len(payload)} bytes is larger than the limit of {limit}"
            )
        if isinstance(payload, (bytes, bytearray)):
            try:
                text = payload.decode("ascii")
            except UnicodeDecodeError as exc:  # every payload written by Spinach is ASCII
                raise SerializationError(f"payload is not ASCII: {exc}") from exc
        else:
            text = payload
        signature = None
        if len(text) > _SIG_LENGTH and text[-_SIG_LENGTH:-66] == _SIG_PREFIX:
            signature = text[-66:-2]
            if text[-2:] != '"}' or not _HEX.issuperset(signature):
                raise SerializationError("the payload's signature is malformed")
            unsigned = text[:-_SIG_LENGTH] + "}"
        else:
            unsigned = text
        forged = self._key is not None and signature is not None
        if forged and not hmac.compare_digest(str(signature), self._signature(unsigned)):
            raise SerializationError("the payload's signature is not valid (forged or another key)")
        job = Job.deserialize(unsigned, status, self._read_limits)
        if self._key is None or signature is not None:
            return job
        if self._trust_unsigned is not None and self._trust_unsigned(job):
            return job
        raise SerializationError("the payload is not signed, and this worker needs signatures")
