import threading
from datetime import timedelta

from spinach import Engine, JobStatus, MemoryBroker, current_job
from spinach.exc import JobFailedError

spin = Engine(MemoryBroker(), namespace="following")


@spin.task(name="invoice", track=True, store_result=True, max_retries=0)
def invoice(order_id):
    if order_id < 0:
        raise ValueError(f"no order {order_id}")
    return {"order": order_id, "total": 42.5}


@spin.task(name="report", track=True, timeout=timedelta(seconds=30))
def report(rows):
    me = current_job()  # the running job: id, retries, deadline, cancel_requested
    for _ in range(rows):
        me.raise_if_cancelled()  # stops here once Engine.cancel() asked it to
        started.set()
        step.wait(0.01)  # one step of the report's work


started, step = threading.Event(), threading.Event()
spin.start_workers(number=2, block=False)

job = spin.schedule(invoice, 7)
print("result:", job.result(timeout=10))  # blocks until the job is over
print("status:", job.refresh().status.name, "on worker", job.worker_id is not None)

bad = spin.schedule(invoice, -1)
try:
    bad.result(timeout=10)
except JobFailedError as exc:
    print("failed:", exc.error.type, exc.error.message)

long = spin.schedule(report, 100_000)
started.wait(10)
print("cancel:", long.cancel().name)  # RUNNING: the job is asked to stop

later = spin.schedule_at(report, spin.broker.clock.now() + timedelta(hours=1), 10)
print("cancel:", spin.cancel(later.id).name)  # CANCELLED: it will never start

spin.stop_workers()  # waits for the running jobs to end
print("report:", spin.get_job(long.id).status.name)

[failed] = spin.failed_jobs(task="invoice")
print("failed jobs:", failed.job.task_args, failed.error.type)
assert spin.get_job(bad.id).status is JobStatus.FAILED
