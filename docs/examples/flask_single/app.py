import os

from flask import Flask

from spinach import RedisBroker
from spinach.contrib.flask_spinach import Spinach

app = Flask(__name__)
# Without this setting the broker is spinach.RedisBroker(), on localhost:6379
app.config["SPINACH_BROKER"] = RedisBroker.from_url(
    os.environ.get("SPINACH_REDIS_URL", "redis://localhost:6379/0")
)
spinach = Spinach(app)


@spinach.task(name="say_hello")
def say_hello():
    print("Hello from a task")


@app.route("/")
def home():
    spinach.schedule("say_hello")
    return "Hello from HTTP"
