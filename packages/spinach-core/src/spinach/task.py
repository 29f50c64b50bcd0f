"""Tasks, the registry that holds them, and batches of jobs to schedule."""

from __future__ import annotations

import hashlib
import inspect
import json
import numbers
import re
import weakref
from datetime import datetime, timedelta, tzinfo
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    FrozenSet,
    Iterator,
    List,
    NamedTuple,
    Optional,
    Tuple,
    Type,
    Union,
)

from .cron import CronSchedule
from .exc import (
    AbortException,
    InvalidJobSignatureError,
    InvalidTaskError,
    RetryException,
    TasksNotAttachedError,
    UnknownTaskError,
)

if TYPE_CHECKING:
    from .engine import Engine
    from .job import Job

__all__ = [
    "DEFAULT_QUEUE",
    "AbortException",
    "Batch",
    "RetryException",
    "Task",
    "TaskRef",
    "Tasks",
    "validate_name",
]

#: Queue used by tasks and workers that do not name one.
DEFAULT_QUEUE = "spinach"

#: The ``unique`` option of a task: off, keyed by the arguments, or by a function.
UniqueOption = Union[bool, Callable[..., str]]
#: The ``rate_limit`` option of a task: ``"100/m"``, ``(100, timedelta(minutes=1))`` or ``None``.
RateLimitOption = Union[str, Tuple[int, timedelta], None]

_NO_NAMES: FrozenSet[str] = frozenset()

# Letters, digits and "_.:-": names go verbatim into Redis keys, channel names,
# key and channel patterns of ACL rules (where "*?[]\\" are wildcards) and the
# stored definitions of periodic tasks (where "|" separates fields).
_NAME_RE = re.compile(r"[A-Za-z0-9_.:-]{1,200}")


def validate_name(kind: str, name: object, error: Type[Exception] = InvalidTaskError) -> str:
    """Check a queue or namespace name and return it, or raise ``error``.

    Names are 1 to 200 characters among ASCII letters, digits, ``_``,
    ``.``, ``:`` and ``-``, and do not start with an underscore, which the
    library keeps for its own use.  They are used verbatim in Redis keys,
    channels and the patterns of ACL rules: no character of theirs can be a
    wildcard, a hash tag or a separator there.
    """
    if not isinstance(name, str):
        raise error(f"{kind} name must be a str, not {type(name).__name__}")
    if not _NAME_RE.fullmatch(name):
        raise error(
            f"invalid {kind} name {name!r}: use 1 to 200 ASCII letters, digits, '_', '.', "
            "':' and '-'"
        )
    if name.startswith("_"):
        raise error(
            f"invalid {kind} name {name!r}: names starting with '_' are reserved by Spinach"
        )
    return name


class Task:
    """A function registered to run in the background, with its options.

    Created by :meth:`Tasks.task` or :meth:`Tasks.add`, never by hand.
    """

    __slots__ = (
        "_checked",
        "_signature",
        "cron",
        "func",
        "is_async",
        "max_concurrency",
        "max_retries",
        "name",
        "on_duplicate",
        "periodicity",
        "queue",
        "rate_limit",
        "store_result",
        "timeout",
        "track",
        "unique",
    )

    def __init__(
        self,
        func: Callable[..., Any],
        name: str,
        queue: str,
        max_retries: int,
        periodicity: Optional[timedelta],
        max_concurrency: Optional[int],
        *,
        track: Optional[bool] = None,
        store_result: Union[bool, timedelta] = False,
        timeout: Optional[timedelta] = None,
        cron: Optional[CronSchedule] = None,
        unique: UniqueOption = False,
        on_duplicate: str = "return",
        rate_limit: Optional[Tuple[int, float]] = None,
    ) -> None:
        self.func = func
        #: Most jobs started per period across all workers, as
        #: ``(jobs, seconds)``, or ``None``.
        self.rate_limit = rate_limit
        #: Whether its jobs are unique: ``False``, ``True`` (keyed by their
        #: arguments) or the function that gives the key of a job.
        self.unique = unique
        #: What scheduling a duplicate of a live unique job does: ``"return"``
        #: the live job, or ``"raise"`` :class:`~spinach.exc.DuplicateJobError`.
        self.on_duplicate = on_duplicate
        #: The cron schedule of a cron task, or ``None``.
        self.cron = cron
        #: Longest time a job of this task may run, or ``None``.
        self.timeout = timeout
        #: Whether its jobs are tracked; ``None``: as the Engine's ``track_jobs`` says.
        self.track = track
        #: Whether (``True``: for the Engine's ``finished_jobs_ttl``) or for
        #: how long (a ``timedelta``) the return value of its jobs is kept.
        self.store_result = store_result
        self.name = name
        self.queue = queue
        self.max_retries = max_retries
        self.periodicity = periodicity
        self.max_concurrency = max_concurrency
        self.is_async = inspect.iscoroutinefunction(func)
        try:
            self._signature: Optional[inspect.Signature] = inspect.signature(func)
        except (TypeError, ValueError):  # some builtins have no signature
            self._signature = None
        # Whether arguments bind depends only on how many positional ones there
        # are and on the keyword names: cache the verdict ("" when they do).
        self._checked: Dict[Tuple[int, FrozenSet[str]], str] = {}

    def check_arguments(self, args: tuple, kwargs: Dict[str, Any]) -> None:  # type: ignore[type-arg]
        """Raise :class:`InvalidJobSignatureError` if the task cannot take these arguments."""
        if self._signature is None:
            return
        shape = (len(args), frozenset(kwargs) if kwargs else _NO_NAMES)
        error = self._checked.get(shape)
        if error is None:
            try:
                self._signature.bind(*args, **kwargs)
                error = ""
            except TypeError as exc:
                error = f"invalid arguments for task {self.name!r}{self._signature}: {exc}"
            if len(self._checked) < 256:
                self._checked[shape] = error
        if error:
            raise InvalidJobSignatureError(error)

    def unique_digest(self, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Optional[str]:
        """The digest of the unique key of a job of this task, or ``None``.

        The key is the task's name with the job's arguments matched to the
        function's parameters, defaults included (so ``f(1)``, ``f(a=1)``
        and ``f(1, b=2)`` are one call of ``def f(a, b=2)``), or with what
        its ``unique`` function returns for them; raise
        :class:`TypeError` if that is not a non-empty ``str``.
        """
        unique = self.unique
        if unique is False:
            return None
        if unique is True:
            call: Any = [list(args), kwargs]
            if self._signature is not None:  # checked already: the arguments bind
                bound = self._signature.bind(*args, **kwargs)
                bound.apply_defaults()
                call = bound.arguments
            key = json.dumps(call, sort_keys=True, separators=(",", ":"), default=repr)
        else:
            key = unique(*args, **kwargs)
            if not isinstance(key, str) or not key:
                raise TypeError(
                    f"the unique function of task {self.name!r} must return a non-empty str "
                    f"for the job's arguments, not {key!r}"
                )
        return hashlib.sha1(f"{self.name}\0{key}".encode()).hexdigest()

    def __repr__(self) -> str:
        return f"<Task {self.name} queue={self.queue} max_retries={self.max_retries}>"


#: What identifies a task when scheduling a job: its name, function or Task.
TaskRef = Union[str, Callable[..., Any], Task]


def _check_cron(
    name: str, cron: object, zone: object, periodicity: Optional[timedelta]
) -> Optional[CronSchedule]:
    where = f"task {name!r}"
    if cron is None:
        if zone is not None:
            raise InvalidTaskError(f"{where}: timezone is only for cron tasks (give cron too)")
        return None
    if periodicity is not None:
        raise InvalidTaskError(f"{where}: give periodicity or cron, not both")
    if zone is not None and not isinstance(zone, (str, tzinfo)):
        raise InvalidTaskError(f"{where}: timezone must be a str or a tzinfo, not {zone!r}")
    return CronSchedule(cron, zone, where)  # type: ignore[arg-type]


def _check_options(
    name: str,
    queue: str,
    max_retries: object,
    periodicity: object,
    max_concurrency: object,
) -> None:
    where = f"task {name!r}"
    try:
        validate_name("queue", queue)
    except InvalidTaskError as exc:
        raise InvalidTaskError(f"{where}: {exc}") from None
    if isinstance(max_retries, bool) or not isinstance(max_retries, numbers.Integral):
        raise InvalidTaskError(f"{where}: max_retries must be an int, not {max_retries!r}")
    if max_retries < 0:
        raise InvalidTaskError(f"{where}: max_retries must be 0 or more, not {max_retries}")
    if periodicity is not None:
        if not isinstance(periodicity, timedelta):
            raise InvalidTaskError(f"{where}: periodicity must be a timedelta, not {periodicity!r}")
        if periodicity <= timedelta(0):
            raise InvalidTaskError(f"{where}: periodicity must be positive, not {periodicity}")
    if max_concurrency is not None:
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, numbers.Integral):
            raise InvalidTaskError(
                f"{where}: max_concurrency must be an int, not {max_concurrency!r}"
            )
        if max_concurrency < 1:
            raise InvalidTaskError(
                f"{where}: max_concurrency must be 1 or more, not {max_concurrency}"
            )
        if max_retries == 0:
            raise InvalidTaskError(
                f"{where}: max_concurrency requires max_retries to be set to 1 or more, "
                "since only retryable tasks can be limited safely"
            )


def _check_store_result(name: str, store_result: object) -> None:
    if isinstance(store_result, bool):
        return
    if not isinstance(store_result, timedelta):
        raise InvalidTaskError(
            f"task {name!r}: store_result must be True, False or a timedelta, not {store_result!r}"
        )
    if not timedelta(seconds=1) <= store_result <= timedelta(days=3650):
        raise InvalidTaskError(
            f"task {name!r}: store_result must be between 1 second and 10 years, not {store_result}"
        )


def _check_timeout(name: str, timeout: object) -> None:
    if timeout is None:
        return
    if not isinstance(timeout, timedelta):
        raise InvalidTaskError(f"task {name!r}: timeout must be a timedelta, not {timeout!r}")
    if timeout <= timedelta(0):
        raise InvalidTaskError(f"task {name!r}: timeout must be positive, not {timeout}")


def _check_unique(
    name: str,
    unique: object,
    on_duplicate: object,
    track: Optional[bool],
    periodicity: Optional[timedelta],
    cron: Optional[CronSchedule],
) -> Optional[bool]:
    """Check the unique options of a task; return its ``track`` (a unique task is tracked)."""
    where = f"task {name!r}"
    if on_duplicate not in ("return", "raise"):
        raise InvalidTaskError(
            f'{where}: on_duplicate must be "return" or "raise", not {on_duplicate!r}'
        )
    if unique is False:
        return track
    if unique is not True and not callable(unique):
        raise InvalidTaskError(
            f"{where}: unique must be True, False or a function returning a job's key, "
            f"not {unique!r}"
        )
    if periodicity is not None or cron is not None:
        raise InvalidTaskError(
            f"{where}: periodic and cron tasks cannot be unique (each run is already once)"
        )
    if track is False:
        raise InvalidTaskError(
            f"{where}: a unique task is tracked (its jobs' records hold their keys): "
            "do not give track=False"
        )
    return True


_RATE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RATE_RE = re.compile(r"\s*([0-9]+)\s*/\s*([0-9]*)\s*([smhd])\s*")


def _check_rate_limit(name: str, rate_limit: object) -> Optional[Tuple[int, float]]:
    """The ``rate_limit`` of a task as ``(jobs, seconds)``, or ``None``; refuse anything else."""
    if rate_limit is None:
        return None
    where = f"task {name!r}"
    if isinstance(rate_limit, str):
        match = _RATE_RE.fullmatch(rate_limit)
        if match is None:
            raise InvalidTaskError(
                f'{where}: rate_limit {rate_limit!r} is not "<jobs>/<unit>" with a unit '
                'among s, m, h, d (e.g. "100/m", or "5/10s")'
            )
        most = int(match[1])
        period = float(int(match[2] or 1) * _RATE_UNITS[match[3]])
    elif (
        isinstance(rate_limit, tuple)
        and len(rate_limit) == 2
        and isinstance(rate_limit[1], timedelta)
        and isinstance(rate_limit[0], int)
        and not isinstance(rate_limit[0], bool)
    ):
        most, period = rate_limit[0], rate_limit[1].total_seconds()
    else:
        raise InvalidTaskError(
            f'{where}: rate_limit must be a str such as "100/m" or a (jobs, timedelta) '
            f"tuple, not {rate_limit!r}"
        )
    if most < 1 or not 0.001 <= period <= 30 * 86400:
        raise InvalidTaskError(
            f"{where}: rate_limit needs at least 1 job per period, and a period between "
            f"1 ms and 30 days, not {most} per {period:g} s"
        )
    return most, period


def _check_track(track: object) -> None:
    if track is not None and not isinstance(track, bool):
        raise InvalidTaskError(f"track must be True, False or None, not {track!r}")


class Tasks:
    """Registry for tasks to be used by Spinach.

    :arg queue: default queue for tasks
    :arg max_retries: default retry policy for tasks
    :arg periodicity: for periodic tasks, delay between executions as a
        ``timedelta``
    :arg max_concurrency: maximum number of simultaneous jobs that can be
        started for a task; requires ``max_retries`` to be also set
    :arg track: default of the tasks' ``track`` option, see :meth:`add`
    """

    def __init__(
        self,
        queue: Optional[str] = None,
        max_retries: Optional[int] = None,
        periodicity: Optional[timedelta] = None,
        max_concurrency: Optional[int] = None,
        *,
        track: Optional[bool] = None,
    ) -> None:
        _check_track(track)
        self.track = track
        self.queue = queue
        self.max_retries = max_retries
        self.periodicity = periodicity
        self.max_concurrency = max_concurrency
        self._tasks: Dict[str, Task] = {}
        # Weak: a registry (often module-level) must not keep engines alive.
        self._engines: List[weakref.ref[Engine]] = []

    def __iter__(self) -> Iterator[Task]:
        return iter(list(self._tasks.values()))

    def __len__(self) -> int:
        return len(self._tasks)

    def __contains__(self, name: object) -> bool:
        return name in self._tasks

    @property
    def names(self) -> List[str]:
        """Names of the registered tasks."""
        return list(self._tasks)

    @property
    def tasks(self) -> Dict[str, Task]:
        """The registered tasks, by name (a copy)."""
        return dict(self._tasks)

    def get(self, name: TaskRef) -> Task:
        """Return a registered task, found by its name, its function or itself.

        :arg name: the name of the task, the function it was registered
            with, or the :class:`Task`
        :raises spinach.exc.UnknownTask: if no task of this registry matches,
            or the function is registered under several names
        """
        if isinstance(name, str):
            task = self._tasks.get(name)
            if task is None:
                raise UnknownTaskError(
                    f"no task named {name!r} in this registry; "
                    f"known tasks: {sorted(self._tasks) or 'none'}"
                )
            return task
        if isinstance(name, Task):
            if self._tasks.get(name.name) is not name:
                raise UnknownTaskError(f"task {name.name!r} is not registered in this registry")
            return name
        found = [task for task in self._tasks.values() if callable(name) and task.func == name]
        if len(found) == 1:
            return found[0]
        what = getattr(name, "__qualname__", name)
        if found:
            raise UnknownTaskError(
                f"{what!r} is registered under several task names "
                f"({', '.join(sorted(t.name for t in found))}); get it by name"
            )
        raise UnknownTaskError(f"{what!r} is not a task of this registry")

    def update(self, tasks: Tasks) -> None:
        """Add every task of another registry to this one.

        The tasks keep the options they were defined with.  They are checked
        as :meth:`add` checks a new task, all of them before any is added: a
        name already used by another task, here or in an Engine this registry
        is attached to, raises :class:`~spinach.exc.InvalidTaskError` and
        adds nothing.

        :arg tasks: the :class:`Tasks` registry whose tasks to add
        """
        if not isinstance(tasks, Tasks):
            raise TypeError(f"expected a Tasks registry, not {tasks!r}")
        new = [task for task in tasks if self._tasks.get(task.name) is not task]
        for task in new:
            if task.name in self._tasks:
                raise InvalidTaskError(f"a task named {task.name!r} is already registered")
        engines = self._live_engines()
        for engine in engines:
            for task in new:
                engine._check_new(task)
        for task in new:
            for engine in engines:
                engine._register_task(task)
            self._tasks[task.name] = task

    def task(
        self,
        func: Optional[Callable[..., Any]] = None,
        name: Optional[str] = None,
        queue: Optional[str] = None,
        max_retries: Optional[int] = None,
        periodicity: Optional[timedelta] = None,
        max_concurrency: Optional[int] = None,
        *,
        track: Optional[bool] = None,
        store_result: Union[bool, timedelta] = False,
        timeout: Optional[timedelta] = None,
        cron: Optional[str] = None,
        timezone: Union[str, tzinfo, None] = None,
        unique: UniqueOption = False,
        on_duplicate: str = "return",
        rate_limit: RateLimitOption = None,
    ) -> Any:
        """Decorator to register a task function.

        The function is returned unchanged, so it can still be called
        directly.  ``name`` is required; the other options default to those
        of the registry.

        >>> tasks = Tasks()
        >>> @tasks.task(name='foo')
        ... def foo():
        ...     pass
        """

        def register(function: Callable[..., Any]) -> Callable[..., Any]:
            self.add(
                function,
                name,
                queue,
                max_retries,
                periodicity,
                max_concurrency,
                track=track,
                store_result=store_result,
                timeout=timeout,
                cron=cron,
                timezone=timezone,
                unique=unique,
                on_duplicate=on_duplicate,
                rate_limit=rate_limit,
            )
            return function

        if func is not None:
            return register(func)
        return register

    def add(
        self,
        func: Callable[..., Any],
        name: Optional[str] = None,
        queue: Optional[str] = None,
        max_retries: Optional[int] = None,
        periodicity: Optional[timedelta] = None,
        max_concurrency: Optional[int] = None,
        *,
        track: Optional[bool] = None,
        store_result: Union[bool, timedelta] = False,
        timeout: Optional[timedelta] = None,
        cron: Optional[str] = None,
        timezone: Union[str, tzinfo, None] = None,
        unique: UniqueOption = False,
        on_duplicate: str = "return",
        rate_limit: RateLimitOption = None,
    ) -> None:
        """Register a task function.

        :arg func: a callable to be executed
        :arg name: name of the task, used later to schedule jobs
        :arg queue: queue of the task, the default is used if not provided
        :arg max_retries: maximum number of retries, the default is used if
            not provided
        :arg periodicity: for periodic tasks, delay between executions as a
            timedelta
        :arg max_concurrency: maximum number of simultaneous jobs that can be
            started for this task; requires ``max_retries`` to be also set
        :arg track: keep a record of each job of this task, that
            :meth:`~spinach.engine.Engine.get_job` reads and
            :meth:`~spinach.engine.Engine.cancel` needs (``True``); never
            (``False``); or as the Engine's ``track_jobs`` says (``None``,
            the default).  See the chapter "Following jobs".
        :arg store_result: keep what the task returns (JSON values only), for
            the Engine's ``finished_jobs_ttl`` (``True``) or for a
            ``timedelta``, so that :meth:`~spinach.job.Job.result` can wait
            for it.  Off by default.
        :arg timeout: longest time a job may run (a ``timedelta``): past it,
            the attempt fails with :class:`~spinach.exc.JobTimeoutError` and
            is retried or failed per ``max_retries``.  An async job is
            cancelled; a job on a thread is interrupted at its next Python
            instruction, and its worker slot and concurrency token are freed
            soon after even if it cannot be (see the chapter "Following jobs").
        :arg cron: for cron tasks, a five-field cron expression
            (``"0 3 * * 1-5"``) or an alias (``"@daily"``): the task runs at
            each tick, once across all workers, never early.  Needs
            ``pip install 'spinach-core[cron]'``; see :mod:`spinach.cron`.
        :arg timezone: the time zone of ``cron`` (an IANA name such as
            ``"Europe/Paris"``, or a ``tzinfo``); UTC by default.
        :arg unique: ``True`` to never have two live jobs (waiting, queued or
            running) of this task with the same arguments, or a function
            taking the job's arguments and returning its key (a ``str``):
            scheduling a job whose key a live job holds schedules nothing.
            The key is freed when that job ends (succeeds, fails for good,
            is cancelled, is set aside, or is lost with a dead worker
            without retries left).  Unique jobs are tracked.  See the
            chapter "Unique jobs".
        :arg on_duplicate: what scheduling such a duplicate does:
            ``"return"`` (the default) returns a Job standing for the live
            one (``job.duplicate`` is ``True``, ``job.id`` its id);
            ``"raise"`` raises :class:`~spinach.exc.DuplicateJobError`.
        :arg rate_limit: most jobs of this task started per period, across
            every worker and process of the namespace: ``"100/m"`` (``s``,
            ``m``, ``h``, ``d``) or ``(100, timedelta(minutes=1))``.  Jobs
            over the limit wait in the broker, with the future jobs, until
            the window has room.  See the chapter "Rate limits".

        >>> tasks = Tasks()
        >>> tasks.add(lambda x: x, name='do_nothing')
        """
        if not callable(func):
            raise InvalidTaskError(f"a task must be callable, not {func!r}")
        if not isinstance(name, str) or not name:
            raise InvalidTaskError(
                f"a task needs a name (a non-empty str) to be scheduled by, got {name!r} "
                f"for {getattr(func, '__qualname__', func)!r}"
            )
        if name in self._tasks:
            raise InvalidTaskError(f"a task named {name!r} is already registered")
        queue = _first(queue, self.queue, DEFAULT_QUEUE)
        retries: Any = _first(max_retries, self.max_retries, 0)
        periodicity = _first(periodicity, self.periodicity, None)
        max_concurrency = _first(max_concurrency, self.max_concurrency, None)
        _check_options(name, queue, retries, periodicity, max_concurrency)
        _check_track(track)
        _check_store_result(name, store_result)
        _check_timeout(name, timeout)
        schedule = _check_cron(name, cron, timezone, periodicity)
        # The registry's track=False is a default: a unique task is tracked all the same.
        track = _check_unique(name, unique, on_duplicate, track, periodicity, schedule)
        track = _first(track, self.track, None)
        task = Task(
            func,
            name,
            queue,
            int(retries),
            periodicity,
            max_concurrency,
            track=track,
            store_result=store_result,
            timeout=timeout,
            cron=schedule,
            unique=unique,
            on_duplicate=on_duplicate,
            rate_limit=_check_rate_limit(name, rate_limit),
        )
        if periodicity is not None or schedule is not None:
            try:
                task.check_arguments((), {})
            except InvalidJobSignatureError:
                kind = "periodic" if schedule is None else "cron"
                raise InvalidTaskError(
                    f"{kind} task {name!r} must be callable without arguments"
                ) from None
        for engine in self._live_engines():
            engine._register_task(task)  # raises before anything is changed
        self._tasks[name] = task

    def _live_engines(self) -> List[Engine]:
        engines = [engine for engine in (ref() for ref in self._engines) if engine is not None]
        if len(engines) != len(self._engines):
            self._engines = [weakref.ref(engine) for engine in engines]
        return engines

    def _attached(self, engine: Engine) -> None:
        if engine not in self._live_engines():
            self._engines.append(weakref.ref(engine))

    @property
    def _engine(self) -> Engine:
        engines = self._live_engines()
        if not engines:
            raise TasksNotAttachedError(
                "these tasks are not attached to an Engine yet: "
                "call engine.attach_tasks(tasks) before scheduling jobs with them"
            )
        return engines[-1]

    def schedule(self, task: TaskRef, *args: Any, **kwargs: Any) -> Job:
        """Schedule a job to be executed as soon as possible.

        :arg task: the task or its name to execute in the background
        :arg args: args to be passed to the task function
        :arg kwargs: kwargs to be passed to the task function
        :return: the Job that was created and scheduled

        This method can only be used once tasks have been attached to an
        Engine; with several engines, the last one attached is used.
        """
        return self._engine.schedule(task, *args, **kwargs)

    def schedule_at(self, task: TaskRef, at: datetime, *args: Any, **kwargs: Any) -> Job:
        """Schedule a job to be executed in the future.

        :arg task: the task or its name to execute in the background
        :arg at: date at which the job should start; a naive datetime is
            taken as UTC
        :arg args: args to be passed to the task function
        :arg kwargs: kwargs to be passed to the task function
        :return: the Job that was created and scheduled
        """
        return self._engine.schedule_at(task, at, *args, **kwargs)

    def schedule_batch(self, batch: Batch) -> List[Job]:
        """Schedule many jobs at once, all or none of them.

        :arg batch: :class:`Batch` instance containing jobs to schedule
        :return: the Jobs that were created and scheduled
        """
        return self._engine.schedule_batch(batch)


def _first(*values: Any) -> Any:
    for value in values:
        if value is not None:
            return value
    return None


class BatchItem(NamedTuple):
    """One job of a :class:`Batch`, not yet validated."""

    task: TaskRef
    at: Optional[datetime]
    args: tuple  # type: ignore[type-arg]
    kwargs: Dict[str, Any]


class Batch:
    """Container allowing to schedule many jobs at once.

    The jobs of a batch are validated together and sent to the broker in
    one call: if one of them is invalid, none is scheduled.  Once a batch
    has been scheduled it cannot be scheduled again or extended.

    >>> batch = Batch()
    >>> for i in range(100):
    ...     batch.schedule('compute', i)
    >>> jobs = spin.schedule_batch(batch)
    """

    def __init__(self) -> None:
        self.jobs_to_create: List[BatchItem] = []
        self._scheduled = False

    def __len__(self) -> int:
        return len(self.jobs_to_create)

    def schedule(self, task: TaskRef, *args: Any, **kwargs: Any) -> None:
        """Add a job to be executed as soon as possible to the batch.

        :arg task: the task or its name to execute in the background
        :arg args: args to be passed to the task function
        :arg kwargs: kwargs to be passed to the task function
        """
        self._add(BatchItem(task, None, args, kwargs))

    def schedule_at(self, task: TaskRef, at: datetime, *args: Any, **kwargs: Any) -> None:
        """Add a job to be executed in the future to the batch.

        :arg task: the task or its name to execute in the background
        :arg at: date at which the job should start; a naive datetime is
            taken as UTC
        :arg args: args to be passed to the task function
        :arg kwargs: kwargs to be passed to the task function
        """
        if not isinstance(at, datetime):
            raise TypeError(f"at must be a datetime, not {type(at).__name__}")
        self._add(BatchItem(task, at, args, kwargs))

    def _add(self, item: BatchItem) -> None:
        self._check_not_scheduled()
        self.jobs_to_create.append(item)

    def _check_not_scheduled(self) -> None:
        if self._scheduled:
            raise InvalidTaskError("this Batch was already scheduled; create a new one")

    def _mark_scheduled(self) -> None:
        self._scheduled = True
