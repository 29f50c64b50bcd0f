"""Testing tasks with embedded workers, an in-memory broker and a manual clock."""

import threading
from datetime import timedelta

from spinach import Engine, ManualClock, MemoryBroker, Tasks, signals

tasks = Tasks()
sent = []


@tasks.task(name="send_reminder")
def send_reminder(user_id):
    sent.append(user_id)


def test_reminder_is_sent_one_day_later():
    clock = ManualClock()  # time only moves when the test says so
    spin = Engine(MemoryBroker(clock=clock), namespace="test-reminders")
    spin.attach_tasks(tasks)
    finished = threading.Event()

    @signals.job_finished.connect_via(spin.namespace)
    def on_finished(namespace, job, **kwargs):
        finished.set()

    spin.schedule_at(send_reminder, clock.now() + timedelta(days=1), 42)
    spin.start_workers(number=1, block=False)
    try:
        assert not finished.wait(timeout=0.2) and sent == []  # not due yet
        clock.advance(timedelta(days=1).total_seconds())  # no real day spent
        assert finished.wait(timeout=10)
    finally:
        spin.stop_workers()
    assert sent == [42]


if __name__ == "__main__":
    test_reminder_is_sent_one_day_later()
    print("test passed")
