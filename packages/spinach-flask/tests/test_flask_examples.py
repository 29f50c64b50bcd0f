"""The Flask examples of the documentation (7.2.1 and 7.2.2) work as written."""

from __future__ import annotations

from spinach.job import JobStatus


def test_single_module_example(capsys, recorder_for):
    from flask_spinach_examples import single_module as example

    engine = example.spinach.get_engine(example.app)
    assert engine.namespace == example.app.name == "flask_spinach_examples.single_module"
    rec = recorder_for(engine.namespace)

    response = example.app.test_client().get("/")

    assert response.status_code == 200
    assert response.data == b"Hello from HTTP"
    assert engine.broker.queue_length("spinach") == 1
    engine.start_workers(number=2, stop_when_queue_empty=True)
    assert [job.status for job in rec.jobs("job_finished", "say_hello")] == [JobStatus.SUCCEEDED]
    assert "Hello from a task" in capsys.readouterr().out


def test_application_factory_example(capsys, recorder_for):
    from flask_spinach_examples.factory import app as module

    app = module.create_app()
    engine = module.spinach.get_engine(app)
    assert engine.namespace == "flask_spinach_examples.factory.app"
    assert "send_welcome_email" in engine.tasks
    rec = recorder_for(engine.namespace)

    response = app.test_client().get("/")

    assert response.get_json() == {"user_id": 42}
    engine.start_workers(number=2, stop_when_queue_empty=True)
    assert [j.status for j in rec.jobs("job_finished", "send_welcome_email")] == [
        JobStatus.SUCCEEDED
    ]
    assert "Sending email..." in capsys.readouterr().out


def test_application_factory_makes_independent_apps(recorder_for):
    """Each app of the factory has its own Engine; a view schedules on its own app's."""
    from flask_spinach_examples.factory import app as module

    first, second = module.create_app(), module.create_app()
    first_engine = module.spinach.get_engine(first)
    second_engine = module.spinach.get_engine(second)
    assert first_engine is not second_engine

    first.test_client().get("/")
    first.test_client().get("/")
    second.test_client().get("/")

    assert first_engine.broker.queue_length("spinach") == 2
    assert second_engine.broker.queue_length("spinach") == 1
