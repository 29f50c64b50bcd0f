"""SRE review 2: under the documented ACL user, a key of the wrong type destroys the queue.

The first review found that a fetch failing midway destroyed the jobs it had
popped (tests/sre/test_fetch_destroys.py); the fix is ``safe_call`` in
_common.lua, which RENAMEs a key of the wrong type aside and goes on. But the
least-privilege ``user`` line of docs/examples/redis.conf, which production.md
tells operators to use, does not grant ``RENAME``: the script then fails
with NOPERM *after* its LPOP, and the popped jobs are gone. NOPERM is one of
the errors the broker retries (errors.py, on the premise that "a script run
refused by any of them did not change anything"), so each retry pops and
destroys the next batch, until the queue is empty.
"""

from __future__ import annotations

import threading
import uuid

import pytest
import redis

from spinach import Engine
from spinach.brokers.redis import RedisBroker

from .conftest import ACL_PASSWORD, documented_acl_rules

pytestmark = pytest.mark.redis


@pytest.mark.parametrize("functions", [False, True], ids=["eval", "functions"])
def test_a_key_of_the_wrong_type_loses_no_job_under_the_documented_acl_user(
    redis_server, recorder_for, wait_until, functions
):
    namespace = f"sre2acl{uuid.uuid4().hex[:8]}"
    admin = redis_server.client()
    rules = documented_acl_rules(namespace, functions=functions)
    admin.execute_command("ACL", "SETUSER", namespace, *rules)
    if functions:
        RedisBroker.install_functions(admin)  # the deploy step the documentation gives
    client = redis.Redis(
        port=admin.connection_pool.connection_kwargs["port"],
        username=namespace,
        password=ACL_PASSWORD,
    )
    spin = Engine(RedisBroker(client, functions=functions), namespace=namespace)
    rec = recorder_for(namespace)
    ran: list[str] = []
    lock = threading.Lock()

    @spin.task(name="limited", max_retries=3, max_concurrency=1)
    def limited(name: str) -> None:
        with lock:
            ran.append(name)

    try:
        spin.start_workers(number=2, block=False)
        spin.schedule("limited", "warm")  # a limited task: fetches read the counters
        rec.wait_count("job_finished", 1)

        # The operator's mistake of tests/sre/test_fetch_destroys.py.
        admin.set(f"{{{namespace}}}:current_concurrency", "0")
        for i in range(20):
            spin.schedule("limited", f"j{i}")
        done = rec.wait_for(lambda: rec.count("job_finished") >= 21, timeout=15)
        broker = spin.broker
        where = {
            "queued": broker.queue_length("spinach"),
            "running": len(broker.running_jobs()),
            "rejected": len(broker.rejected()),
            "ran": len(ran) - 1,
        }
        assert done, (
            f"of 20 jobs scheduled after the key of the wrong type, {where}; the others "
            f"vanished. ACL log: {[e[b'object'] for e in admin.execute_command('ACL', 'LOG')][:3]}"
        )
    finally:
        spin.stop_workers()
        admin.delete(f"{{{namespace}}}:current_concurrency")
        spin.broker.flush()
