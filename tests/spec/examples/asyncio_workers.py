import asyncio

from spinach import AsyncioWorkers, Engine, MemoryBroker

spin = Engine(MemoryBroker())

@spin.task(name='compute')
async def compute(a, b):
    await asyncio.sleep(1)
    print(f'Computed {a} + {b} = {a + b}')

spin.schedule(compute, 2, 4)

spin.start_workers(number=256, workers_class=AsyncioWorkers)
