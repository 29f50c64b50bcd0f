"""SRE5: a mistyped SPINACH_BROKER URL puts the Redis password in the traceback.

``broker_from_config`` refuses a str that is not a Redis URL with
``ValueError(f"... not {value!r}")``: the whole value, password included,
lands in the crash log of every web and worker process that fails to boot
(and in Sentry).  Typical typos: a missing colon, ``redis+sentinel://``,
``http://`` pasted from a dashboard, surrounding whitespace from a secret file.
"""

from __future__ import annotations

import pytest
from flask import Flask

from spinach.contrib.flask_spinach import Spinach

SECRET = "s3cr3t-redis-pa55"


@pytest.mark.parametrize(
    "url",
    [
        f"redis//:{SECRET}@cache.internal:6379/0",
        f" redis://:{SECRET}@cache.internal:6379/0",
        f"redis+sentinel://:{SECRET}@cache.internal:26379/mymaster",
    ],
)
def test_refused_broker_url_does_not_echo_the_password(url):
    app = Flask(__name__)
    app.config["SPINACH_BROKER"] = url
    with pytest.raises(ValueError) as raised:
        Spinach(app)
    assert SECRET not in str(raised.value)
