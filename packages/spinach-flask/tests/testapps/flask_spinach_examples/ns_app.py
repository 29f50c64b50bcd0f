"""An app run as ``python -m``, as a script and by ``flask --app``: one namespace."""

from flask import Flask

from spinach import MemoryBroker
from spinach.contrib.flask_spinach import Spinach

app = Flask(__name__)
app.config["SPINACH_BROKER"] = MemoryBroker()
spinach = Spinach(app)

if __name__ == "__main__":
    print(f"namespace {spinach.get_engine(app).namespace!r}")
