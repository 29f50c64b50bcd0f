import threading
from datetime import datetime, timedelta, timezone

from spinach import Engine, MemoryBroker, signals

spin = Engine(MemoryBroker(), namespace="reminders")
finished = threading.Event()


@spin.task(name="remind")
def remind(text):
    print(f"Reminder: {text}")


@signals.job_finished.connect_via(spin.namespace)
def on_finished(namespace, job, **kwargs):
    finished.set()


# Due in half a second; naive datetimes are taken as UTC, aware ones are clearer
at = datetime.now(tz=timezone.utc) + timedelta(milliseconds=500)
job = spin.schedule_at(remind, at, "stretch your legs")
print(f"{job.task_name} is {job.status.name} until {job.at:%H:%M:%S}")

# Workers embedded in this process, in the background (block=False)
spin.start_workers(number=1, block=False)
finished.wait(timeout=30)
spin.stop_workers()
print(f"{job.task_name} started no earlier than due: {datetime.now(tz=timezone.utc) >= at}")
