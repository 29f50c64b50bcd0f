"""Two registries in one tasks.py, and one imported from elsewhere: all are found."""

from polls.tasks import tasks as polls_tasks  # noqa: F401

from spinach import Tasks

orders = Tasks()
reports = Tasks(queue="reports")


@orders.task(name="shop:ship")
def ship(order_id: int):
    pass


@reports.task(name="shop:monthly_report")
def monthly_report():
    pass
