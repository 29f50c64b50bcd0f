"""The example of the documentation (Integrations, Sentry) runs as written."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# Verbatim from the documentation, chapter Integrations, section Sentry.
SPEC_EXAMPLE = textwrap.dedent(
    """
    import sentry_sdk

    from spinach.contrib.sentry_sdk_spinach import SpinachIntegration

    sentry_sdk.init(
        dsn="https://sentry_dsn/42",
        integrations=[SpinachIntegration(send_retries=False)]
    )
    """
)

CHECK = textwrap.dedent(
    """
    integration = sentry_sdk.get_client().get_integration(SpinachIntegration)
    assert integration is not None and integration.send_retries is False
    print("registered")
    """
)


def test_documented_registration_runs(tmp_path):
    # The placeholder DSN of the documentation has no public key, which
    # sentry-sdk rejects (BadDsn) before anything else: give it one.  Nothing
    # is captured, so nothing is sent to that (fake) address.
    example = SPEC_EXAMPLE.replace("https://sentry_dsn/42", "https://public@sentry_dsn/42")
    assert example != SPEC_EXAMPLE
    script = tmp_path / "example.py"
    script.write_text(example + CHECK)
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "registered"
