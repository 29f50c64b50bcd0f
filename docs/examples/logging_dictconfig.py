import logging.config

from spinach import Engine, MemoryBroker

logging.config.dictConfig(
    {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            # Every record of a job carries its id and task name as extra attributes
            "job": {
                "format": "%(levelname)s [%(spinach_task_name)s %(spinach_job_id)s] %(message)s"
            },
            "plain": {"format": "%(levelname)s %(name)s: %(message)s"},
        },
        "handlers": {
            "jobs": {"class": "logging.StreamHandler", "formatter": "job"},
            "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        },
        "loggers": {
            # One record per job outcome; never the job's arguments at INFO or above
            "spinach.job": {"handlers": ["jobs"], "level": "INFO", "propagate": False},
            # Start and stop of the workers, broker trouble
            "spinach": {"handlers": ["console"], "level": "WARNING"},
        },
    }
)

spin = Engine(MemoryBroker())


@spin.task(name="send_invoice")
def send_invoice(invoice_id):
    pass


spin.schedule(send_invoice, 7)
spin.start_workers(number=1, stop_when_queue_empty=True)
