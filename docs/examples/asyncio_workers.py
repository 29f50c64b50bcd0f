import asyncio

from spinach import AsyncioWorkers, Engine, MemoryBroker

spin = Engine(MemoryBroker())


@spin.task(name="compute")
async def compute(a, b):
    await asyncio.sleep(0.1)
    print(f"Computed {a} + {b} = {a + b}")


async def main():
    # aschedule() checks the job here and talks to the broker in a thread:
    # the event loop is never blocked by a round trip to Redis
    await spin.aschedule(compute, 2, 4)


asyncio.run(main())

# Hundreds of asyncio workers are cheap: each is a coroutine
spin.start_workers(number=256, workers_class=AsyncioWorkers, stop_when_queue_empty=True)
