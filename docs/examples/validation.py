from datetime import datetime

from spinach import Batch, Engine, MemoryBroker
from spinach.exc import InvalidJobSignatureError, SerializationError, SpinachError, UnknownTaskError

spin = Engine(MemoryBroker())


@spin.task(name="resize")
def resize(image_id, width, height=None):
    pass


# Mistakes are refused in the caller's code, before anything reaches the broker
for bad_call in (
    lambda: spin.schedule(resize),  # arguments missing
    lambda: spin.schedule(resize, 1, 200, depth=3),  # unknown argument
    lambda: spin.schedule(resize, 1, datetime.now()),  # not JSON
    lambda: spin.schedule("resise", 1, 200),  # no such task
):
    try:
        bad_call()
    except (InvalidJobSignatureError, SerializationError, UnknownTaskError) as exc:
        print(f"{type(exc).__name__}: {exc}")

# A batch is all or nothing: one bad job and none is scheduled
batch = Batch()
batch.schedule(resize, 1, 200)
batch.schedule(resize, 2, {1, 2})  # a set is not JSON
try:
    spin.schedule_batch(batch)
except SpinachError as exc:
    queued = spin.broker.queue_length("spinach")
    print(f"batch refused ({type(exc).__name__}); jobs queued: {queued}")
