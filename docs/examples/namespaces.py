import os

from spinach import Engine, RedisBroker

# Where Redis is; the default of RedisBroker() is localhost:6379, database 0
REDIS_URL = os.environ.get("SPINACH_REDIS_URL", "redis://localhost:6379/0")

# Production and staging share one Redis server without seeing each other
prod = Engine(RedisBroker.from_url(REDIS_URL), namespace="prod")
stg = Engine(RedisBroker.from_url(REDIS_URL), namespace="stg")


@prod.task(name="report")
def prod_report():
    print("report ran in prod")


@stg.task(name="report")
def stg_report():
    print("report ran in stg")


prod.schedule("report")
stg.schedule("report")
stg.schedule("report")

# Each Engine only sees the jobs of its own namespace
print(f"prod: {prod.broker.queue_length('spinach')} job, stg: {stg.broker.queue_length('spinach')}")
prod.start_workers(number=1, stop_when_queue_empty=True)
stg.start_workers(number=1, stop_when_queue_empty=True)
