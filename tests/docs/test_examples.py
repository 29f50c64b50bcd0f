"""Every example of docs/examples/ runs as a user would run it, and does what the page says.

Examples are run in a subprocess with the test environment's interpreter.
Those that block in ``start_workers()`` are stopped with SIGINT (Ctrl+C) once
they printed what they should; those that need Redis get the URL of the
private ``redis_server`` of the root conftest in ``SPINACH_REDIS_URL``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from .helpers import EXAMPLES, clean_env, run, run_until

pytestmark = pytest.mark.skipif(os.name == "nt", reason="stops examples with SIGINT")


def test_quickstart():
    out, err, code = run_until([sys.executable, "quickstart.py"], "Computed 5 + 3 = 8")
    assert code == 0, err
    assert out.splitlines()[:2] == ["Starting workers, ^C to quit", "Computed 5 + 3 = 8"]


def test_tasks_registry():
    result = run("tasks_registry.py")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["Computed 1 + 2 = 3", "Computed 3 + 4 = 7", "Hello Ada"]


def test_engine_tasks():
    result = run("engine_tasks.py")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "fast is done\n"


def test_backoff():
    result = run("backoff.py")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [f"attempt {n}" for n in (1, 2, 5, 10)]
    # The original's scale: 3 to 6 s for the first retry; capped at 20 minutes.
    assert lines[0].endswith("(at most 6 s)")
    assert 3 <= int(lines[0].split("retry in ")[1].split(" s")[0]) <= 6
    assert lines[-1].endswith("(at most 1200 s)")


def test_retries():
    result = run("retries.py")
    assert result.returncode == 0, result.stderr
    assert "Charging order 42" in result.stdout
    assert "flaky succeeded on attempt 3" in result.stdout
    assert result.stderr.count("(retry 1 of 5): the service is busy") == 1
    assert result.stderr.count("(retry 2 of 5): the service is busy") == 1
    assert "aborted: user -1 cannot exist, retrying is pointless" in result.stderr
    assert "will be retried" not in result.stderr.split("aborted")[1].split("\n")[0]


def test_concurrency():
    result = run("concurrency.py")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "5 jobs ran, at most 1 at once\n"


def test_periodic():
    out, err, code = run_until([sys.executable, "periodic.py"], "Making coffee...")
    assert code == 0, err
    assert out.splitlines()[:2] == ["Starting workers, ^C to quit", "Making coffee..."]


def test_cron():
    result = run("cron.py")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"nightly_report runs next at \S+T03:00:00\+0[12]:00", lines[0])
    assert re.fullmatch(r"clean_up runs next at \S+T\d\d:00:00\+00:00", lines[1])
    assert len(lines) == 2


def test_unique():
    result = run("unique.py")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "duplicate: True, same job: True",
        "another site: False",
        "refused: job signup is queued",
        "Rebuilding the index of site 42",
        "Rebuilding the index of site 7",
        "Syncing user 1 (signup)",
        "after the run: False",
    ]


# Alone: the example prints the second of each start, counted from the first
# job's start; the load of other tests can delay that first start by tenths of
# a second, which moves later starts into an earlier second (6 in one seen).
@pytest.mark.serial
def test_rate_limit():
    result = run("rate_limit.py")
    assert result.returncode == 0, result.stderr
    prefix = "second of each start: "
    assert result.stdout.startswith(prefix), result.stdout
    seconds = json.loads(result.stdout[len(prefix) :])
    # 3 per second: never more than 3 in one second, and 9 take 2 s at least.
    assert len(seconds) == 9 and seconds == sorted(seconds) and seconds[:3] == [0, 0, 0]
    assert max(seconds.count(s) for s in set(seconds)) <= 3 and seconds[-1] >= 2


def test_batch():
    result = run("batch.py")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "scheduled 100 jobs in one call",
        f"sum of squares: {sum(i * i for i in range(100))}",
    ]


def test_validation():
    result = run("validation.py")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:4]] == [
        "InvalidJobSignatureError",
        "InvalidJobSignatureError",
        "SerializationError",
        "UnknownTaskError",
    ]
    assert "missing a required argument: 'image_id'" in lines[0]
    assert "unexpected keyword argument 'depth'" in lines[1]
    assert "args[1] is a datetime" in lines[2]
    assert lines[4] == "batch refused (SerializationError); jobs queued: 0"


def test_job_lifecycle():
    result = run("job_lifecycle.py")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"id=[0-9a-f-]{36} queue=spinach max_retries=0 at=UTC", lines[0])
    assert lines[1:] == [
        "divide(6, 3) RUNNING, retries=0",
        "divide(6, 3) SUCCEEDED",
        "divide(1, 0) RUNNING, retries=0",
        "divide(1, 0) FAILED",
    ]
    assert "ZeroDivisionError: division by zero" in result.stderr


def test_future_jobs():
    result = run("future_jobs.py")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"remind is WAITING until \d\d:\d\d:\d\d", lines[0])
    assert lines[1:] == [
        "Reminder: stretch your legs",
        "remind started no earlier than due: True",
    ]


def test_namespaces_on_redis(redis_url):
    result = run("namespaces.py", env={"SPINACH_REDIS_URL": redis_url})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "prod: 1 job, stg: 2",
        "report ran in prod",
        "report ran in stg",
        "report ran in stg",
    ]


def test_redis_broker(redis_url):
    result = run("redis_broker.py", env={"SPINACH_REDIS_URL": redis_url})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Shipping order 1234",
        "dead workers are found after 60 s of silence",
    ]


def test_queues():
    result = run("queues.py")
    assert result.returncode == 0, result.stderr
    log = result.stderr
    assert re.search(r"spinach-worker-1 INFO: Job fast \S+ succeeded in \d+\.\d ms", log), log
    assert "Job slow" not in log
    assert "Queue 'high-priority' is empty, stopping workers" in log


def test_queue_priority():
    result = run("queue_priority.py")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "charged order 1",
        "charged order 2",
        "sent the receipt of order 1",
        "sent the receipt of order 2",
        "refreshed the statistics",
    ]


def test_inspection():
    result = run("inspection.py")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "billing: 250 jobs, oldest waiting 0 s",
        "page from 200: 50 jobs, orders 200 to 249",
        "future jobs: 1, next due in about 60 min",
        "nightly_report: cron 0 3 * * 1-5 (Europe/Paris), next run not planned yet",
        "send_invoice: 0 of 100 started in the last 60 s, 0 waiting for room",
        "failed jobs: 0, 0 on the first page",
        "rejected payloads: 0",
    ]


def test_asyncio_workers():
    result = run("asyncio_workers.py")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Computed 2 + 4 = 6\n"


def test_asyncio_batch():
    result = run("asyncio_batch.py")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert sorted(lines) == sorted(f"Pokemon #{i} is pokemon-{i}" for i in range(1, 151))


def test_signals():
    result = run("signals_connect.py")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:4] == [
        "Job nothing started in namespace foo",
        "Job nothing started on Foo",
        "Job nothing started in namespace bar",
        "bar-worker-1 stopped",
    ]
    assert "Job divide failed: ZeroDivisionError('division by zero')" in lines
    assert lines[-1] == "bar-worker-1 stopped"
    assert "Error in receiver 'broken_receiver' of signal 'job_finished'" in result.stderr
    assert "RuntimeError: bug in a receiver" in result.stderr


def test_testing_example():
    result = run("testing.py")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "test passed\n"


def test_testing_example_is_a_pytest_test(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "testing.py"],
        capture_output=True,
        text=True,
        cwd=EXAMPLES,
        timeout=60,
        env=clean_env(),
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_logging_basic():
    result = run("logging_basic.py")
    assert result.returncode == 0, result.stderr
    log = result.stderr.splitlines()
    assert any(line.endswith("spinach-worker-1 INFO: Hello from a task") for line in log), log
    assert any(re.search(r"spinach-worker-1 INFO: Job hello \S+ succeeded", line) for line in log)


def test_logging_dictconfig():
    result = run("logging_dictconfig.py")
    assert result.returncode == 0, result.stderr
    # Only the job's record: the engine's INFO records are below the WARNING level.
    assert re.fullmatch(
        r"INFO \[send_invoice ([0-9a-f-]{36})\] Job send_invoice \1 succeeded in \d+\.\d ms\n",
        result.stderr,
    ), result.stderr


def test_redis_conf(tmp_path, free_port):
    """The production configuration is one redis-server accepts, with those settings."""
    import redis
    from spinach_test_support.redis_server import redis_server_binary

    port = free_port()
    server = subprocess.Popen(
        [
            *(redis_server_binary(), str(EXAMPLES / "redis.conf")),
            *("--port", str(port), "--bind", "127.0.0.1"),
            *("--dir", str(tmp_path), "--daemonize", "no"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        for line in server.stdout:
            if "Ready to accept connections" in line:
                break
        else:
            pytest.fail("redis-server did not start with docs/examples/redis.conf")
        client = redis.Redis(port=port, password="a-long-random-password-from-your-secret-store")
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port).ping()
        worker = redis.Redis(port=port, username="spinach", password="another-long-random-password")
        assert worker.ping()
        worker.set("{myapp}:a-key", "1")
        with pytest.raises(redis.exceptions.NoPermissionError):
            worker.set("{other}:a-key", "1")
        with pytest.raises(redis.exceptions.NoPermissionError):
            worker.flushall()
        worker.close()
        client.close()
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_payload_limits():
    result = run("payload_limits.py")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Refused: cannot schedule task 'greet': its payload is ")
    assert lines[1:] == ["Hello Ada"]


def test_following_jobs():
    result = run("following_jobs.py")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "result: {'order': 7, 'total': 42.5}",
        "status: SUCCEEDED on worker True",
        "failed: builtins.ValueError no order -1",
        "cancel: RUNNING",
        "cancel: CANCELLED",
        "report: CANCELLED",
        "failed jobs: (-1,) builtins.ValueError",
    ]


def test_failed_jobs():
    result = run("failed_jobs.py")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "failed: 3",
        "first failure: (1,) database unreachable",
        "requeued: 3",
        *[f"synced customer {n}" for n in (3, 2, 1)],  # requeued newest first
        "failed: 0",
        "purged: 0",
    ]


def test_job_context():
    result = run("job_context.py")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["contexts-sync-worker_0 runs as user of report"]
