"""The UI's guards, against a real server: failed logins back off per client (HTTP 429, logged), uploads are capped
per file and per client, and uploaded files are deleted once handled (and swept when abandoned)."""

from __future__ import annotations

import json
import logging
import shutil
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from reltools import serve, tiny_rows, write_jsonl

import ui.guard
from rag import Assistant, Settings
from ui.guard import UPLOAD_SWEEP, discard_uploads, upload_folder

pytestmark = pytest.mark.server


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode()


def login(url: str, password: str) -> tuple[int, dict[str, str], str]:
    body = f"username=admin&password={password}".encode()
    return post(url + "login", body, {"Content-Type": "application/x-www-form-urlencoded"})


def upload(url: str, name: str, size: int) -> tuple[int, dict[str, str], str]:
    boundary = uuid.uuid4().hex
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n\r\n'.encode()
    body = head + b"x" * size + f"\r\n--{boundary}--\r\n".encode()
    return post(url + "gradio_api/upload", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})


@pytest.fixture
def uploads(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "gradio-uploads"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(folder))
    return folder


def test_failed_logins_back_off_per_client_and_are_logged(tiny_home, embeddings, caplog):
    caplog.set_level(logging.WARNING, logger="ui.guard")
    settings = Settings(home=tiny_home, generator="extractive", ui_auth="admin:right-password-1")
    demo = serve(Assistant(settings, embeddings=embeddings))
    try:
        url = demo.local_url
        t0 = time.perf_counter()
        codes = [login(url, f"wrong-{i}")[0] for i in range(200)]
        elapsed = time.perf_counter() - t0
        assert codes[:5] == [400] * 5  # wrong credentials, said as such
        assert set(codes[5:]) == {429}  # then locked out: 195 attempts never reach the password check
        status, headers, body = login(url, "right-password-1")
        assert status == 429 and 1 <= int(headers["retry-after"]) <= 60  # even the right one waits its turn
        assert "Too many failed logins" in json.loads(body)["detail"]
    finally:
        demo.close()
    assert sum("failed login from client 127.0.0.1" in r.message for r in caplog.records) == 5
    assert any("locked for" in r.message for r in caplog.records)
    print(f"200 wrong passwords: {codes.count(400)} checked, {codes.count(429)} refused, {elapsed:.2f} s")


def test_a_successful_login_clears_the_count(tiny_home, embeddings):
    settings = Settings(home=tiny_home, generator="extractive", ui_auth="admin:right-password-1")
    demo = serve(Assistant(settings, embeddings=embeddings))
    try:
        for _ in range(2):
            assert [login(demo.local_url, "nope")[0] for _ in range(4)] == [400] * 4
            assert login(demo.local_url, "right-password-1")[0] == 200  # a typo or two never locks a user out
    finally:
        demo.close()


def test_uploads_are_capped_per_file_and_per_client(tiny_home, embeddings, uploads, monkeypatch):
    monkeypatch.setattr(ui.guard, "UPLOAD_ALLOWANCE", "14/hour")
    demo = serve(Assistant(Settings(home=tiny_home, generator="extractive"), embeddings=embeddings))
    try:
        status, _, body = upload(demo.local_url, "huge.jsonl", (ui.guard.UPLOAD_MAX_MB + 1) * 2**20)
        assert status == 413 and "limited to 10 MB per file" in json.loads(body)["detail"]  # nothing stored
        ok = [upload(demo.local_url, f"part{i}.jsonl", 4 * 2**20) for i in range(2)]  # 5 MB each, as counted
        assert [s for s, _, _ in ok] == [200, 200]
        stored = [Path(p) for _, _, body in ok for p in json.loads(body)]
        assert all(p.is_file() and uploads.resolve() in p.resolve().parents for p in stored)
        status, headers, body = upload(demo.local_url, "more.jsonl", 4 * 2**20)  # 15 > 14 MB
        assert status == 429 and int(headers["retry-after"]) >= 1
        assert "Upload allowance used up (14 MB per hour per address)" in json.loads(body)["detail"]
    finally:
        demo.close()
    assert not any(uploads.rglob("*.jsonl"))  # Gradio's sweep: every upload goes when the server stops


def test_abandoned_uploads_are_swept_and_handled_ones_deleted(tmp_path, uploads):
    ours = uploads / "abc123" / "papers.jsonl"
    ours.parent.mkdir(parents=True)
    write_jsonl(ours, tiny_rows()[:1])
    elsewhere = write_jsonl(tmp_path / "mine.jsonl", tiny_rows()[:1])  # a user's own file: never ours to delete
    assert upload_folder() == uploads.resolve()
    assert discard_uploads([ours, elsewhere]) == 1
    assert not ours.exists() and not ours.parent.exists() and elsewhere.exists()
    assert UPLOAD_SWEEP[1] <= 3600  # unhandled uploads live at most an hour


# ---- in a real browser: the Collection tab's upload, validated, refused or added, then gone -----------------------
@pytest.fixture
def page() -> Iterator[Any]:
    from ui.screenshot import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.skip("browser test needs /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 960})
        page.set_default_timeout(120_000)
        yield page
        browser.close()


@pytest.mark.browser
@pytest.mark.slow
def test_uploaded_files_are_deleted_once_refused_or_added(make_assistant, page, tmp_path, uploads):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "Broken"\n')
    good = write_jsonl(tmp_path / "good.jsonl", tiny_rows()[:2])
    assistant = make_assistant()
    demo = serve(assistant)
    try:
        page.goto(demo.local_url)
        page.click("button[role=tab]:has-text('Collection')")
        page.set_input_files("#rag-upload input[type=file]", str(bad))
        page.wait_for_selector("#rag-upload-status .rag-status.error")
        assert not list(uploads.rglob("bad.jsonl"))  # refused: its upload is gone
        page.click("button[aria-label='Clear']")
        page.set_input_files("#rag-upload input[type=file]", str(good))
        page.wait_for_selector("#rag-upload-status .rag-status.info")
        assert list(uploads.rglob("good.jsonl"))  # kept until it is added
        page.locator("button:has-text('Add to the index')").click()
        page.wait_for_selector("#rag-upload-status .rag-status.ok")
        assert assistant.stats()["papers"] == 2
        assert not list(uploads.rglob("good.jsonl"))  # added: its upload is gone
    finally:
        demo.close()


def test_the_launch_check_waits_for_a_server_that_is_slow_to_start():
    """Gradio's own check gives up on the first refused or slow request; ours waits (a loaded CI machine)."""
    import http.server
    import socket
    import threading
    import time

    from gradio import networking

    from ui.guard import patient_launch_check

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"

    def serve_later() -> None:  # nobody listens for 2 s: Gradio's own check fails at once on the refusal
        time.sleep(2.0)
        with http.server.HTTPServer(("127.0.0.1", port), http.server.SimpleHTTPRequestHandler) as server:
            server.handle_request()

    threading.Thread(target=serve_later, daemon=True).start()
    patient_launch_check()
    started = time.monotonic()
    assert networking.url_ok(url) is True
    assert 1.5 <= time.monotonic() - started < 20
