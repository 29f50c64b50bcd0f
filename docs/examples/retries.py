import threading
from datetime import datetime, timedelta, timezone

from spinach import AbortException, Engine, MemoryBroker, RetryException

spin = Engine(MemoryBroker())
attempts = {"flaky": 0}
flaky_done = threading.Event()


# Not retryable (max_retries=0, the default): at most once, never retried
@spin.task(name="charge_card")
def charge_card(order_id):
    print(f"Charging order {order_id}")


# Retryable: any exception makes the job run again, up to max_retries times
@spin.task(name="flaky", max_retries=5)
def flaky():
    attempts["flaky"] += 1
    if attempts["flaky"] < 3:
        # Retry in 100 ms rather than after the default exponential backoff
        soon = datetime.now(tz=timezone.utc) + timedelta(milliseconds=100)
        raise RetryException("the service is busy", at=soon)
    print(f"flaky succeeded on attempt {attempts['flaky']}")
    flaky_done.set()


# AbortException stops the retries at once
@spin.task(name="fetch_user", max_retries=10)
def fetch_user(user_id):
    if user_id < 0:
        raise AbortException(f"user {user_id} cannot exist, retrying is pointless")


spin.schedule(charge_card, 42)
spin.schedule(flaky)
spin.schedule(fetch_user, -1)
spin.start_workers(number=2, block=False)

# Workers run in the background: wait for the retried job to succeed, then stop
flaky_done.wait(timeout=30)
spin.stop_workers()
