# The example of the "Asyncio" chapter, with the HTTP call to pokeapi.co
# replaced by a local coroutine: tests do not reach the Internet.
import asyncio

from spinach import AsyncioWorkers, Batch, Engine, MemoryBroker

spin = Engine(MemoryBroker())


async def fetch_pokemon(pokemon_id: int) -> dict:
    await asyncio.sleep(0.01)
    return {"name": f"pokemon-{pokemon_id}"}


@spin.task(name='get_pokemon_name')
async def get_pokemon_name(pokemon_id: int):
    """Call an HTTP API to retrieve a pokemon name by its ID."""
    pokemon = await fetch_pokemon(pokemon_id)

    print(f'Pokemon #{pokemon_id} is {pokemon["name"]}')


# Schedule a batch of 150 tasks to retrieve the name of the
# first 150 pokemons.
batch = Batch()
for pokemon_id in range(1, 151):
    batch.schedule(get_pokemon_name, pokemon_id)
spin.schedule_batch(batch)

# Start the asyncio workers and process the tasks
spin.start_workers(
    number=256,
    workers_class=AsyncioWorkers,
    stop_when_queue_empty=True
)
