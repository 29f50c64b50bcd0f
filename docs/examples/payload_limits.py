import os

from spinach import Engine, MemoryBroker
from spinach.exc import PayloadTooLargeError
from spinach.serialization import PayloadLimits

# The same key for every producer and worker of the namespace, kept secret
# (here a new one; in production, read it from your secret store).
signing_key = os.urandom(32)

spin = Engine(
    MemoryBroker(),
    payload_limits=PayloadLimits(max_bytes=64 * 1024),
    signing_key=signing_key,
)


@spin.task(name="greet")
def greet(name):
    print(f"Hello {name}")


spin.schedule(greet, "Ada")
try:
    spin.schedule(greet, "x" * 100_000)
except PayloadTooLargeError as exc:
    print(f"Refused: {exc}")

spin.start_workers(number=1, stop_when_queue_empty=True)
