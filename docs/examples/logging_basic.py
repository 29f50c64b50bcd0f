import logging

from spinach import Engine, MemoryBroker

# Spinach only emits records on loggers named spinach.*; configuring them is yours
logging.basicConfig(
    format="%(asctime)s - %(threadName)s %(levelname)s: %(message)s", level=logging.INFO
)

spin = Engine(MemoryBroker())


@spin.task(name="hello")
def hello():
    logging.getLogger("myapp.tasks").info("Hello from a task")


spin.schedule(hello)
spin.start_workers(number=1, stop_when_queue_empty=True)
