"""The benchmark harness behind ``scripts/bench``.

It compares Spinach with the original ``spinach`` package, its peers (RQ,
Dramatiq, Celery, Huey, arq, SAQ) and raw redis-py loops, on one private
``redis-server`` (plus a second one that only the bodies of the jobs with a
Redis round trip talk to, so that the first counts the queues' commands
alone).  Jobs are no-ops, one Redis round trip or a 1 ms wait; an idle
worker's traffic is a row of its own.  Every system runs in a virtualenv of its own (they share
import names), and every measurement in a subprocess of its own, with the
worker in yet another process.

Layout:

- :mod:`benchkit.bootstrap`: run by ``scripts/bench`` on any Python 3: makes
  the virtualenv of "ours", then runs the orchestrator in it;
- :mod:`benchkit.systems`: what is compared: pinned requirements, how each
  worker runs, what a system cannot do (and why);
- :mod:`benchkit.venvs`: one virtualenv per system under ``.bench/venvs``;
- :mod:`benchkit.orchestrator`: starts Redis, runs every measurement
  ``--repeat`` times (interleaved), writes the JSON, prints the table;
- :mod:`benchkit.report`: medians, ratios, targets and the table;
- :mod:`benchkit.child`: the entry point of a measurement subprocess (the
  "driver", in the system's virtualenv) and of its worker process;
- :mod:`benchkit.measure`: the measurements, written once for every system;
- :mod:`benchkit.common`: what the driver and the worker share (the probe
  the jobs call, the task bodies, the pipe between them, statistics,
  ``INFO commandstats``);
- :mod:`benchkit.adapters`: one module per system, with a common interface.

The harness imports nothing but the standard library and redis-py outside
of the adapters, so that it runs unchanged in every virtualenv.
"""
