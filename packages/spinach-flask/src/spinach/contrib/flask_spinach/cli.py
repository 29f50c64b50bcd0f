"""The ``flask spinach`` command, added to every application using the extension."""

from __future__ import annotations

from typing import Dict, List, Type, Union

import click
from flask import current_app
from flask.cli import with_appcontext

from spinach.exc import WorkersError
from spinach.task import DEFAULT_QUEUE
from spinach.worker import AsyncioWorkers, BaseWorkers, ThreadWorkers

from ._state import state_of

__all__ = ["spinach_command"]

#: Number of worker threads ``flask spinach`` starts without ``--threads``.
DEFAULT_THREADS = 5


@click.command("spinach")
@click.option(
    "--queue",
    default=DEFAULT_QUEUE,
    show_default=True,
    help="Name of the queue the workers consume, or names separated by commas, served "
    "in priority order (high,default,low).",
)
@click.option(
    "--workers-class",
    type=click.Choice(["threads", "asyncio"]),
    default="threads",
    show_default=True,
    help="threads, or asyncio: one event loop running async tasks (sync ones in a "
    "pool of as many threads).",
)
@click.option(
    "--threads",
    "--concurrency",
    "threads",
    default=DEFAULT_THREADS,
    show_default=True,
    type=click.IntRange(min=1),
    help="Number of worker threads, i.e. of jobs run at once.",
)
@click.option(
    "--stop-when-queue-empty",
    "--stop-when-empty",
    "stop_when_queue_empty",
    is_flag=True,
    help="Stop once the queue is empty and no job runs (one-off runs, cron). "
    "--stop-when-empty is an alias.",
)
@with_appcontext
def spinach_command(
    queue: str, workers_class: str, threads: int, stop_when_queue_empty: bool
) -> None:
    """Start Spinach workers for the application.

    The command blocks until the workers stop: SIGINT (^C) or SIGTERM stops
    them gracefully, letting running jobs finish; a second signal forces the
    exit.  ``--workers-class asyncio`` runs the jobs on
    :class:`~spinach.worker.AsyncioWorkers` (``--threads``, alias
    ``--concurrency``, is then how many run at once).
    ``--stop-when-queue-empty`` (the option of the original spinach;
    ``--stop-when-empty`` is an alias) stops them once the queue is empty.
    """
    engine = state_of(current_app).engine
    names = queue.split(",")
    queues: Union[str, List[str]] = names[0] if len(names) == 1 else names
    classes: Dict[str, Type[BaseWorkers]] = {"threads": ThreadWorkers, "asyncio": AsyncioWorkers}
    chosen = classes[workers_class]
    kind = "asyncio " if chosen is AsyncioWorkers else ""
    click.echo(
        f"Starting {threads} Spinach {kind}workers on "
        f"{'queue' if isinstance(queues, str) else 'queues'} {queues!r} "
        f"of namespace {engine.namespace!r}, ^C to stop"
    )
    try:
        engine.start_workers(
            number=threads,
            queue=queues,
            block=True,
            stop_when_queue_empty=stop_when_queue_empty,
            workers_class=chosen,
        )
    except WorkersError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("Spinach workers stopped")
