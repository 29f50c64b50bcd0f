import os

from flask import Flask

from spinach import RedisBroker
from spinach.contrib.flask_spinach import Spinach

spinach = Spinach()


def create_app():
    app = Flask(__name__)
    app.config["SPINACH_BROKER"] = RedisBroker.from_url(
        os.environ.get("SPINACH_REDIS_URL", "redis://localhost:6379/0")
    )
    app.config["SPINACH_NAMESPACE"] = "yourapp"
    spinach.init_app(app)

    from . import auth

    app.register_blueprint(auth.blueprint)
    spinach.register_tasks(app, auth.tasks)

    return app
