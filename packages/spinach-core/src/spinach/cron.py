"""Cron schedules: when the next tick of a task's ``cron`` expression falls.

A :class:`CronSchedule` reads a standard five-field expression (minute,
hour, day of month, month, day of week) or one of the aliases ``@hourly``,
``@daily`` (``@midnight``), ``@weekly``, ``@monthly`` and ``@yearly``
(``@annually``), in a time zone from :mod:`zoneinfo` (UTC by default).
Expressions are evaluated on the zone's wall clock by `cronsim
<https://pypi.org/project/cronsim/>`_ (``pip install 'spinach-core[cron]'``),
and each wall-clock time is placed in real time here, so that daylight
saving time changes follow one rule, however an expression is spelled:

- the ticks of an hour skipped when clocks go forward run once, at the
  first valid time after the gap (``30 2 * * *`` and ``*/20 2 * * *`` both
  run once, at 03:00, that night);
- a tick in an hour repeated when clocks go back runs once, in the first
  pass (``30 2 * * *`` runs at the first 02:30), unless the hour field
  starts with ``*`` (``*/15 * * * *``): real time goes on, and such an
  expression runs in both passes.

Ticks are plain timestamps (seconds since the epoch, UTC): once computed,
where a worker runs or what its local time zone is changes nothing.

The :class:`CronPlanner` of each worker puts the next tick of every cron
task it knows in the broker as a future job; the broker refuses a tick that
is not later than the one already planned, so each tick is planned once
whatever the number of workers, and a tick computed from a time later than
its own, so that a worker whose clock runs ahead skips none (see the
chapter "Tasks").
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta, timezone, tzinfo
from typing import (
    TYPE_CHECKING,
    Callable,
    Dict,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Tuple,
    Union,
)

from .exc import InvalidTaskError
from .job import Job, cron_job_id
from .utils import from_timestamp, to_timestamp

if TYPE_CHECKING:
    from .brokers.base import Broker
    from .task import Task

__all__ = ["ALIASES", "CronPlan", "CronPlanner", "CronSchedule"]

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

#: Larger than any change of a zone's offset from UTC.
_MAX_SHIFT = timedelta(hours=3)


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
        fields = text.split()
        # Every hour (*, */2...): real time goes on through a repeated hour.
        self._hourly = len(fields) == 5 and fields[1].startswith("*")
        try:
            first = next(CronSim(text, datetime.now()), None)
        except (CronSimError, ValueError) as exc:
            raise InvalidTaskError(
                f"{where}: invalid cron expression {expression!r}: {exc}"
            ) from None
        if first is None:  # e.g. "* * */20 * 1L": the 1st or 21st being a last Monday
            raise InvalidTaskError(f"{where}: cron expression {expression!r} never matches")

    def next_after(self, timestamp: float) -> Optional[float]:
        """The first tick strictly after ``timestamp``, or ``None`` if none in 50 years.

        The expression is evaluated on the wall clock of the zone, and each
        wall-clock time is placed in real time by the rules of the module's
        docstring: a time in a skipped hour runs at the end of the gap (once,
        however many ticks fell in it), a time in a repeated hour runs in its
        first pass only, unless the hour field starts with ``*``.
        """
        zone = self.zone
        wall = datetime.fromtimestamp(timestamp, zone).replace(tzinfo=None)
        # Wall time and real time differ by at most the largest change of
        # offset (a few hours): a tick up to that much before ``wall`` may
        # still be after ``timestamp`` (the second pass of a repeated hour).
        best: Optional[float] = None
        horizon: Optional[datetime] = None
        for tick in self._cronsim(self.expression, wall - _MAX_SHIFT - timedelta(minutes=1)):
            if horizon is not None and tick > horizon:
                break
            for instant in self._instants(tick):
                if instant > timestamp and (best is None or instant < best):
                    best = instant
            if best is not None and horizon is None:
                horizon = max(tick, wall) + _MAX_SHIFT
        return best

    def _instants(self, wall: datetime) -> List[float]:
        """The real times of a wall-clock time of the zone (see :meth:`next_after`)."""
        first = wall.replace(tzinfo=self.zone, fold=0).timestamp()
        second = wall.replace(tzinfo=self.zone, fold=1).timestamp()
        if first == second:
            return [first]
        if first < second:  # a repeated hour: first and second pass
            return [first, second] if self._hourly else [first]
        # A skipped hour (fold 0 reads it with the offset before the change,
        # fold 1 with the one after): the change happens between the two.
        low, high = second, first
        offset = datetime.fromtimestamp(low, self.zone).utcoffset()
        while high - low > 0.5:
            middle = (low + high) / 2
            if datetime.fromtimestamp(middle, self.zone).utcoffset() == offset:
                low = middle
            else:
                high = middle
        return [float(round(high))]

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


class CronPlan(NamedTuple):
    """What :meth:`Broker.plan_cron_runs` answers."""

    #: The broker's time when it planned.
    now: float
    #: For each task offered, its last tick planned, or ``None`` if its tick
    #: was refused because the worker's time was later than the broker's.
    last: Dict[str, Optional[float]]


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

    def __init__(
        self,
        namespace: str,
        broker: Broker,
        get_tasks: Callable[[], Dict[str, Task]],
        make_run: Optional[Callable[[Task, datetime, uuid.UUID], Job]] = None,
    ):
        self._namespace = namespace
        #: Builds the job of a tick (the Engine's: tracking and results as
        #: the task says).
        self._make_run = make_run or (
            lambda task, at, run_id: Job(task.name, task.queue, at, task.max_retries, id=run_id)
        )
        self._broker = broker
        self._get_tasks = get_tasks
        self._seen_tasks: Optional[Dict[str, Task]] = None
        self._tasks: List[Task] = []
        # task name -> (its schedule, the last tick known planned, or None)
        self._known: Dict[str, Tuple[CronSchedule, Optional[float]]] = {}
        self._next_check: Optional[float] = None

    def _run(self, task: Task, tick: float) -> Job:
        at = from_timestamp(tick)
        run_id = cron_job_id(self._namespace, task.name, to_timestamp(at))
        return self._make_run(task, at, uuid.UUID(run_id))

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
        """Plan the next tick of each cron task whose known tick is not in the future.

        ``now`` is the worker's idea of the server's time.  The broker
        refuses the ticks of a worker whose clock runs ahead of its own (a
        tick computed from a time still to come could skip the ticks before
        it); they are planned again from the broker's time, in a second call.
        """
        self._refresh_tasks()
        due = []
        for task in self._tasks:
            last = self._known[task.name][1]
            if last is None or last <= now:
                due.append(task)
        ahead = self._offer(due, now)
        if ahead is not None:  # this worker's clock runs ahead: the broker's time
            server_now, refused = ahead
            again = self._offer(refused, server_now)
            for task in again[1] if again is not None else ():
                # Refused twice (a clock stepped back meanwhile): in a second.
                self._known[task.name] = (self._known[task.name][0], server_now + 1)
        self._update_next_check()

    def _offer(self, tasks: List[Task], now: float) -> Optional[Tuple[float, List[Task]]]:
        """Offer the first tick after ``now`` of each task; return the refused ones, if any.

        Returns ``None`` when none was refused, else the broker's time and
        the tasks refused because ``now`` is later than it.
        """
        runs: List[Job] = []
        offered: Dict[str, Task] = {}
        for task in tasks:
            schedule = self._known[task.name][0]
            tick = schedule.next_after(now)
            if tick is None:  # no tick in 50 years: nothing to plan, ever
                self._known[task.name] = (schedule, float("inf"))
                continue
            runs.append(self._run(task, tick))
            offered[task.name] = task
        if not runs:
            return None
        plan = self._broker.plan_cron_runs(runs, now)
        refused = []
        for name, tick in plan.last.items():
            if name not in self._known:
                continue
            if tick is None:
                refused.append(offered[name])
            else:
                self._known[name] = (self._known[name][0], tick)
        logger.debug(
            "Cron ticks planned in namespace %r: %s%s",
            self._namespace,
            ", ".join(
                f"{name} at {from_timestamp(tick)}" for name, tick in plan.last.items() if tick
            ),
            f"; refused (clock ahead): {[t.name for t in refused]}" if refused else "",
        )
        return (plan.now, refused) if refused else None
