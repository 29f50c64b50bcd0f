"""Documentation 7.2.1, "Single Module" (SPINACH_BROKER set to a MemoryBroker)."""

from flask import Flask

from spinach import MemoryBroker
from spinach.contrib.flask_spinach import Spinach

app = Flask(__name__)
app.config["SPINACH_BROKER"] = MemoryBroker()  # the only line not in the documentation
spinach = Spinach(app)


@spinach.task(name="say_hello")
def say_hello():
    print("Hello from a task")


@app.route("/")
def home():
    spinach.schedule("say_hello")
    return "Hello from HTTP"
