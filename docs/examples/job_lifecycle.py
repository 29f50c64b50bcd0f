from spinach import Engine, JobStatus, MemoryBroker, signals

spin = Engine(MemoryBroker(), namespace="lifecycle")


@spin.task(name="divide")
def divide(a, b):
    return a / b


@signals.job_started.connect_via(spin.namespace)
def started(namespace, job, **kwargs):
    print(f"{job.task_name}{job.task_args} {job.status.name}, retries={job.retries}")


@signals.job_finished.connect_via(spin.namespace)
def finished(namespace, job, **kwargs):
    print(f"{job.task_name}{job.task_args} {job.status.name}")


job = spin.schedule(divide, 6, 3)
assert job.status is JobStatus.QUEUED  # set when the broker stored it
print(f"id={job.id} queue={job.queue} max_retries={job.max_retries} at={job.at.tzinfo}")

spin.schedule(divide, 1, 0)  # raises ZeroDivisionError: not retryable, so FAILED
spin.start_workers(number=1, stop_when_queue_empty=True)
