"""The documented installations work from the built wheels, in fresh virtualenvs.

Every ``pip install`` command of the docs runs here as written (from the
wheelhouse), and what it installed does its job: core alone runs a job on
the MemoryBroker, core and redis on Redis, each integration with core only,
core keeps working once a satellite is uninstalled, and the extras of
spinach-core pull in the other distributions.
"""

from __future__ import annotations

import pytest

from .conftest import docs_helpers, versions

# Slow: virtualenvs, and a first session downloads the third-party wheels.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

#: The installations the docs show (the migration's reinstall is tested with the original).
INSTALLS = [
    c
    for c in docs_helpers.page_commands()
    if c.startswith("pip install") and "--force-reinstall" not in c
]

RUN_A_JOB = """
import sys
from spinach import Engine, {broker}
{setup}
spin = Engine({make_broker}, namespace={namespace!r})

@spin.task(name='compute', max_retries=1)
def compute(a, b):
    print('computed', a + b)

spin.schedule(compute, 5, 3)
spin.start_workers(number=2, stop_when_queue_empty=True)
"""


def memory_job(namespace: str) -> str:
    return RUN_A_JOB.format(
        broker="MemoryBroker", setup="", make_broker="MemoryBroker()", namespace=namespace
    )


def test_every_documented_install_is_tested():
    tested = {
        "pip install spinach-core",
        "pip install spinach-core spinach-redis",
        'pip install "spinach-core[redis]"',
        'pip install "spinach-core[redis,sentry]"',
        *(f"pip install spinach-{name}" for name in ("flask", "django", "sentry", "datadog")),
    }
    assert set(INSTALLS) == tested
    for command in tested:
        assert docs_helpers.COMMANDS_RUN[command] == "tests/packaging"


def test_core_alone_then_redis_then_without_redis(make_venv, redis_server):
    env = make_venv()
    env.install("pip install spinach-core")
    assert env.distributions() == {"spinach-core": versions()["spinach-core"]}
    assert env.python_code(memory_job("alone")) == "computed 8\n"
    error = env.python_code("from spinach import RedisBroker", ok=False)
    assert "pip install spinach-redis" in error

    env.install("pip install spinach-core spinach-redis")
    assert env.distributions() == {
        "spinach-core": versions()["spinach-core"],
        "spinach-redis": versions()["spinach-redis"],
    }
    on_redis = RUN_A_JOB.format(
        broker="RedisBroker",
        setup="",
        make_broker=f"RedisBroker.from_url({redis_server.url!r})",
        namespace="packaging-redis",
    )
    assert env.python_code(on_redis) == "computed 8\n"
    lua = env.python_code(
        "from importlib.resources import files\n"
        "import spinach.brokers.redis as r\n"
        "print(sorted(p.name for p in files(r).joinpath('scripts').iterdir()"
        " if p.name.endswith('.lua')))"
    )
    assert "'enqueue.lua'" in lua

    env.pip("uninstall", "--yes", "spinach-redis")
    assert env.distributions() == {"spinach-core": versions()["spinach-core"]}
    assert env.python_code(memory_job("after-uninstall")) == "computed 8\n"
    assert "pip install spinach-redis" in env.python_code(
        "from spinach import RedisBroker", ok=False
    )
    assert "No module named 'spinach.brokers.redis'" in env.python_code(
        "import spinach.brokers.redis", ok=False
    )
    assert env.python_code("import spinach.brokers, spinach.contrib; print('namespaces ok')") == (
        "namespaces ok\n"
    )


def test_extras_of_core_resolve_to_the_local_wheels(make_venv):
    env = make_venv()
    env.install('pip install "spinach-core[redis]"')
    expected = {name: versions()[name] for name in ("spinach-core", "spinach-redis")}
    assert env.distributions() == expected
    env.install('pip install "spinach-core[redis,sentry]"')
    expected["spinach-sentry"] = versions()["spinach-sentry"]
    assert env.distributions() == expected
    out = env.python_code(
        "import importlib.metadata as m\n"
        "import redis, sentry_sdk\n"
        "from spinach import RedisBroker\n"
        "from spinach.contrib.sentry_sdk_spinach import SpinachIntegration\n"
        "print(m.version('redis').split('.')[0], m.version('sentry-sdk').split('.')[0])"
    )
    redis_major, sentry_major = map(int, out.split())
    assert redis_major >= 5 and sentry_major >= 2


INTEGRATIONS = {
    "flask": (
        "from flask import Flask, current_app\n"
        "from spinach import MemoryBroker\n"
        "from spinach.contrib.flask_spinach import Spinach\n"
        "app = Flask('packaging')\n"
        "app.config['SPINACH_BROKER'] = MemoryBroker()\n"
        "spinach = Spinach(app)\n"
        "@spinach.task(name='hello')\n"
        "def hello():\n"
        "    print('computed in', current_app.name)\n"
        "with app.app_context():\n"
        "    spinach.schedule('hello')\n"
        "spinach.get_engine(app).start_workers(stop_when_queue_empty=True)\n",
        "computed in packaging\n",
    ),
    "django": (
        "import django\n"
        "from django.conf import settings\n"
        "from spinach import MemoryBroker\n"
        "settings.configure(INSTALLED_APPS=['spinach.contrib.spinachd'],\n"
        "                   SPINACH_BROKER=MemoryBroker(), SPINACH_NAMESPACE='packaging')\n"
        "django.setup()\n"
        "from spinach.contrib.spinachd import get_engine\n"
        "spin = get_engine()\n"
        "spin.task(lambda: print('computed in django'), name='hello')\n"
        "spin.schedule('hello')\n"
        "spin.start_workers(stop_when_queue_empty=True)\n",
        "computed in django\n",
    ),
    "sentry": (
        "import sentry_sdk\n"
        "from spinach.contrib.sentry_sdk_spinach import SpinachIntegration\n"
        "sentry_sdk.init(integrations=[SpinachIntegration()])\n" + memory_job("sentry"),
        "computed 8\n",
    ),
    "datadog": (
        "from spinach.contrib.datadog import register_datadog\n"
        "register_datadog()\n" + memory_job("datadog"),
        "computed 8\n",
    ),
}

NO_DATADOG_AGENT = {
    "DD_TRACE_AGENT_URL": "unix:///nonexistent/spinach-packaging/datadog-agent.sock",
    "DD_DOGSTATSD_URL": "unix:///nonexistent/spinach-packaging/dogstatsd.sock",
    "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false",
    "DD_REMOTE_CONFIGURATION_ENABLED": "false",
    "DD_TRACE_ENABLED": "false",
}


@pytest.mark.parametrize("name", sorted(INTEGRATIONS))
def test_each_integration_installs_with_core_only(make_venv, name):
    env = make_venv()
    env.install(f"pip install spinach-{name}")
    assert env.distributions() == {
        "spinach-core": versions()["spinach-core"],
        f"spinach-{name}": versions()[f"spinach-{name}"],
    }
    code, expected = INTEGRATIONS[name]
    assert env.python_code(code, env=NO_DATADOG_AGENT) == expected
