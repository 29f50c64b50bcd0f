from spinach import Engine, MemoryBroker
from spinach.contrib.datadog import register_datadog

register_datadog()  # before the workers start; service from DD_SERVICE or "spinach"

spin = Engine(MemoryBroker())


@spin.task(name="compute")
def compute(a, b):
    print(f"Computed {a} + {b} = {a + b}")


spin.schedule(compute, 5, 3)
spin.start_workers()
