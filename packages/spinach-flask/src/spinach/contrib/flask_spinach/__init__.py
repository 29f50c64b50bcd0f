"""Spinach for Flask.

Single module::

    from flask import Flask
    from spinach.contrib.flask_spinach import Spinach

    app = Flask(__name__)
    spinach = Spinach(app)

    @spinach.task(name='say_hello')
    def say_hello():
        print('Hello from a task')

Application factory::

    spinach = Spinach()

    def create_app():
        app = Flask(__name__)
        app.config['SPINACH_BROKER'] = RedisBroker()
        spinach.init_app(app)
        spinach.register_tasks(app, auth.tasks)
        return app

Each application initialised with the extension gets its own
:class:`~spinach.engine.Engine`, configured by ``SPINACH_BROKER`` (default
``spinach.RedisBroker()``) and ``SPINACH_NAMESPACE`` (default the app's
name).  Every job runs inside an application context of its app, and
``flask spinach [--queue Q] [--threads N]`` starts the workers.
"""

from ._version import __version__
from .extension import Spinach

__all__ = ["Spinach", "__version__"]
