from spinach import Engine, MemoryBroker, signals

foo_spin = Engine(MemoryBroker(), namespace='foo')
bar_spin = Engine(MemoryBroker(), namespace='bar')

@signals.job_started.connect_via(foo_spin.namespace)
def job_started(namespace, job, **kwargs):
    print(f'Job {job} started on Foo')

@signals.job_started.connect
def any_job_started(namespace, job, **kwargs):
    print(f'Job {job} started')

for spin in (foo_spin, bar_spin):
    spin.task(lambda: None, name='hello')
    spin.schedule('hello')
    spin.start_workers(number=1, stop_when_queue_empty=True)
