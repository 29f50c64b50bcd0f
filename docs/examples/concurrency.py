import threading
import time

from spinach import Engine, MemoryBroker

spin = Engine(MemoryBroker())
stats = {"running": 0, "most_at_once": 0}
lock = threading.Lock()


# However many workers and queued jobs, at most one job of this task runs at once.
# max_concurrency needs max_retries: only retryable tasks can be limited safely.
@spin.task(name="rebuild_index", max_retries=3, max_concurrency=1)
def rebuild_index(part):
    with lock:
        stats["running"] += 1
        stats["most_at_once"] = max(stats["most_at_once"], stats["running"])
    time.sleep(0.05)
    with lock:
        stats["running"] -= 1


for part in range(5):
    spin.schedule(rebuild_index, part)

spin.start_workers(number=5, stop_when_queue_empty=True)
print(f"5 jobs ran, at most {stats['most_at_once']} at once")
