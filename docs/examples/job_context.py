import contextlib
import threading

from spinach import AsyncioWorkers, Engine, MemoryBroker

spin = Engine(MemoryBroker(), namespace="contexts")
per_thread = threading.local()  # like a database connection


@contextlib.contextmanager
def fresh_state(job):
    # Entered in the thread that runs the sync task: an executor thread here
    per_thread.user = f"user of {job.task_name}"
    try:
        yield
    finally:
        del per_thread.user


spin.add_job_context(fresh_state)


@spin.task(name="report")
def report():
    print(f"{threading.current_thread().name} runs as {per_thread.user}")


spin.schedule(report)
spin.start_workers(number=2, stop_when_queue_empty=True, workers_class=AsyncioWorkers)
