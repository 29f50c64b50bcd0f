"""Names of the Redis keys and channel of a namespace.

Every key and the notification channel start with ``{namespace}:``: the hash
tag puts them all in one Redis Cluster slot, so that every multi-key script
can run on a cluster, and namespaces never share a key.
"""

from __future__ import annotations

import json

__all__ = ["Keys", "task_token"]


def task_token(name: str) -> str:
    """The task name as it appears between quotes in a job payload.

    Scripts read task names out of payloads without decoding the JSON, so
    every key about a task uses this exact form.
    """
    return json.dumps(name)[1:-1]


class Keys:
    """The keys of one namespace."""

    def __init__(self, namespace: str) -> None:
        prefix = f"{{{namespace}}}:"
        self.prefix = prefix
        #: zset of future jobs, scored by start timestamp
        self.future = prefix + "future"
        #: zset of periodic task tokens, scored by next due timestamp
        self.periodic = prefix + "periodic"
        #: hash of periodic task token -> "period|queue|max_retries"
        self.periodic_defs = prefix + "periodic_defs"
        #: hash of periodic task token -> when a live worker last declared it
        self.periodic_seen = prefix + "periodic_seen"
        #: hash of retired periodic task token -> its next due date then
        self.periodic_retired = prefix + "periodic_retired"
        #: hash of cron task token -> the timestamp of its last tick planned
        self.cron = prefix + "cron"
        #: zset of worker ids, scored by last heartbeat (the server's time)
        self.brokers = prefix + "brokers"
        #: set of the names of the queues that ever held a job
        self.queues = prefix + "queues"
        #: zset of the ids of committed batches not moved to their queues yet
        self.batches = prefix + "batches"
        #: hash of unique key digest -> id of the live job that holds it
        self.unique = prefix + "unique"
        #: set of the tokens of the tasks that have a rate window
        self.rate_tasks = prefix + "rate_tasks"
        #: hash of task token -> max_concurrency
        self.max_concurrency = prefix + "max_concurrency"
        #: hash of task token -> when a live worker last declared its limit
        self.max_concurrency_seen = prefix + "max_concurrency_seen"
        #: hash of task token -> jobs running now
        self.current_concurrency = prefix + "current_concurrency"
        #: hash of queue -> jobs parked for a concurrency slot
        self.parked_count = prefix + "parked_count"
        #: list of payloads that could not be read as jobs
        self.rejected = prefix + "rejected"
        #: zset of the ids of failed jobs, scored by when they failed
        self.failed = prefix + "failed"
        #: hash of the bounds of that registry (kept, ttl), as workers registered them
        self.failed_bounds = prefix + "failed_bounds"
        #: pub/sub channel of the namespace
        self.notify = prefix + "notify"

    def queue(self, name: str) -> str:
        """List of the jobs of a queue, oldest first."""
        return f"{self.prefix}queue:{name}"

    def running(self, broker_id: str) -> str:
        """Hash of job id -> counted flag + payload, of one worker."""
        return f"{self.prefix}running:{broker_id}"

    def adopted(self, broker_id: str) -> str:
        """Hash of the jobs a worker adopted from dead ones and has not settled yet."""
        return f"{self.prefix}adopted:{broker_id}"

    def worker(self, broker_id: str) -> str:
        """Hash describing one worker: start of its run of heartbeats, host, pid..."""
        return f"{self.prefix}worker:{broker_id}"

    def batch(self, batch_id: str) -> str:
        """List of the staged jobs of a batch too large for one call."""
        return f"{self.prefix}batch:{batch_id}"

    def batch_record(self, batch_id: str) -> str:
        """Hash of the chunks staged of a batch, and whether it is done."""
        return f"{self.prefix}batch:{batch_id}:record"

    def rate(self, token: str) -> str:
        """zset of the starts and reserved dates of a rate-limited task."""
        return f"{self.prefix}rate:{token}"

    def job(self, job_id: str) -> str:
        """Hash holding the record of a tracked job (status, payload, dates, error)."""
        return f"{self.prefix}job:{job_id}"

    def result(self, job_id: str) -> str:
        """List holding the stored outcome of a job whose task stores results."""
        return f"{self.prefix}result:{job_id}"

    def failed_job(self, job_id: str) -> str:
        """Hash of a failed job: payload, error, failed_at, worker, history."""
        return f"{self.prefix}failed:{job_id}"

    def parked(self, task: str) -> str:
        """List of the parked jobs of a task (by task token)."""
        return f"{self.prefix}parked:{task}"
