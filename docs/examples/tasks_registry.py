from spinach import Engine, MemoryBroker, Tasks

# A registry of tasks, e.g. in the tasks.py module of one part of the project
tasks = Tasks()


@tasks.task(name="add")
def add(a, b):
    print(f"Computed {a} + {b} = {a + b}")


# Registering a function without the decorator
def greet(name):
    print(f"Hello {name}")


tasks.add(greet, name="greet")

# The application attaches the registries of all its parts to its Engine
spin = Engine(MemoryBroker())
spin.attach_tasks(tasks)

spin.schedule("add", 1, 2)  # a task by its name...
spin.schedule(add, 3, 4)  # ...or by its function
tasks.schedule("greet", "Ada")  # a registry schedules on the Engine it is attached to

spin.start_workers(number=1, stop_when_queue_empty=True)
