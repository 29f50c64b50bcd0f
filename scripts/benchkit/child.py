"""Entry point of the benchmark's subprocesses, run in a system's virtualenv.

    python -m benchkit.child driver SPEC_JSON RESULT_FILE
    python -m benchkit.child worker SPEC_JSON          (started by a driver)

The driver takes one measurement (:mod:`benchkit.measure`) and writes its
figures as JSON to RESULT_FILE.  The worker runs the system's worker until
its probe has seen every expected job; it talks to its driver through the
pipe whose descriptor is in ``BENCH_FD``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import traceback
from typing import Any, Dict, Optional

from benchkit import adapters, common

#: How long a worker may take to stop once done before it is cut short.
STOP_GRACE_SECONDS = 20.0


def driver(spec: Dict[str, Any], result_file: str) -> int:
    from benchkit import measure

    try:
        adapter = adapters.load(spec["system"], spec["url"])
        result = measure.run(adapter, spec)
        adapter.close()
        status = 0
    except common.NotSupported as exc:
        result = {"na": str(exc)}
        status = 0
    except Exception as exc:
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
        status = 1
    with open(result_file, "w") as out:
        json.dump(result, out)
    return status


def worker(spec: Dict[str, Any]) -> None:
    channel = common.Channel(int(os.environ["BENCH_FD"]))
    probe: Optional[common.Probe] = None
    stop_error = None
    try:
        common.BODY_URL = spec.get("body_url")
        adapter = adapters.load(spec["system"], spec["url"])
        adapter.kind = spec.get("kind", "noop")
        probe = common.Probe(channel, spec["mode"], spec["expected"], spec.get("warmup", 0))
        common.PROBE = probe
        threading.Thread(target=_watchdog, args=(probe,), daemon=True).start()
        adapter.run_worker(
            probe,
            spec["concurrency"],
            spec.get("workers", "threads"),
            spec.get("purpose", "process"),
        )
    except BaseException as exc:  # report anything, even SystemExit from a library
        if not (isinstance(exc, SystemExit) and not exc.code):
            traceback.print_exc()
            sys.stderr.flush()
            if probe is None or not probe.done.is_set():
                channel.send("error", error=f"{type(exc).__name__}: {exc}")
                os._exit(1)
            # Every job ran and the figures are sent: only stopping failed.
            stop_error = f"{type(exc).__name__}: {exc}"
    channel.send("exit", vmhwm_kib=common.peak_rss_kib(), stop_error=stop_error)
    sys.stdout.flush()
    sys.stderr.flush()
    # Libraries may leave non-daemon threads behind: the measurement is over.
    os._exit(0)


def _watchdog(probe: common.Probe) -> None:
    """Once done, give the library some time to stop, then end the process."""
    probe.done.wait()
    if not threading.Event().wait(STOP_GRACE_SECONDS):  # pacing a deadline
        print(f"[bench] worker did not stop {STOP_GRACE_SECONDS:.0f} s after the last job")
        sys.stdout.flush()
        probe.channel.send("exit", vmhwm_kib=common.peak_rss_kib(), forced=True)
        os._exit(0)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    role, spec_json = sys.argv[1], sys.argv[2]
    spec = json.loads(spec_json)
    if role == "driver":
        sys.exit(driver(spec, sys.argv[3]))
    elif role == "worker":
        worker(spec)
    else:
        sys.exit(f"unknown role {role!r}")


if __name__ == "__main__":
    main()
