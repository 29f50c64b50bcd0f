"""The data of a job reaches Sentry only when the settings let it.

A job's arguments (here an e-mail address) and the local variables of the
frames of its stack (here a password-reset link in the task's frame and a
card number in a function it calls) must appear nowhere in what the real
SDK would send, in any kind of event: the job's failure, an exception and a
message the task captures, an error it logs, its transaction and spans, and
the breadcrumbs of all of them.  The search is over the serialised
envelopes, byte for byte, so a secret hidden in any field is found.

The secrets are computed at run time from the address: Sentry sends the
source lines around each frame, so a literal written in this file would be
"sent" whatever the integration does.
"""

from __future__ import annotations

import hashlib
import logging
import threading

import pytest
import sentry_sdk

from spinach import ThreadWorkers
from spinach.contrib.sentry_sdk_spinach import SpinachIntegration

from .helpers import KINDS, define, frames_of, work

app_logger = logging.getLogger("tests.sentry.app")

ADDRESS = "alice.pii-4242@example.com"


def link_secret(address: str) -> str:
    return "link-" + hashlib.sha256(b"link:" + address.encode()).hexdigest()[:20]


def card_secret(address: str) -> str:
    return "card-" + hashlib.sha256(b"card:" + address.encode()).hexdigest()[:20]


SECRETS = {
    "argument": ADDRESS.encode(),
    "local of the task": link_secret(ADDRESS).encode(),
    "local of a callee": card_secret(ADDRESS).encode(),
}


def render(address):
    card_number = card_secret(address)
    raise LookupError(f"no template for a card of {len(card_number)} characters")


def deliver(address):
    """Every way a task makes the SDK send something, with secrets in its frames."""
    reset_link = "https://example.com/reset/" + link_secret(address)
    app_logger.warning("delivering a message of %d characters", len(reset_link))  # a breadcrumb
    with sentry_sdk.start_span(op="mail.render", name="render the message"):
        try:
            render(address)
        except LookupError:
            app_logger.error("the message could not be rendered", exc_info=True)
        try:
            render(address)
        except LookupError:  # another exception: Sentry drops a second report of one
            sentry_sdk.capture_exception()
    sentry_sdk.capture_message("delivery is slow")  # with attach_stacktrace: the thread's stack
    raise RuntimeError("delivery failed")


# The events of one run of `deliver`: the logged error, the captured
# exception, the captured message and the failure of the job.
EVENTS_PER_RUN = 4


def run_deliver(sentry_init, spin, workers_class=ThreadWorkers, is_async=False, **options):
    options.setdefault("attach_stacktrace", True)
    transport = sentry_init(**options)
    define(spin, "deliver", deliver, is_async)
    spin.schedule("deliver", ADDRESS)
    work(spin, workers_class)
    assert len(transport.events) == EVENTS_PER_RUN, transport.events
    assert len(transport.transactions) == 1
    return transport


def sent_secrets(transport) -> set[str]:
    wire = transport.raw()
    # The search itself works: the frames and messages of the job are there.
    assert b'"function":"render"' in wire.replace(b" ", b"")
    assert b"delivery is slow" in wire
    assert b"the message could not be rendered" in wire
    return {name for name, secret in SECRETS.items() if secret in wire}


def assert_frames_without_variables(transport):
    for event in transport.events:
        frames = frames_of(event)
        assert frames, f"an event without a stack trace: {event}"
        assert [f for f in frames if "vars" in f] == [], event.get("message") or event


@pytest.mark.parametrize(("workers_class", "is_async"), KINDS)
def test_nothing_of_the_job_is_sent_by_default(sentry_init, real_spin, workers_class, is_async):
    transport = run_deliver(sentry_init, real_spin, workers_class, is_async)

    assert sent_secrets(transport) == set()
    assert_frames_without_variables(transport)
    # Each kind of event was sent, with its frames (but no variables).
    kinds = {e.get("logger") or e.get("message") or "failure" for e in transport.events}
    assert kinds == {"tests.sentry.app", "delivery is slow", "failure"}
    [transaction] = transport.transactions
    assert [span["op"] for span in transaction["spans"]] == ["mail.render"]
    assert "args" not in transaction["contexts"]["spinach"]
    for event in transport.events:
        assert "args" not in event["contexts"]["spinach"]
        assert "kwargs" not in event["contexts"]["spinach"]
    crumbs = [c["message"] for e in transport.events for c in e["breadcrumbs"]["values"]]
    assert "delivering a message of 51 characters" in crumbs


@pytest.mark.filterwarnings("ignore:The send_default_pii option is deprecated:DeprecationWarning")
@pytest.mark.parametrize(("workers_class", "is_async"), KINDS)
def test_everything_is_sent_with_send_default_pii(sentry_init, real_spin, workers_class, is_async):
    transport = run_deliver(sentry_init, real_spin, workers_class, is_async, send_default_pii=True)

    assert sent_secrets(transport) == set(SECRETS)
    [failure] = [e for e in transport.events if e["tags"].get("spinach.outcome") == "failed"]
    assert failure["contexts"]["spinach"]["args"] == [ADDRESS]
    task_frames = [f for f in frames_of(failure) if f["function"] == "deliver"]
    assert task_frames[0]["vars"]["address"] == repr(ADDRESS)


def test_include_local_variables_sends_the_frames_variables_only(sentry_init, real_spin):
    transport = run_deliver(
        sentry_init, real_spin, integrations=[SpinachIntegration(include_local_variables=True)]
    )

    # The address is sent too, as the local variable of the task that it is...
    assert sent_secrets(transport) == set(SECRETS)
    # ...but the job's arguments are not listed in its context.
    for event in [*transport.events, *transport.transactions]:
        assert "args" not in event["contexts"]["spinach"]


def test_send_job_arguments_sends_the_arguments_only(sentry_init, real_spin):
    transport = run_deliver(
        sentry_init, real_spin, integrations=[SpinachIntegration(send_job_arguments=True)]
    )

    assert sent_secrets(transport) == {"argument"}
    assert_frames_without_variables(transport)
    for event in transport.events:
        assert event["contexts"]["spinach"]["args"] == [ADDRESS]


@pytest.mark.filterwarnings("ignore:The send_default_pii option is deprecated:DeprecationWarning")
def test_the_integration_can_refuse_what_send_default_pii_allows(sentry_init, real_spin):
    integration = SpinachIntegration(include_local_variables=False, send_job_arguments=False)
    transport = run_deliver(
        sentry_init, real_spin, send_default_pii=True, integrations=[integration]
    )

    assert sent_secrets(transport) == set()
    assert_frames_without_variables(transport)


@pytest.mark.parametrize("queues", [True, False])
def test_data_collection_queues_decides_for_the_frames_too(sentry_init, real_spin, queues):
    pytest.importorskip("sentry_sdk.data_collection", reason="sentry-sdk without data_collection")
    # stack_frame_variables is on by default in data_collection: the frames of
    # a job hold its data, so the queues category decides for them.
    transport = run_deliver(sentry_init, real_spin, data_collection={"queues": queues})

    assert sent_secrets(transport) == (set(SECRETS) if queues else set())


def test_threads_started_by_a_task_keep_its_data_private(sentry_init, real_spin):
    transport = sentry_init()
    reports = []

    def in_a_thread(address):
        reset_link = link_secret(address)
        try:
            raise ValueError(f"a link of {len(reset_link)} characters")
        except ValueError:
            reports.append(sentry_sdk.capture_exception())

    @real_spin.task(name="fans_out")
    def fans_out(address):
        # Sentry's threading integration gives the thread the job's scopes.
        thread = threading.Thread(target=in_a_thread, args=(address,), name="test-fan-out")
        thread.start()
        thread.join(10)
        assert not thread.is_alive()

    real_spin.schedule("fans_out", ADDRESS)
    work(real_spin)

    [event] = transport.events
    assert reports == [event["event_id"]]
    assert event["tags"]["spinach.task"] == "fans_out"
    assert_frames_without_variables(transport)
    wire = transport.raw()
    assert b"in_a_thread" in wire
    assert SECRETS["argument"] not in wire
    assert SECRETS["local of the task"] not in wire


def test_events_outside_jobs_keep_their_variables(sentry_init, real_spin):
    # The integration only acts on the events of jobs: the rest of the
    # application keeps Sentry's own settings (local variables on by default).
    transport = sentry_init()

    @real_spin.task(name="noop")
    def noop(address):
        pass

    real_spin.schedule("noop", ADDRESS)
    work(real_spin)
    outside = link_secret(ADDRESS)
    try:
        raise ValueError("outside of any job")
    except ValueError:
        sentry_sdk.capture_exception()

    [event] = transport.events
    [frame] = frames_of(event)
    assert frame["vars"]["outside"] == repr(outside)


def test_a_task_clearing_its_scopes_does_not_lift_the_protection(sentry_init, real_spin):
    # The job's tags mark its events; a task may remove them, but its events
    # are still sent from the job's context.
    transport = sentry_init()

    @real_spin.task(name="clears")
    def clears(address):
        sentry_sdk.get_isolation_scope().clear()
        sentry_sdk.get_current_scope().clear()
        reset_link = link_secret(address)
        try:
            raise ValueError(f"a link of {len(reset_link)} characters")
        except ValueError:
            sentry_sdk.capture_exception()

    real_spin.schedule("clears", ADDRESS)
    work(real_spin)

    [event] = transport.events
    assert "spinach.job_id" not in event.get("tags", {})
    assert_frames_without_variables(transport)
    wire = transport.raw()
    assert b"clears" in wire
    assert SECRETS["argument"] not in wire
    assert SECRETS["local of the task"] not in wire
