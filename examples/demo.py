"""A tour of Spinach on the in-memory broker; it ends by itself in a few seconds.

    python3 scripts/demo

It schedules a few jobs, a batch, a job that fails twice and is retried, a
job for the future and a periodic task, runs them on threaded workers, and
stops once everything it waits for has happened.
"""

import logging
import threading
from datetime import datetime, timedelta, timezone

from spinach import Batch, Engine, MemoryBroker, RetryException, Tasks, signals

logging.basicConfig(
    format="%(asctime)s %(threadName)-22s %(levelname)-7s %(message)s",
    level=logging.INFO,
)
logging.getLogger("spinach.signals").setLevel(logging.WARNING)
log = logging.getLogger("demo")

tasks = Tasks()
attempts = {"flaky_api": 0}
heartbeats = []
done = {"future": threading.Event(), "flaky": threading.Event(), "periodic": threading.Event()}


@tasks.task(name="compute")
def compute(a, b):
    log.info("compute: %s + %s = %s", a, b, a + b)


@tasks.task(name="send_welcome_email", queue="spinach")
def send_welcome_email(user_id, locale="en"):
    log.info("send_welcome_email: user %s (%s)", user_id, locale)


@tasks.task(name="flaky_api", max_retries=3)
def flaky_api():
    attempts["flaky_api"] += 1
    if attempts["flaky_api"] < 3:
        # Retry in one second rather than after the default backoff.
        raise RetryException(
            f"API busy (attempt {attempts['flaky_api']})",
            at=datetime.now(tz=timezone.utc) + timedelta(seconds=1),
        )
    log.info("flaky_api: succeeded on attempt %d", attempts["flaky_api"])
    done["flaky"].set()


@tasks.task(name="reminder")
def reminder(text):
    log.info("reminder: %s", text)
    done["future"].set()


@tasks.task(name="heartbeat", periodicity=timedelta(seconds=2))
def heartbeat():
    heartbeats.append(datetime.now(tz=timezone.utc))
    log.info("heartbeat #%d (every 2 s)", len(heartbeats))
    if len(heartbeats) == 3:
        done["periodic"].set()


@signals.job_schedule_retry.connect
def on_retry(namespace, job, err, **kwargs):
    log.info("signal job_schedule_retry: %s will retry at %s", job.task_name, job.at.time())


def main():
    spin = Engine(MemoryBroker(), namespace="demo")
    spin.attach_tasks(tasks)

    spin.schedule(compute, 5, 3)
    spin.schedule("compute", 40, 2)

    batch = Batch()
    for user_id in range(1, 6):
        batch.schedule(send_welcome_email, user_id, locale="fr" if user_id % 2 else "en")
    log.info("scheduled a batch of %d jobs in one call", len(spin.schedule_batch(batch)))

    spin.schedule(flaky_api)
    spin.schedule_at(
        reminder, datetime.now(tz=timezone.utc) + timedelta(seconds=3), "3 seconds have passed"
    )

    spin.start_workers(number=4, block=False)
    for name, event in done.items():
        if not event.wait(15):
            raise SystemExit(f"demo: {name} did not happen in time")
    spin.stop_workers()
    log.info("demo finished: every kind of job ran")


if __name__ == "__main__":
    main()
