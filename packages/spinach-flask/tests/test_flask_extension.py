"""Configuration, engines and scheduling helpers of the Spinach extension."""

from __future__ import annotations

import subprocess
import sys
import types
from datetime import datetime, timedelta, timezone

import pytest
from flask import Flask

import spinach as spinach_package
from spinach import Batch, MemoryBroker, Tasks
from spinach.contrib.flask_spinach import Spinach, __version__
from spinach.engine import Engine
from spinach.exc import UnknownTaskError
from spinach.job import JobStatus


def test_version_is_the_distributions():
    from importlib.metadata import version

    assert __version__ == version("spinach-flask")


def test_namespace_defaults_to_the_app_name():
    app = Flask("my.app")
    app.config["SPINACH_BROKER"] = MemoryBroker()
    spinach = Spinach(app)
    assert spinach.get_engine(app).namespace == "my.app"


def test_namespace_and_broker_from_config():
    app = Flask("my.app")
    broker = MemoryBroker()
    app.config.update(SPINACH_BROKER=broker, SPINACH_NAMESPACE="custom")
    spinach = Spinach(app)
    engine = spinach.get_engine(app)
    assert engine.namespace == "custom"
    assert engine.broker is broker


def test_one_engine_per_app_created_at_init_not_at_import():
    spinach = Spinach()
    apps = [Flask(f"app{i}") for i in range(2)]
    for app in apps:
        app.config["SPINACH_BROKER"] = MemoryBroker()
        spinach.init_app(app)
    engines = [spinach.get_engine(app) for app in apps]
    assert all(isinstance(e, Engine) for e in engines)
    assert engines[0] is not engines[1]
    assert spinach.get_engine(apps[0]) is engines[0]


def test_importing_the_extension_creates_no_engine_and_no_thread():
    code = (
        "import gc, threading\n"
        "before = threading.active_count()\n"
        "import spinach.contrib.flask_spinach\n"
        "from spinach.engine import Engine\n"
        "print(threading.active_count() - before,"
        " sum(isinstance(o, Engine) for o in gc.get_objects()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "0"]


class _HideRedis:
    """Import hook making ``spinach.brokers.redis`` missing, and counting attempts."""

    def __init__(self) -> None:
        self.attempts = 0

    def find_spec(self, name, path=None, target=None):
        if name == "spinach.brokers.redis":
            self.attempts += 1
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


@pytest.fixture
def without_spinach_redis(monkeypatch):
    hook = _HideRedis()
    monkeypatch.delitem(sys.modules, "spinach.brokers.redis", raising=False)
    monkeypatch.setattr(sys, "meta_path", [hook, *sys.meta_path])
    return hook


def test_default_broker_without_spinach_redis_says_what_to_do(without_spinach_redis):
    app = Flask("app")
    with pytest.raises(ImportError) as info:
        Spinach(app)
    message = str(info.value)
    assert "pip install spinach-redis" in message
    assert "SPINACH_BROKER" in message
    assert "spinach" not in app.extensions


def test_default_broker_is_not_imported_when_configured(without_spinach_redis):
    app = Flask("app")
    app.config["SPINACH_BROKER"] = MemoryBroker()
    Spinach(app)
    assert without_spinach_redis.attempts == 0


def test_default_broker_is_a_redis_broker(monkeypatch):
    """Without SPINACH_BROKER the engine gets ``spinach.RedisBroker()``."""

    class StandInRedisBroker(MemoryBroker):
        """Stands for spinach-redis's RedisBroker, not installed in this environment."""

    module = types.ModuleType("spinach.brokers.redis")
    module.RedisBroker = StandInRedisBroker
    monkeypatch.setitem(sys.modules, "spinach.brokers.redis", module)
    assert spinach_package.RedisBroker is StandInRedisBroker

    app = Flask("app")
    spinach = Spinach(app)
    assert type(spinach.get_engine(app).broker) is StandInRedisBroker


def test_broker_must_be_a_broker():
    app = Flask("app")
    app.config["SPINACH_BROKER"] = 6379
    with pytest.raises(TypeError, match="SPINACH_BROKER must be a broker instance"):
        Spinach(app)


def test_broker_str_must_be_a_redis_url():
    app = Flask("app")
    app.config["SPINACH_BROKER"] = "localhost:6379"
    with pytest.raises(ValueError, match="must be a Redis URL"):
        Spinach(app)


def test_broker_as_a_redis_url():
    redis_broker = pytest.importorskip("spinach.brokers.redis")
    app = Flask("app")
    app.config["SPINACH_BROKER"] = "redis://127.0.0.1:1/3"  # not connected until used
    engine = Spinach(app).get_engine(app)
    assert isinstance(engine.broker, redis_broker.RedisBroker)


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["-m", "flask_spinach_examples.ns_app"], id="python-m"),
        pytest.param(["flask_spinach_examples/ns_app.py"], id="script"),
        pytest.param(
            [
                "-m",
                "flask",
                "--app",
                "flask_spinach_examples.ns_app",
                "spinach",
                "--stop-when-queue-empty",
            ],
            id="flask-app-module",
        ),
        pytest.param(
            [
                "-m",
                "flask",
                "--app",
                "flask_spinach_examples/ns_app.py",
                "spinach",
                "--stop-when-queue-empty",
            ],
            id="flask-app-path",
        ),
    ],
)
def test_default_namespace_is_the_same_however_the_app_is_loaded(command):
    import subprocess
    import sys
    from pathlib import Path

    testapps = Path(__file__).parent / "testapps"
    out = subprocess.run(
        [sys.executable, *command], cwd=testapps, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert "namespace 'flask_spinach_examples.ns_app'" in out.stdout


def test_init_twice_is_an_error():
    app = Flask("app")
    app.config["SPINACH_BROKER"] = MemoryBroker()
    spinach = Spinach(app)
    with pytest.raises(RuntimeError, match="already initialised"):
        spinach.init_app(app)
    with pytest.raises(RuntimeError, match="already initialised"):
        Spinach(app)


def test_register_tasks_on_an_app_without_the_extension_is_an_error():
    spinach = Spinach()
    with pytest.raises(RuntimeError, match=r"call spinach.init_app\(app\)"):
        spinach.register_tasks(Flask("app"), Tasks())


def test_register_tasks_attaches_to_that_app_only(make_app, namespace):
    first, spinach = make_app(name="first", namespace_=f"{namespace}-a")
    second, _ = make_app(spinach, name="second", namespace_=f"{namespace}-b")
    tasks = Tasks()

    @tasks.task(name="only_first")
    def only_first():
        pass

    spinach.register_tasks(first, tasks)
    assert "only_first" in spinach.get_engine(first).tasks
    assert "only_first" not in spinach.get_engine(second).tasks
    with second.app_context(), pytest.raises(UnknownTaskError):
        spinach.schedule("only_first")


def test_tasks_of_the_extension_go_to_every_app_even_when_added_later(make_app, namespace):
    first, spinach = make_app(name="first", namespace_=f"{namespace}-a")
    second, _ = make_app(spinach, name="second", namespace_=f"{namespace}-b")

    @spinach.task(name="everywhere", max_retries=2, queue="q")
    def everywhere():
        pass

    for app in (first, second):
        task = spinach.get_engine(app).tasks["everywhere"]
        assert (task.max_retries, task.queue) == (2, "q")


def test_schedule_outside_an_app_context(make_app):
    """With the factory pattern there is no default app; with Spinach(app) there is."""
    _, factory_spinach = make_app()
    factory_spinach.task(lambda: None, name="noop")
    with pytest.raises(RuntimeError, match="application context"):
        factory_spinach.schedule("noop")

    app = Flask("single")
    app.config["SPINACH_BROKER"] = MemoryBroker()
    single = Spinach(app)
    single.task(lambda: None, name="noop")
    job = single.schedule("noop")
    assert job.status is JobStatus.QUEUED
    assert single.engine.broker.queue_length("spinach") == 1


def test_schedule_helpers_use_the_current_apps_engine(make_app, namespace):
    first, spinach = make_app(name="first", namespace_=f"{namespace}-a")
    second, _ = make_app(spinach, name="second", namespace_=f"{namespace}-b")

    @spinach.task(name="job")
    def job(n):
        pass

    at = datetime.now(timezone.utc) + timedelta(hours=1)
    with second.test_request_context():
        assert spinach.engine is spinach.get_engine(second)
        spinach.schedule("job", 1)
        future = spinach.schedule_at("job", at, 2)
        batch = Batch()
        batch.schedule("job", 3)
        batch.schedule_at("job", at, 4)
        jobs = spinach.schedule_batch(batch)

    assert future.status is JobStatus.WAITING and future.at == at
    assert [j.task_args for j in jobs] == [(3,), (4,)]
    second_broker = spinach.get_engine(second).broker
    first_broker = spinach.get_engine(first).broker
    assert (second_broker.queue_length("spinach"), second_broker.future_jobs_count()) == (2, 2)
    assert (first_broker.queue_length("spinach"), first_broker.future_jobs_count()) == (0, 0)


def test_periodic_task_on_the_extension(make_app, recorder):
    app, spinach = make_app()
    ran = []

    @spinach.task(name="tick", periodicity=timedelta(hours=1))
    def tick():
        from flask import current_app

        ran.append(current_app.name)

    spinach.get_engine(app).start_workers(number=1, block=False)
    recorder.wait_count("job_finished", 1, "tick")
    spinach.get_engine(app).stop_workers()
    assert ran == ["testapp"]
