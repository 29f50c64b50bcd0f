"""Documentation 7.2.2 ``app.py`` (MemoryBroker instead of RedisBroker)."""

from flask import Flask

from spinach import MemoryBroker
from spinach.contrib.flask_spinach import Spinach

spinach = Spinach()


def create_app():
    app = Flask(__name__)
    app.config["SPINACH_BROKER"] = MemoryBroker()  # RedisBroker() in the documentation
    spinach.init_app(app)

    from . import auth

    app.register_blueprint(auth.blueprint)
    spinach.register_tasks(app, auth.tasks)

    return app
