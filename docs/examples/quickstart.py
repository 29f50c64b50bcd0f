from spinach import Engine, MemoryBroker

spin = Engine(MemoryBroker())


@spin.task(name="compute")
def compute(a, b):
    print(f"Computed {a} + {b} = {a + b}")


# Schedule a job, to run as soon as a worker is free
spin.schedule(compute, 5, 3)

print("Starting workers, ^C to quit")
spin.start_workers()
