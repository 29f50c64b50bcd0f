import time

from spinach import Engine, MemoryBroker

spin = Engine(MemoryBroker())


# Fine for a single-module project: the task lives on the Engine itself
@spin.task(name="fast")
def fast():
    time.sleep(0.01)
    print("fast is done")


spin.schedule(fast)
spin.start_workers(stop_when_queue_empty=True)
