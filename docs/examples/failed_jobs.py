from spinach import Engine, MemoryBroker

spin = Engine(MemoryBroker(), namespace="failures", failed_jobs_kept=1000)
database_up = False


@spin.task(name="sync_customer", max_retries=0)
def sync_customer(customer_id):
    if not database_up:
        raise ConnectionError("database unreachable")
    print(f"synced customer {customer_id}")


for customer_id in (1, 2, 3):
    spin.schedule(sync_customer, customer_id)
spin.start_workers(number=1, stop_when_queue_empty=True)

print("failed:", spin.failed_jobs_count())
for failed in spin.failed_jobs(task="sync_customer"):  # newest first
    assert failed.error.type == "builtins.ConnectionError"
oldest = spin.failed_jobs(task="sync_customer")[-1]
print("first failure:", oldest.job.task_args, oldest.error.message)

database_up = True  # the outage is over: run them again
print("requeued:", spin.requeue_failed(task="sync_customer"))
spin.start_workers(number=1, stop_when_queue_empty=True)
print("failed:", spin.failed_jobs_count())
print("purged:", spin.purge_failed(all=True))
