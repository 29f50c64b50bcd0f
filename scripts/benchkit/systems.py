"""What is compared: one entry per system, with pinned requirements.

Every peer is installed from PyPI into a virtualenv of its own
(``.bench/venvs/<name>``): the original ``spinach`` uses the same import
name as ours, and the peers pin different redis-py versions.  Every
virtualenv gets ``hiredis``, so that no system parses replies faster than
another because of it.  The versions are the latest releases, tested with
this harness on Python 3.11; bump them here.

``unsupported`` lists the measurements a system cannot take part in, with
the reason printed in the table instead of a figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List

HIREDIS = "hiredis==3.5.0"
REDIS = "redis==8.1.0"


@dataclass(frozen=True)
class System:
    name: str
    #: column title of the table
    title: str
    #: pip requirements of its virtualenv; None: the virtualenv of "ours"
    requirements: List[str] | None
    #: how its worker runs in the processing measurements
    worker: str
    #: measurement -> why it is not measured
    unsupported: Dict[str, str] = field(default_factory=dict)
    #: whether it is compared to by the "ahead of every peer" target
    peer: bool = True


NO_ASYNC = "no asyncio worker"
NO_BATCH = "no batch enqueue API"

SYSTEMS: List[System] = [
    System(
        "ours",
        "ours",
        None,
        "ThreadWorkers(8); 1 thread in the 1-thread row; AsyncioWorkers(256) for async I/O",
        peer=False,
    ),
    System(
        "original",
        "original",
        ["spinach==0.0.25", REDIS, HIREDIS],
        "spinach 0.0.25 ThreadWorkers(8); 1 thread in the 1-thread row; "
        "AsyncioWorkers(256) for async I/O",
        peer=False,
    ),
    System(
        "rq",
        "RQ",
        ["rq==3.0.0", REDIS, HIREDIS],
        "SimpleWorker: one job at a time (RQ has no threaded worker), results kept "
        "(RQ's default); scheduler on for future jobs",
        {
            "async_io": NO_ASYNC,
            "process_1": "one job at a time already (see the processing row)",
        },
    ),
    System(
        "dramatiq",
        "Dramatiq",
        ["dramatiq[redis]==2.2.1", REDIS, HIREDIS],
        "dramatiq.Worker(RedisBroker, worker_threads=8)",
        {
            "enqueue_batch": NO_BATCH + " (group().run() sends one message per call)",
            "async_io": NO_ASYNC + " in this comparison",
        },
    ),
    System(
        "celery",
        "Celery",
        ["celery[redis]==5.7.0", REDIS, HIREDIS],
        "worker --pool=threads --concurrency=8, no result backend, other options default",
        {
            "enqueue_batch": NO_BATCH + " (a group publishes one message per task)",
            "async_io": NO_ASYNC,
        },
    ),
    System(
        "huey",
        "Huey",
        ["huey==3.5.4", REDIS, HIREDIS],
        "RedisHuey consumer, workers=8, worker_type=thread",
        {"enqueue_batch": NO_BATCH, "async_io": NO_ASYNC},
    ),
    System(
        "arq",
        "arq",
        ["arq==0.28.0", HIREDIS],  # arq pins its own redis-py (< 6)
        "arq Worker(max_jobs=8; 256 for async I/O), defaults otherwise (poll_delay 0.5 s, "
        "results kept 1 h); async job bodies",
        {"enqueue_batch": NO_BATCH},
    ),
    System(
        "saq",
        "SAQ",
        # saq 0.26.4 imports typing_extensions without declaring it
        ["saq[hiredis]==0.26.4", REDIS, HIREDIS, "typing_extensions==4.16.0"],
        "saq Worker(concurrency=8; 256 for async I/O), defaults otherwise (results kept 600 s); "
        "async job bodies",
        {"enqueue_batch": NO_BATCH + " (Queue.batch() only groups jobs for abort)"},
    ),
    System(
        "raw",
        "raw redis-py",
        None,
        "raw loops: LPUSH one by one; pipelined LPUSH; 8-slot row: RPOP 100 at a time "
        "(BRPOP when empty); round-trip and 1 ms rows: 8 threads fed by RPOP of as many "
        "jobs as slots are free (BRPOP when empty); 1-thread row and latency: BRPOP loop; "
        "each job json.loads'd",
        {
            "enqueue_future": "a list has no schedule",
            "future": "a list has no schedule",
            "async_io": "no worker to compare",
        },
        peer=False,
    ),
]

#: Ours on a Redis with AOF (appendfsync everysec): the price of durability.
OURS_AOF = System(
    "ours-aof",
    "ours AOF",
    None,
    "as ours, on a redis-server with --appendonly yes --appendfsync everysec",
    {
        "future": "measured without AOF only",
        "async_io": "measured without AOF only",
        "process_1": "measured without AOF only",
        "process_roundtrip": "measured without AOF only",
        "process_wait": "measured without AOF only",
        "idle": "measured without AOF only",
    },
    peer=False,
)

#: Ours with every task tracked (track=True): the price of job records. Run it
#: with --systems ours,ours-tracked,raw; not part of the default run.
OURS_TRACKED = System(
    "ours-tracked",
    "ours tracked",
    None,
    "as ours, with track=True on the tasks (a record per job: get_job, cancel)",
    {
        "future": "measured untracked only",
        "async_io": "measured untracked only",
        "process_1": "measured untracked only",
        "idle": "measured untracked only",
    },
    peer=False,
)

BY_NAME = {system.name: system for system in [*SYSTEMS, OURS_AOF, OURS_TRACKED]}
PEERS = [system.name for system in SYSTEMS if system.peer]
