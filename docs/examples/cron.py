import time
from datetime import datetime

from spinach import Engine, MemoryBroker

spin = Engine(MemoryBroker())


# At 03:00 Paris time, Monday to Friday, summer and winter
@spin.task(name="nightly_report", cron="0 3 * * 1-5", timezone="Europe/Paris")
def nightly_report():
    print("Sending the report")


# At the start of every hour (UTC, the default time zone)
@spin.task(name="clean_up", cron="@hourly")
def clean_up():
    print("Cleaning up")


for name in ("nightly_report", "clean_up"):
    schedule = spin.tasks[name].cron
    tick = schedule.next_after(time.time())
    print(f"{name} runs next at {datetime.fromtimestamp(tick, schedule.zone).isoformat()}")

# spin.start_workers() runs them at those times, once across all workers
