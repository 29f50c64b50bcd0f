from datetime import datetime, timedelta, timezone

from spinach import Engine, MemoryBroker

spin = Engine(MemoryBroker())


@spin.task(name="send_invoice", queue="billing")
def send_invoice(order):
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
    print(worker.host, worker.pid, worker.queues, worker.running)
