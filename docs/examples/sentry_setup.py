import os

import sentry_sdk

from spinach import Engine, MemoryBroker
from spinach.contrib.sentry_sdk_spinach import SpinachIntegration

sentry_sdk.init(
    dsn=os.environ["SENTRY_DSN"],  # https://<key>@<organisation>.ingest.sentry.io/<project>
    integrations=[SpinachIntegration(send_retries=False)],
    traces_sample_rate=1.0,  # one performance transaction per job
)

spin = Engine(MemoryBroker())


@spin.task(name="import_contacts")
def import_contacts(account_id):
    raise ValueError(f"account {account_id} has a malformed address book")


spin.schedule(import_contacts, 7)
spin.start_workers(number=1, stop_when_queue_empty=True)
sentry_sdk.flush()
