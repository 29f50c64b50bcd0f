from spinach import Batch, Engine, MemoryBroker

spin = Engine(MemoryBroker())
results = []


@spin.task(name="compute")
def compute(i):
    results.append(i * i)


# 100 jobs, validated together and sent to the broker in one call
batch = Batch()
for i in range(100):
    batch.schedule("compute", i)
jobs = spin.schedule_batch(batch)
print(f"scheduled {len(jobs)} jobs in one call")

spin.start_workers(stop_when_queue_empty=True)
print(f"sum of squares: {sum(results)}")
