"""A headless Chromium for the whole session (Debian's, through its chromedriver).

The browser reaches loopback only: every other host name resolves to nothing and any other
traffic goes to a closed loopback proxy, and Chromium's background services are off.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
BROWSER_FLAGS = (
    "--headless=new",
    "--no-sandbox",  # root in a container: Chromium's sandbox needs user namespaces
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--no-pings",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=127.0.0.1",
)


@pytest.fixture(scope="session")
def browser() -> Iterator[webdriver.Chrome]:
    """One headless Chromium for every browser test; cookies are cleared per test."""
    if shutil.which(CHROMIUM) is None or shutil.which(CHROMEDRIVER) is None:
        reason = "chromium/chromium-driver not installed (hack/system-deps.sh installs them)"
        if os.environ.get("CI"):  # CI must not go green by skipping the browser tests
            pytest.fail(reason)
        pytest.skip(reason)
    os.environ.setdefault("SE_AVOID_STATS", "true")  # Selenium Manager: never phone home
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in BROWSER_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(15)
    try:
        yield driver
    finally:
        driver.quit()
