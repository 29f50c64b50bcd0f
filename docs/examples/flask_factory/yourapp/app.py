import os

from flask import Flask

from spinach.contrib.flask_spinach import Spinach

spinach = Spinach()


def create_app():
    app = Flask(__name__)
    # A Redis URL or a broker instance; the namespace defaults to the
    # module's name, "yourapp.app", for the web process and `flask spinach`
    app.config["SPINACH_BROKER"] = os.environ.get("SPINACH_REDIS_URL", "redis://localhost:6379/0")
    spinach.init_app(app)

    from . import auth

    app.register_blueprint(auth.blueprint)
    spinach.register_tasks(app, auth.tasks)

    return app
