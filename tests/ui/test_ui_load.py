"""A short load test: eight concurrent gradio_client users for ten seconds, no errors (the 60 s run is
`python -m ui.load_test --seconds 60 --users 8`)."""

from __future__ import annotations

import pytest

from ui.load_test import run_load

pytestmark = [pytest.mark.slow, pytest.mark.server]


def test_eight_concurrent_users_for_ten_seconds_see_no_errors(ui_server):
    report = run_load(ui_server.url, users=8, seconds=10)
    print(report.summary())
    assert report.errors == 0, report.error_messages
    assert report.requests >= 8  # every user got at least its first answer
    assert 0 < report.p50_ms <= report.p95_ms <= report.max_ms
