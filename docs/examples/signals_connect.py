from spinach import Engine, MemoryBroker, signals

foo_spin = Engine(MemoryBroker(), namespace="foo")
bar_spin = Engine(MemoryBroker(), namespace="bar")


# Every Engine of the process: the first argument is the Engine's namespace
@signals.job_started.connect
def job_started(namespace, job, **kwargs):
    print(f"Job {job.task_name} started in namespace {namespace}")


# Only the Engine of namespace foo
@signals.job_started.connect_via(foo_spin.namespace)
def foo_job_started(namespace, job, **kwargs):
    print(f"Job {job.task_name} started on Foo")


@signals.job_failed.connect
def job_failed(namespace, job, err, **kwargs):
    print(f"Job {job.task_name} failed: {err!r}")


@signals.worker_terminated.connect_via(bar_spin.namespace)
def worker_terminated(namespace, worker_name, **kwargs):
    print(f"{worker_name} stopped")


for spin in (foo_spin, bar_spin):
    spin.task(lambda: None, name="nothing")
    spin.schedule("nothing")
    spin.start_workers(number=1, stop_when_queue_empty=True)


# A receiver that raises is logged on the spinach.signals logger; the job goes on
@signals.job_finished.connect_via(bar_spin.namespace)
def broken_receiver(namespace, job, **kwargs):
    raise RuntimeError("bug in a receiver")


@bar_spin.task(name="divide")
def divide(a, b):
    return a / b


bar_spin.schedule(divide, 1, 0)
bar_spin.start_workers(number=1, stop_when_queue_empty=True)
