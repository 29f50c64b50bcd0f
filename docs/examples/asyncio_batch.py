import asyncio
import random

from spinach import AsyncioWorkers, Batch, Engine, MemoryBroker

spin = Engine(MemoryBroker())


async def fetch_name(pokemon_id: int) -> str:
    """Stands for an HTTP call, e.g. with aiohttp or httpx."""
    await asyncio.sleep(random.uniform(0.05, 0.2))
    return f"pokemon-{pokemon_id}"


@spin.task(name="get_pokemon_name")
async def get_pokemon_name(pokemon_id: int):
    name = await fetch_name(pokemon_id)
    print(f"Pokemon #{pokemon_id} is {name}")


# 150 jobs in one call to the broker
batch = Batch()
for pokemon_id in range(1, 151):
    batch.schedule(get_pokemon_name, pokemon_id)
spin.schedule_batch(batch)

# 150 jobs of up to 0.2 s each take well under a second on 256 coroutines
spin.start_workers(number=256, workers_class=AsyncioWorkers, stop_when_queue_empty=True)
