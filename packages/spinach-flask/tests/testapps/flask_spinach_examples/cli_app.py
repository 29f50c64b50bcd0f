"""An application for running ``flask spinach`` in a real subprocess.

``FLASK_APP=flask_spinach_examples.cli_app flask spinach`` starts its workers;
the job scheduled at start proves that they run jobs in an application
context, and the test stops them with SIGINT as a user would with ^C.
"""

import os

from flask import Flask, current_app

from spinach import MemoryBroker
from spinach.contrib.flask_spinach import Spinach

app = Flask(__name__)
app.config["SPINACH_BROKER"] = MemoryBroker()
app.config["GREETING"] = os.environ.get("GREETING", "hello")
spinach = Spinach(app)


@spinach.task(name="greet", queue=os.environ.get("GREET_QUEUE", "spinach"))
def greet():
    print(f"{current_app.config['GREETING']} from {current_app.name}", flush=True)


with app.app_context():
    spinach.schedule("greet")
