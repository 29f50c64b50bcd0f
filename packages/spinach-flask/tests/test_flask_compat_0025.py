"""Flask code written for the original spinach 0.0.25 keeps working.

``Spinach.spin`` (the current application's Engine), ``Spinach.execute`` and
``flask spinach --stop-when-queue-empty``.
"""

from __future__ import annotations

import pytest
from flask import Flask, current_app, g

from spinach import MemoryBroker
from spinach.contrib.flask_spinach import Spinach
from spinach.engine import Engine
from spinach.exc import InvalidJobSignatureError, UnknownTask

# -- Spinach.spin -----------------------------------------------------------------


def test_spin_is_the_engine_of_the_current_application(make_app):
    spinach = Spinach()
    first, _ = make_app(spinach, name="first", namespace_="compat-first")
    second, _ = make_app(spinach, name="second", namespace_="compat-second")
    with first.app_context():
        assert isinstance(spinach.spin, Engine)
        assert spinach.spin is spinach.get_engine(first)
        assert spinach.spin.namespace == "compat-first"
    with second.app_context():
        assert spinach.spin is spinach.get_engine(second)


def test_spin_needs_an_application_context_even_with_an_app_given():
    app = Flask("single")
    app.config["SPINACH_BROKER"] = MemoryBroker()
    spinach = Spinach(app)
    with pytest.raises(RuntimeError, match="inside an application context"):
        spinach.spin  # noqa: B018 - the property is what is tested
    with app.app_context():
        assert spinach.spin is spinach.get_engine(app)


def test_spin_refuses_an_application_the_extension_was_not_initialised_for(make_app):
    _, spinach = make_app()
    other = Flask("other")
    with other.app_context(), pytest.raises(RuntimeError, match="not initialised"):
        spinach.spin  # noqa: B018


# -- Spinach.execute --------------------------------------------------------------


def test_execute_runs_the_task_now_in_an_application_context(make_app, recorder):
    app, spinach = make_app()
    seen = []

    @spinach.task(name="greet")
    def greet(name, punctuation="!"):
        seen.append(current_app.name)
        return f"hello {name}{punctuation}"

    with app.app_context():
        g.marker = "the caller's context"

        @spinach.task(name="peek")
        def peek():
            return g.marker

        assert spinach.execute("greet", "ada") == "hello ada!"
        assert spinach.execute(greet, "bob", punctuation="?") == "hello bob?"
        assert spinach.execute(peek) == "the caller's context"  # no context pushed on top
        assert spinach.spin.broker.queue_length("spinach") == 0
    assert seen == ["testapp", "testapp"]
    assert recorder.events == []  # no job, no signal


def test_execute_outside_a_context_pushes_one_for_the_given_app(recorder):
    app = Flask("single")
    app.config.update(SPINACH_BROKER=MemoryBroker(), SPINACH_NAMESPACE=recorder.namespace)
    spinach = Spinach(app)

    @spinach.task(name="which_app")
    def which_app():
        return current_app.name

    assert spinach.execute("which_app") == "single"


def test_execute_without_any_application_says_what_to_do():
    spinach = Spinach()
    with pytest.raises(RuntimeError, match="needs an application"):
        spinach.execute("anything")


def test_execute_checks_the_arguments(make_app):
    app, spinach = make_app()
    spinach.task(lambda a: a, name="one_arg")
    with app.app_context():
        with pytest.raises(UnknownTask):
            spinach.execute("missing")
        with pytest.raises(InvalidJobSignatureError):
            spinach.execute("one_arg", 1, 2)


# -- flask spinach --stop-when-queue-empty ------------------------------------------


@pytest.mark.parametrize("option", ["--stop-when-queue-empty", "--stop-when-empty"])
def test_stop_when_queue_empty_option_and_its_alias(make_app, recorder, option):
    app, spinach = make_app()
    spinach.task(lambda n: None, name="noop")
    with app.app_context():
        for n in range(3):
            spinach.schedule("noop", n)
    result = app.test_cli_runner().invoke(args=["spinach", option, "--threads", "2"])
    assert result.exit_code == 0, result.output
    assert recorder.count("job_finished") == 3
    assert "Spinach workers stopped" in result.output


def test_help_lists_the_option_and_its_alias(make_app):
    app, _ = make_app()
    result = app.test_cli_runner().invoke(args=["spinach", "--help"])
    assert "--stop-when-queue-empty" in result.output
    assert "--stop-when-empty" in result.output


def test_default_threads_are_the_original_default_worker_number():
    from spinach.const import DEFAULT_WORKER_NUMBER
    from spinach.contrib.flask_spinach.cli import DEFAULT_THREADS

    assert DEFAULT_THREADS == DEFAULT_WORKER_NUMBER == 5
