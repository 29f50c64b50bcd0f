from spinach import Engine, MemoryBroker
from spinach.exc import DuplicateJobError

spin = Engine(MemoryBroker())


# One live job per set of arguments: a second click does not queue the work twice
@spin.task(name="rebuild_index", unique=True)
def rebuild_index(site_id):
    print(f"Rebuilding the index of site {site_id}")


# The key is what the function returns: one sync per user, whatever the reason
@spin.task(
    name="sync_user",
    unique=lambda user_id, reason: f"user:{user_id}",
    on_duplicate="raise",
)
def sync_user(user_id, reason):
    print(f"Syncing user {user_id} ({reason})")


first = spin.schedule("rebuild_index", 42)
again = spin.schedule("rebuild_index", 42)
print(f"duplicate: {again.duplicate}, same job: {again.id == first.id}")
print(f"another site: {spin.schedule('rebuild_index', 7).duplicate}")

signup = spin.schedule("sync_user", 1, "signup")
try:
    spin.schedule("sync_user", 1, "profile edit")
except DuplicateJobError as exc:
    [live] = exc.duplicates
    print(f"refused: job {live.id == signup.id and 'signup'} is {live.status.name.lower()}")

spin.start_workers(number=1, stop_when_queue_empty=True)  # one thread: in order
# Every job ran and freed its key: the same work can be scheduled again
print(f"after the run: {spin.schedule('rebuild_index', 42).duplicate}")
