"""Start Spinach workers: ``python manage.py spinach [--queue Q] [--threads N]``.

``--stop-when-queue-empty`` (alias ``--stop-when-empty``) stops them once the
queue is empty.  ``--workers-class asyncio`` runs the jobs on
:class:`~spinach.worker.AsyncioWorkers` (``--threads`` is then the number
of jobs run at once; ``--concurrency`` is an alias).
"""

from __future__ import annotations

import argparse
from typing import Any, Dict, List, Type, Union

from django.core.management.base import BaseCommand, CommandError

from spinach.contrib.spinachd import get_engine
from spinach.exc import WorkersError
from spinach.task import DEFAULT_QUEUE
from spinach.worker import AsyncioWorkers, BaseWorkers, ThreadWorkers

#: The choices of ``--workers-class``.
WORKERS_CLASSES: Dict[str, Type[BaseWorkers]] = {
    "threads": ThreadWorkers,
    "asyncio": AsyncioWorkers,
}

#: Number of worker threads the command starts without ``--threads``.
DEFAULT_THREADS = 5


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} is not 1 or more")
    return number


class Command(BaseCommand):
    """Start Spinach workers for the project (blocking)."""

    help = (
        "Start Spinach workers running the jobs of a queue. SIGINT (^C) or SIGTERM stops "
        "them once running jobs finish; a second signal forces the exit."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add ``--queue``, ``--workers-class``, ``--threads`` and ``--stop-when-queue-empty``."""
        parser.add_argument(
            "--queue",
            default=DEFAULT_QUEUE,
            help=f"name of the queue the workers consume (default: {DEFAULT_QUEUE}), or names "
            "separated by commas, served in priority order (high,default,low)",
        )
        parser.add_argument(
            "--workers-class",
            choices=sorted(WORKERS_CLASSES),
            default="threads",
            help="threads (default) or asyncio: one event loop running async tasks, "
            "sync tasks in a pool of as many threads",
        )
        parser.add_argument(
            "--threads",
            "--concurrency",
            dest="threads",
            default=DEFAULT_THREADS,
            type=_positive_int,
            help=f"number of worker threads, i.e. of jobs run at once (default: {DEFAULT_THREADS})",
        )
        parser.add_argument(
            "--stop-when-queue-empty",
            "--stop-when-empty",
            dest="stop_when_queue_empty",
            action="store_true",
            help="stop once the queue is empty and no job runs (one-off runs, cron); "
            "--stop-when-empty is an alias",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the workers until they are stopped."""
        engine = get_engine()
        names, threads = options["queue"].split(","), options["threads"]
        queue: Union[str, List[str]] = names[0] if len(names) == 1 else names
        workers_class = WORKERS_CLASSES[options["workers_class"]]
        self.stdout.write(
            f"Starting {threads} Spinach {'asyncio ' if workers_class is AsyncioWorkers else ''}"
            f"workers on {'queue' if isinstance(queue, str) else 'queues'} {queue!r} "
            f"of namespace {engine.namespace!r}, ^C to stop"
        )
        self.stdout.flush()
        try:
            engine.start_workers(
                number=threads,
                queue=queue,
                block=True,
                stop_when_queue_empty=options["stop_when_queue_empty"],
                workers_class=workers_class,
            )
        except WorkersError as exc:
            raise CommandError(str(exc)) from exc
        except KeyboardInterrupt:
            # ^C before the workers handled signals (nothing was started), or
            # a second ^C forcing the exit: no traceback, the status of SIGINT.
            raise CommandError("Interrupted", returncode=130) from None
        self.stdout.write("Spinach workers stopped")
