"""A cancel request whose pub/sub note is missed is lost for good.

Scenario (production): a tracked job runs on a worker process; the network
between that worker and Redis blips (a few hundred ms: a proxy restart, a
failover of a load balancer, a NAT table flush).  Meanwhile an operator
cancels the job: ``Engine.cancel`` returns ``RUNNING`` ("a request was
sent").  The worker's subscriber reconnects, as designed, but the ``x:<id>``
note was published while nobody of that worker listened.

The operator (or a retrying client) cancels again: cancel.lua sees
``cancel == '1'`` already and publishes nothing.  Nothing else ever tells
the worker (the heartbeat and the reconnection do not read the records'
``cancel`` flags), so the job runs to its end and is recorded SUCCEEDED,
although its record says ``cancel_requested``.  The same hole exists without
any network fault: the note is dropped if it arrives between the fetch
script (which marks the record RUNNING) and the moment the broker adds the
fetched jobs to ``_held`` (after decoding the whole reply).
"""

from __future__ import annotations

from spinach import JobStatus

from .conftest import producer


def test_cancel_after_a_notification_blip_reaches_the_running_job(
    redis_server, ledger, switch_proxy, wait_until, free_port
):
    proxy = switch_proxy(redis_server.port)
    ledger.start_worker(proxy.url, threads=2, threshold=30)
    client = redis_server.client()
    spin = producer(client, ledger.namespace)
    channel = spin.broker.keys.prefix + "notify"

    def subscribers() -> int:
        return int(client.pubsub_numsub(channel)[0][1])

    job = spin.schedule("coop", "tok")
    ledger.wait_event(lambda e: e.startswith("start coop tok#1"))
    assert subscribers() == 1

    # The network path of the worker blips: connections cut, none possible.
    proxy.retarget(free_port())  # reserved: nothing listens there
    proxy.cut_all()
    wait_until(lambda: subscribers() == 0, what="the worker's subscriber is cut off")
    assert spin.cancel(job.id) is JobStatus.RUNNING  # "a request was sent"

    # The network comes back; the worker resubscribes on its own.
    proxy.retarget(redis_server.port)
    wait_until(lambda: subscribers() == 1, timeout=20, what="the worker resubscribed")

    # The operator sees the job still running and cancels again.
    assert spin.cancel(job.id) is JobStatus.RUNNING
    assert spin.get_job(job.id).cancel_requested

    seen = ledger.watch(10, lambda e: e.startswith(("saw-cancel coop", "end coop")))
    try:
        assert seen is not None and seen.startswith("saw-cancel"), (
            "the running job never saw its cancellation (requested twice): it runs on "
            "until it ends by itself"
        )
    finally:
        ledger.release("tok#1")
    wait_until(lambda: spin.get_job(job.id).status.finished, timeout=20)
    assert spin.get_job(job.id).status is JobStatus.CANCELLED
