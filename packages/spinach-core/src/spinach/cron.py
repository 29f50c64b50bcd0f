"""Cron schedules: when the next tick of a task's ``cron`` expression falls.

A :class:`CronSchedule` reads a standard five-field expression (minute,
hour, day of month, month, day of week) or one of the aliases ``@hourly``,
``@daily`` (``@midnight``), ``@weekly``, ``@monthly`` and ``@yearly``
(``@annually``), in a time zone from :mod:`zoneinfo` (UTC by default).
Expressions are evaluated by `cronsim <https://pypi.org/project/cronsim/>`_
(``pip install 'spinach-core[cron]'``), which follows Debian's cron around
daylight saving time changes:

- a tick in the hour skipped when clocks go forward runs once, at the first
  valid time after it (``30 2 * * *`` runs at 03:00 that day);
- a tick in the hour repeated when clocks go back runs once, in the first
  pass (``30 2 * * *`` runs at the first 02:30), while an expression whose
  hour is ``*`` runs in both passes, as real time goes on.

Ticks are plain timestamps (seconds since the epoch, UTC): once computed,
where a worker runs or what its local time zone is changes nothing.

The :class:`CronPlanner` of each worker puts the next tick of every cron
task it knows in the broker as a future job; the broker refuses a tick that
is not later than the one already planned, so each tick is planned once
whatever the number of workers (see the chapter "Tasks").
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import datetime, timezone, tzinfo
from typing import TYPE_CHECKING, Callable, Dict, List, Mapping, Optional, Tuple, Union

from .exc import InvalidTaskError
from .job import Job, periodic_job_id
from .utils import from_timestamp, to_timestamp

if TYPE_CHECKING:
    from .brokers.base import Broker
    from .task import Task

__all__ = ["ALIASES", "CronPlanner", "CronSchedule"]

logger = logging.getLogger(__name__)

#: The ``@`` aliases and the expressions they stand for.
ALIASES: Mapping[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_INSTALL_HINT = "install it with: pip install 'spinach-core[cron]'"


def _zone(value: Union[str, tzinfo, None], where: str) -> tzinfo:
    if value is None:
        return timezone.utc
    if isinstance(value, tzinfo):
        return value
    if not isinstance(value, str):
        raise InvalidTaskError(f"{where}: timezone must be a str or a tzinfo, not {value!r}")
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidTaskError(
            f"{where}: unknown time zone {value!r} (an IANA name such as 'Europe/Paris'; "
            "where the system has no time zone database, pip install tzdata)"
        ) from None


class CronSchedule:
    """A cron expression in a time zone, checked when it is created.

    :arg expression: five fields, or an ``@`` alias (see :data:`ALIASES`)
    :arg zone: an IANA time zone name, a ``tzinfo``, or ``None`` for UTC
    :arg where: what the expression belongs to, for error messages
    :raises InvalidTaskError: for an invalid expression or zone, or when
        cronsim is not installed
    """

    def __init__(
        self, expression: str, zone: Union[str, tzinfo, None] = None, where: str = "cron"
    ) -> None:
        if not isinstance(expression, str):
            raise InvalidTaskError(f"{where}: cron must be a str, not {expression!r}")
        text = " ".join(expression.split())
        if text.startswith("@"):
            if text.lower() not in ALIASES:
                raise InvalidTaskError(
                    f"{where}: unknown cron alias {expression!r} (known: "
                    f"{', '.join(sorted(ALIASES))})"
                )
            text = ALIASES[text.lower()]
        try:
            from cronsim import CronSim, CronSimError
        except ImportError:
            raise InvalidTaskError(
                f"{where}: cron schedules need the cronsim package; {_INSTALL_HINT}"
            ) from None
        self.expression = text
        self.zone = _zone(zone, where)
        self._cronsim = CronSim
        try:
            first = next(CronSim(text, datetime.now(self.zone)), None)
        except (CronSimError, ValueError) as exc:
            raise InvalidTaskError(
                f"{where}: invalid cron expression {expression!r}: {exc}"
            ) from None
        if first is None:  # e.g. "* * */20 * 1L": the 1st or 21st being a last Monday
            raise InvalidTaskError(f"{where}: cron expression {expression!r} never matches")

    def next_after(self, timestamp: float) -> Optional[float]:
        """The first tick strictly after ``timestamp``, or ``None`` if none in 50 years."""
        start = datetime.fromtimestamp(timestamp, self.zone)
        for tick in self._cronsim(self.expression, start):
            value = tick.timestamp()
            if value > timestamp:  # cronsim starts from the minute of ``start``
                return value
        return None

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, CronSchedule)
            and other.expression == self.expression
            and str(other.zone) == str(self.zone)
        )

    def __hash__(self) -> int:
        return hash((self.expression, str(self.zone)))

    def __repr__(self) -> str:
        return f"CronSchedule({self.expression!r}, {str(self.zone)!r})"


class CronPlanner:
    """Keeps the next tick of each cron task planned in the broker.

    Owned by the arbiter thread of a worker.  :meth:`plan` puts, for each
    cron task whose last known tick has passed (or is not known yet), its
    next tick after now as a future job; the broker keeps it only if it is
    later than the tick already planned for that task, and answers with the
    tick planned, which becomes the known one.  So every worker may plan,
    each tick is queued once, and after downtime the schedule resumes at
    the next tick after now: the tick planned before the downtime runs once
    when workers are back, the others are not replayed.
    """

    def __init__(self, namespace: str, broker: Broker, get_tasks: Callable[[], Dict[str, Task]]):
        self._namespace = namespace
        self._broker = broker
        self._get_tasks = get_tasks
        self._lock = threading.Lock()  # only the arbiter plans; guards against misuse
        self._seen_tasks: Optional[Dict[str, Task]] = None
        self._tasks: List[Task] = []
        # task name -> (its schedule, the last tick known planned, or None)
        self._known: Dict[str, Tuple[CronSchedule, Optional[float]]] = {}
        self._next_check: Optional[float] = None

    def _refresh_tasks(self) -> None:
        tasks = self._get_tasks()
        if tasks is self._seen_tasks:  # replaced, never mutated: identity says it all
            return
        self._seen_tasks = tasks
        self._tasks = [task for task in tasks.values() if task.cron is not None]
        known = {}
        for task in self._tasks:
            assert task.cron is not None
            old = self._known.get(task.name)
            keep = old[1] if old is not None and old[0] == task.cron else None
            known[task.name] = (task.cron, keep)
        self._known = known
        self._update_next_check()

    def _update_next_check(self) -> None:
        ticks = [tick for _, tick in self._known.values()]
        if not ticks:
            self._next_check = None
        elif any(tick is None for tick in ticks):
            self._next_check = float("-inf")
        else:
            self._next_check = min(tick for tick in ticks if tick is not None)

    def next_check(self) -> Optional[float]:
        """When a planned tick passes and the next one must be planned; ``None``: never.

        Cheap enough for every turn of the arbiter's loop.
        """
        self._refresh_tasks()
        return self._next_check

    def plan(self, now: float) -> None:
        """Plan the next tick of each cron task whose known tick is not in the future."""
        with self._lock:
            self._refresh_tasks()
            runs: List[Job] = []
            for task in self._tasks:
                schedule, last = self._known[task.name]
                if last is not None and last > now:
                    continue
                tick = schedule.next_after(now)
                if tick is None:  # no tick in 50 years: nothing to plan, ever
                    self._known[task.name] = (schedule, float("inf"))
                    continue
                at = from_timestamp(tick)
                run_id = periodic_job_id(self._namespace, task.name, to_timestamp(at))
                runs.append(Job(task.name, task.queue, at, task.max_retries, id=uuid.UUID(run_id)))
            if not runs:
                self._update_next_check()
                return
            planned = self._broker.plan_cron_runs(runs)
            for name, tick in planned.items():
                if name in self._known:
                    self._known[name] = (self._known[name][0], tick)
            self._update_next_check()
            logger.debug(
                "Cron ticks planned in namespace %r: %s",
                self._namespace,
                ", ".join(f"{name} at {from_timestamp(tick)}" for name, tick in planned.items()),
            )
