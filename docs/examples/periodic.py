from datetime import timedelta

from spinach import Engine, MemoryBroker

spin = Engine(MemoryBroker())


# Scheduled by the workers themselves every 5 seconds, starting now
@spin.task(name="make_coffee", periodicity=timedelta(seconds=5))
def make_coffee():
    print("Making coffee...")


print("Starting workers, ^C to quit")
spin.start_workers()
