from datetime import datetime, timedelta, timezone

from spinach import Engine, MemoryBroker

spin = Engine(MemoryBroker())


@spin.task(name="send_invoice", queue="billing", rate_limit="100/m")
def send_invoice(order):
    pass


@spin.task(name="nightly_report", cron="0 3 * * 1-5", timezone="Europe/Paris")
def nightly_report():
    pass


for order in range(250):
    spin.schedule(send_invoice, order)
spin.schedule_at(send_invoice, datetime.now(timezone.utc) + timedelta(hours=1), 999)

for queue in spin.inspect.queues():
    print(f"{queue.name}: {queue.length} jobs, oldest waiting {queue.oldest_age:.0f} s")

# The jobs of a queue, a page at a time: the next to run first
page = spin.inspect.jobs("billing", offset=200, limit=100)
print(f"page from 200: {len(page)} jobs, orders {page[0].task_args[0]} to {page[-1].task_args[0]}")

future = spin.inspect.future()
wait = (future.next_due - datetime.now(timezone.utc)).total_seconds()
print(f"future jobs: {future.count}, next due in about {round(wait / 60)} min")

for worker in spin.inspect.workers():  # none: no worker runs in this script
    print(worker.host, worker.pid, worker.queues, worker.running, "of", worker.slots)

# Periodic and cron tasks: a worker plans their next run when it starts
for schedule in spin.inspect.schedules():
    every = schedule.cron if schedule.kind == "cron" else schedule.period
    planned = schedule.next_run or "not planned yet"
    print(f"{schedule.name}: {schedule.kind} {every} ({schedule.zone}), next run {planned}")

# Why jobs of a limited task wait: slots taken, or a full rate window
for limit in spin.inspect.limits():
    most, seconds = limit.rate_limit
    print(
        f"{limit.name}: {limit.rate_started} of {most} started in the last {seconds:.0f} s, "
        f"{limit.rate_waiting} waiting for room"
    )

# What failed for good, newest first, and payloads set aside as unreadable
failed = spin.inspect.failed(offset=0, limit=100)
print(f"failed jobs: {spin.inspect.failed_count()}, {len(failed)} on the first page")
print(f"rejected payloads: {len(spin.inspect.rejected(offset=0, limit=100))}")
