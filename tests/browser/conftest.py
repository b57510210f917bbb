"""Browser tests: Debian's Chromium (/usr/bin/chromium) driven by Playwright, against servers the
tests start on 127.0.0.1 in their own process groups.  Screenshots go to ``test-artifacts/``
(or ``$ICLR17_TEST_ARTIFACTS``).  Without Chromium these tests skip, unless
``ICLR17_REQUIRE_BROWSER=1`` (CI sets it), where they fail."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import ROOT

CHROMIUM = os.environ.get("ICLR17_CHROMIUM", "/usr/bin/chromium")
# as root, headless, offline: the flags measured to work here (shared STACK.md)
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
BIN = Path(sys.executable).parent


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = Path(os.environ.get("ICLR17_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).is_file():
        message = f"no Chromium at {CHROMIUM}: `apt-get install -y chromium` (or set ICLR17_CHROMIUM)"
        if os.environ.get("ICLR17_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh page that may only reach 127.0.0.1 (everything else is aborted)."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.route("**/*", lambda route: route.continue_()
                  if route.request.url.startswith(("http://127.0.0.1", "data:", "blob:")) else route.abort())
    yield context.new_page()
    context.close()


def free_port() -> int:
    """A free port on 127.0.0.1 below 45000 (kedro-viz refuses ports above 49151, where the
    system's ephemeral ports usually are)."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20_000, 45_000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-45000 on 127.0.0.1")


@contextmanager
def serve(argv: list[str], ready_url: str, log: Path, env: dict | None = None, timeout: float = 180):
    """Start a server in its own process group, wait until ``ready_url`` answers 200, and on exit
    stop the whole group (SIGTERM, then SIGKILL) and check that nothing of it is left."""
    with open(log, "w") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "DO_NOT_TRACK": "true", **(env or {})})
    pgid = os.getpgid(proc.pid)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{argv[0]} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(ready_url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{ready_url} not ready after {timeout} s:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        yield proc
    finally:
        _stop_group(pgid, proc)


def _stop_group(pgid: int, proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _group_alive(pgid):
            proc.poll()  # reap the leader
            time.sleep(0.2)
        if not _group_alive(pgid):
            break
    proc.wait(timeout=5)
    assert not _group_alive(pgid), f"processes of group {pgid} outlived SIGKILL"


def _group_alive(pgid: int) -> bool:
    """Whether any live (not zombie) process is in the group."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def executable(name: str) -> str:
    path = BIN / name
    return str(path) if path.exists() else shutil.which(name) or name
