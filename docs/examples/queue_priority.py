from spinach import Batch, Engine, MemoryBroker

spin = Engine(MemoryBroker())


@spin.task(name="charge_card", queue="high")
def charge_card(order):
    print(f"charged order {order}")


@spin.task(name="send_receipt", queue="default")
def send_receipt(order):
    print(f"sent the receipt of order {order}")


@spin.task(name="refresh_stats", queue="low")
def refresh_stats():
    print("refreshed the statistics")


batch = Batch()
batch.schedule(refresh_stats)
for order in (1, 2):
    batch.schedule(send_receipt, order)
    batch.schedule(charge_card, order)
spin.schedule_batch(batch)

# One worker, three queues: "high" first, then "default", then "low"
spin.start_workers(number=1, queue=["high", "default", "low"], stop_when_queue_empty=True)
