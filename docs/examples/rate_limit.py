import threading
import time
from datetime import timedelta

from spinach import Engine, MemoryBroker

spin = Engine(MemoryBroker())
started = []
all_started = threading.Event()


# At most 3 calls of the partner's API per second, across every worker
@spin.task(name="call_partner_api", rate_limit="3/s")
def call_partner_api(order_id):
    started.append(time.monotonic())
    if len(started) == 9:
        all_started.set()


# The same as a tuple; rate limits combine with max_concurrency
@spin.task(
    name="send_sms",
    rate_limit=(100, timedelta(minutes=1)),
    max_concurrency=5,
    max_retries=3,
)
def send_sms(number):
    pass


for order_id in range(9):
    spin.schedule("call_partner_api", order_id)
spin.start_workers(number=8, block=False)
all_started.wait(timeout=30)
spin.stop_workers()

began = started[0]
print("second of each start:", [int(t - began) for t in started])
