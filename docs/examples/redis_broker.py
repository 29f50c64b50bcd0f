import os

import redis

from spinach import Engine, RedisBroker

REDIS_URL = os.environ.get("SPINACH_REDIS_URL", "redis://localhost:6379/0")

# From a URL: redis://[:password@]host[:port][/db], rediss:// for TLS, unix://
broker = RedisBroker.from_url(REDIS_URL, broker_dead_threshold_seconds=60)

# Or from a redis-py client you configured yourself (a RedisCluster works too)
client = redis.Redis.from_url(REDIS_URL)
same_server = RedisBroker(client)

spin = Engine(broker, namespace="shop")


@spin.task(name="ship", max_retries=3)
def ship(order_id):
    print(f"Shipping order {order_id}")


spin.schedule(ship, 1234)
spin.start_workers(number=2, stop_when_queue_empty=True)
print(f"dead workers are found after {broker.broker_dead_threshold_seconds:.0f} s of silence")
