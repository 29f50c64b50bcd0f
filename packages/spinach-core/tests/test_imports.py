"""The public names of the spec, at the documented module paths."""

from __future__ import annotations

import importlib
import subprocess
import sys


def test_top_level_names():
    import spinach

    for name in (
        "Engine",
        "MemoryBroker",
        "Tasks",
        "Batch",
        "AsyncioWorkers",
        "ThreadWorkers",
        "RetryException",
        "AbortException",
        "signals",
        "Job",
        "JobStatus",
    ):
        assert hasattr(spinach, name), name
        assert name in spinach.__all__


def test_documented_module_paths():
    paths = {
        "spinach.engine": ["Engine"],
        "spinach.task": ["Tasks", "Batch", "RetryException", "AbortException"],
        "spinach.job": ["Job", "JobStatus"],
        "spinach.worker": ["BaseWorkers", "ThreadWorkers", "AsyncioWorkers"],
        "spinach.brokers.base": ["Broker"],
        "spinach.brokers.memory": ["MemoryBroker"],
        "spinach.signals": [
            "job_started",
            "job_finished",
            "job_schedule_retry",
            "job_failed",
            "worker_started",
            "worker_terminated",
        ],
        "spinach.utils": ["exponential_backoff"],
        "spinach.exc": ["SpinachError"],
    }
    for module, names in paths.items():
        mod = importlib.import_module(module)
        for name in names:
            assert hasattr(mod, name), f"{module}.{name}"


def test_namespace_packages_extend_their_path():
    import spinach
    import spinach.brokers
    import spinach.contrib

    for package in (spinach, spinach.brokers, spinach.contrib):
        assert isinstance(package.__path__, list)


def test_redis_broker_import_error_names_the_distribution():
    # Run with spinach.brokers.redis hidden, whether or not it is installed here.
    code = (
        "import sys\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'spinach.brokers.redis':\n"
        "            raise ModuleNotFoundError(name=name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "try:\n"
        "    from spinach import RedisBroker\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install spinach-redis" in out.stdout


def test_importing_spinach_starts_no_thread_and_creates_no_state():
    code = (
        "import threading\n"
        "before = threading.active_count()\n"
        "import spinach, spinach.engine, spinach.worker, spinach.brokers.memory\n"
        "print(threading.active_count() - before)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"
