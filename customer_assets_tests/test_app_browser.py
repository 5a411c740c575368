"""The app in a real browser: `streamlit run` on 127.0.0.1 over the shared built home, Debian's chromium driven by
Playwright (never a downloaded browser). Each page must show its heading and its key element and no exception
box; screenshots are kept under customer_assets_tests/artifacts/ (git-ignored)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

from customer_assets.config import REPO_ROOT

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO_ROOT / "customer_assets_tests" / "artifacts" / "app"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]
# page -> a selector that only renders when the page has its data (a chart, a table or a metric)
KEY_ELEMENT = {
    "Overview": '[data-testid="stMetric"]',
    "Churn": '[data-testid="stDataFrame"]',
    "Segments": '[data-testid="stDataFrame"]',
    "Customer": '[data-testid="stTextInput"]',
    "Products and reviews": '[data-testid="stDataFrame"]',
    "Models": '[data-testid="stDataFrame"]',
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(shared_home, tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium; .ci/run does it as root)")
    port = _free_port()
    env = {**os.environ, "CUSTOMER_ML_HOME": str(shared_home.settings.home), "CUSTOMER_ML_API_KEY": "",
           "MLFLOW_TRACKING_URI": "", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    log = (tmp_path_factory.mktemp("app") / "streamlit.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "customer_assets/app/main.py"),
                             "--server.address", "127.0.0.1", "--server.port", str(port), "--server.headless", "true"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"streamlit exited: see {log.name}")
                time.sleep(0.5)
        else:
            pytest.fail(f"streamlit did not answer its health check: see {log.name}")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


@pytest.fixture(scope="module")
def browser(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.mark.parametrize("page_name", list(KEY_ELEMENT))
def test_page_renders_in_chromium(app_url, browser, page_name):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{app_url}/?page={urllib.parse.quote(page_name)}", wait_until="domcontentloaded")
        page.get_by_role("heading", name=page_name).first.wait_for(timeout=90_000)
        page.locator(KEY_ELEMENT[page_name]).first.wait_for(timeout=90_000)
        page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=90_000)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{page_name.replace(' ', '_').lower()}.png"), full_page=True)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert page.locator('[data-testid="stAlertContentError"]').count() == 0
    finally:
        page.close()
