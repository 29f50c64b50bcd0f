"""Contract: storing, fetching and acknowledging jobs."""

from __future__ import annotations

from datetime import timedelta

from spinach.job import JobStatus

from .helpers import make_job


def test_job_due_now_is_queued_and_fetched_intact(backend, broker, clock):
    job = make_job(
        clock, args=(1, "two", [3.5, None]), kwargs={"k": {"nested": True}}, max_retries=4
    )
    broker.enqueue_jobs([job])
    assert job.status is JobStatus.QUEUED
    assert broker.queue_length("q") == 1
    assert not broker.is_queue_empty("q")

    [fetched] = broker.get_jobs_from_queue("q", 10)
    assert fetched == job
    assert fetched.status is JobStatus.RUNNING
    assert fetched.task_args == (1, "two", [3.5, None])
    assert fetched.task_kwargs == {"k": {"nested": True}}
    assert (fetched.task_name, fetched.queue, fetched.max_retries, fetched.retries) == (
        "task",
        "q",
        4,
        0,
    )
    assert abs(fetched.at_timestamp - job.at_timestamp) < 1e-6
    assert broker.is_queue_empty("q")
    assert broker.running_jobs() == [job]


def test_fetch_is_fifo_and_bounded(broker, clock):
    jobs = [make_job(clock, args=(i,)) for i in range(5)]
    broker.enqueue_jobs(jobs)
    assert broker.get_jobs_from_queue("q", 2) == jobs[:2]
    assert broker.get_jobs_from_queue("q", 10) == jobs[2:]
    assert broker.get_jobs_from_queue("q", 10) == []


def test_batch_mixes_queues_and_dates_in_one_call(broker, clock):
    now_a = make_job(clock, queue="a")
    now_b = make_job(clock, queue="b")
    later = make_job(clock, queue="a", delay=30)
    broker.enqueue_jobs([now_a, later, now_b])
    assert [j.status for j in (now_a, later, now_b)] == [
        JobStatus.QUEUED,
        JobStatus.WAITING,
        JobStatus.QUEUED,
    ]
    assert broker.queue_length("a") == 1
    assert broker.queue_length("b") == 1
    assert broker.future_jobs_count() == 1


def test_queues_are_separate(broker, clock):
    broker.enqueue_jobs([make_job(clock, queue="a")])
    assert broker.get_jobs_from_queue("b", 10) == []
    assert broker.is_queue_empty("b")
    assert len(broker.get_jobs_from_queue("a", 10)) == 1


def test_namespaces_never_see_each_other(backend, clock):
    prod, stg = backend.broker("prod"), backend.broker("stg")
    prod.start()
    stg.start()
    prod.enqueue_jobs([make_job(clock), make_job(clock, delay=5)])
    assert stg.queue_length("q") == 0
    assert stg.future_jobs_count() == 0
    assert stg.get_jobs_from_queue("q", 10) == []
    clock.advance(10)
    assert stg.move_future_jobs() is None
    assert prod.queue_length("q") == 1
    stg.flush()
    assert prod.queue_length("q") == 1
    assert prod.future_jobs_count() == 1


def test_future_job_waits_until_due(broker, clock):
    job = make_job(clock, delay=60)
    broker.enqueue_jobs([job])
    assert job.status is JobStatus.WAITING
    assert broker.future_jobs_count() == 1
    assert broker.get_jobs_from_queue("q", 10) == []
    assert abs(broker.move_future_jobs() - job.at_timestamp) < 1e-3

    clock.advance(59.9)
    broker.move_future_jobs()
    assert broker.get_jobs_from_queue("q", 10) == []

    clock.advance(0.1)
    assert broker.move_future_jobs() is None
    assert broker.future_jobs_count() == 0
    assert broker.get_jobs_from_queue("q", 10) == [job]


def test_future_jobs_are_moved_in_date_order(broker, clock):
    jobs = [make_job(clock, delay=d, args=(d,)) for d in (3, 1, 2)]
    broker.enqueue_jobs(jobs)
    clock.advance(5)
    broker.move_future_jobs()
    assert [j.task_args for j in broker.get_jobs_from_queue("q", 10)] == [(1,), (2,), (3,)]


def test_acknowledged_jobs_are_forgotten(broker, clock):
    broker.enqueue_jobs([make_job(clock), make_job(clock)])
    ok, ko = broker.get_jobs_from_queue("q", 10)
    ok.status, ko.status = JobStatus.SUCCEEDED, JobStatus.FAILED
    broker.acknowledge([ok, ko])
    assert broker.running_jobs() == []
    assert broker.is_queue_empty("q")
    assert broker.future_jobs_count() == 0


def test_retry_goes_back_with_new_date_and_retries(broker, clock):
    broker.enqueue_jobs([make_job(clock, max_retries=3), make_job(clock, max_retries=3)])
    later, now = broker.get_jobs_from_queue("q", 10)
    later.retries = now.retries = 1
    later.at = clock.now() + timedelta(seconds=30)
    later.status = JobStatus.WAITING
    now.status = JobStatus.QUEUED
    broker.acknowledge([later, now])
    assert broker.running_jobs() == []
    [again] = broker.get_jobs_from_queue("q", 10)
    assert again == now and again.retries == 1
    assert broker.future_jobs_count() == 1
    clock.advance(31)
    broker.move_future_jobs()
    [again] = broker.get_jobs_from_queue("q", 10)
    assert again == later and again.retries == 1


def test_acknowledging_twice_changes_nothing(broker, clock):
    broker.enqueue_jobs([make_job(clock, max_retries=1)])
    [job] = broker.get_jobs_from_queue("q", 1)
    job.status = JobStatus.QUEUED
    job.retries = 1
    broker.acknowledge([job])
    broker.acknowledge([job])
    assert broker.queue_length("q") == 1


def test_released_unstarted_job_keeps_its_retries(broker, clock):
    broker.enqueue_jobs([make_job(clock)])
    [job] = broker.get_jobs_from_queue("q", 1)
    job.status = JobStatus.QUEUED  # what a stopping worker does with an unstarted job
    broker.acknowledge([job])
    [again] = broker.get_jobs_from_queue("q", 1)
    assert again == job and again.retries == 0


def test_unreadable_payload_is_set_aside_and_good_jobs_flow(backend, broker, clock):
    good = make_job(clock)
    backend.inject(broker, "q", b"\xff\xfe not json")
    backend.inject(broker, "q", b'{"id": "foreign", "something": "else"}')
    broker.enqueue_jobs([good])
    assert broker.get_jobs_from_queue("q", 10) == [good]
    rejected = broker.rejected()
    assert b"\xff\xfe not json" in rejected
    assert b'{"id": "foreign", "something": "else"}' in rejected
    assert broker.is_queue_empty("q")


def test_flush_deletes_everything_of_the_namespace(broker, clock):
    broker.enqueue_jobs([make_job(clock), make_job(clock, delay=10)])
    broker.get_jobs_from_queue("q", 1)
    broker.flush()
    assert broker.queue_length("q") == 0
    assert broker.future_jobs_count() == 0
    assert broker.running_jobs() == []


def test_a_fetch_is_bounded_in_bytes_as_well_as_in_jobs(broker, clock):
    from spinach.brokers.base import FETCH_MAX_BYTES

    jobs = [make_job(clock, args=("x" * 700_000, n)) for n in range(20)]
    size = len(jobs[0].serialize())
    broker.enqueue_jobs(jobs)
    expected = -(-FETCH_MAX_BYTES // size)  # the job that reaches the bound is the last
    first = broker.get_jobs_from_queue("q", 20)
    assert [job.task_args[1] for job in first] == list(range(expected))
    assert broker.queue_length("q") == 20 - expected  # the rest wait, in order
    rest = broker.get_jobs_from_queue("q", 20)
    assert [job.task_args[1] for job in rest] == list(range(expected, 20))


def test_payloads_set_aside_leave_their_places_to_the_jobs_behind(backend, broker, clock):
    """A fetch of n jobs gets n jobs while the queue holds them, whatever it set
    aside on the way: given fewer jobs than its free slots, a worker takes the
    queue for empty and sleeps until its next heartbeat while jobs wait."""
    from spinach.codec import PayloadCodec

    key = b"k" * 32
    broker.codec = PayloadCodec(signing_key=key)
    unsigned = [PayloadCodec().encode(make_job(clock, args=(n,))) for n in range(3)]
    for payload in unsigned:  # read by the broker's scripts, refused by the codec
        backend.inject(broker, "q", payload.encode())
    jobs = [make_job(clock, args=(n,)) for n in range(3, 6)]
    broker.enqueue_jobs(jobs)
    assert broker.get_jobs_from_queue("q", 2) == jobs[:2]
    assert broker.rejected() == [payload.encode() for payload in unsigned]
    assert broker.get_jobs_from_queue("q", 2) == jobs[2:]


def test_rejected_payloads_are_capped_and_paged(backend, broker):
    for n in range(10_020):
        backend.inject(broker, "q", f"garbage {n}".encode())
    while broker.get_jobs_from_queue("q", 1000) or not broker.is_queue_empty("q"):
        pass
    assert broker.rejected(0, 3) == [b"garbage 20", b"garbage 21", b"garbage 22"]
    assert broker.rejected(9_998) == [b"garbage 10018", b"garbage 10019"]
    assert broker.rejected(5, 0) == []
    assert len(broker.rejected()) == 10_000
