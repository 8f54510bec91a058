"""The console in a real headless Chromium: what a person sees and what their clicks change.

Each test asserts on the page's content and, for a change, on Redis afterwards.
"""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from kasynq import keys
from kasynq.client import Client
from kasynq.inspector import Inspector
from kasynq.task import Task, TaskState
from kasynq.web.app import WebSettings
from kasynq.web.auth import Auth
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from devenv.webconsole import running_console

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "web-console.png"
SCRIPT_PAYLOAD = "<script>window.kasynqInjected = true</script><b>bold?</b>"


@pytest.fixture
def console(redis_url: str) -> Iterator[str]:
    with running_console(redis_url) as base:
        yield base


@pytest.fixture
def page(browser: webdriver.Chrome) -> webdriver.Chrome:
    browser.delete_all_cookies()
    return browser


def seed(redis_url: str) -> dict[str, str]:
    """Queues with known counts; returns the IDs of an archived and a script-payload task."""
    with Client.from_url(redis_url) as client:
        for n in range(3):
            client.enqueue(Task("email:send", f'{{"to": "user{n}@example.org"}}'.encode()))
        for _ in range(2):
            client.enqueue(Task("report:build", b"{}"), queue="critical", process_in=3600)
        archived = client.enqueue(Task("image:resize", b"{}"), queue="low").id
        script = client.enqueue(Task("xss", SCRIPT_PAYLOAD.encode()), queue="low").id
    with Inspector.from_url(redis_url) as inspector:
        inspector.archive_task("low", archived)
    return {"archived": archived, "script": script}


def click_and_load(page: webdriver.Chrome, element: WebElement) -> None:
    """Click, then wait until the next page replaced this one and loaded (a click does not
    wait). Mid-navigation chromedriver may answer a look at the old page with a plain error
    ("Node ... does not belong to the document"): that means not yet, so it is polled again.
    """
    old = page.find_element(By.TAG_NAME, "html")
    element.click()
    wait = WebDriverWait(page, 10, ignored_exceptions=(WebDriverException,))
    wait.until(expected_conditions.staleness_of(old))
    wait.until(lambda _: page.execute_script("return document.readyState") == "complete")


def visible_queues(page: webdriver.Chrome) -> list[str]:
    rows = page.find_elements(By.CSS_SELECTOR, "#queues tr[data-queue]")
    return [row.get_attribute("data-queue") or "" for row in rows if row.is_displayed()]


def cells(page: webdriver.Chrome, queue: str) -> dict[str, str]:
    row = page.find_element(By.CSS_SELECTOR, f'#queues tr[data-queue="{queue}"]')
    return {
        cell.get_attribute("data-field") or "": cell.text
        for cell in row.find_elements(By.CSS_SELECTOR, "td[data-field]")
    }


def test_overview_lists_queues_with_their_counts(
    page: webdriver.Chrome, console: str, redis_url: str
) -> None:
    seed(redis_url)
    with Client.from_url(redis_url) as client:
        client.enqueue(Task("report:build", b"{}"), queue="critical", priority="high")
    page.get(console + "/")
    assert page.title == "Queues · kasynq"
    names = [a.text for a in page.find_elements(By.CSS_SELECTOR, "#queues tbody td a")]
    assert names == ["critical.high", "critical", "default", "low"]  # lanes under their queue
    lane = page.find_element(By.CSS_SELECTOR, '#queues tr[data-queue="critical.high"] .lane')
    assert lane.text == "high lane" and lane.is_displayed()
    assert cells(page, "default")["pending"] == "3"
    assert cells(page, "critical")["scheduled"] == "2"
    low = cells(page, "low")
    assert re.fullmatch(r"\d+(\.\d)? (B|KiB)", low["memory"]), low["memory"]
    assert low["latency"].endswith("s")
    assert low | {"latency": "", "memory": ""} == {
        **dict.fromkeys(("active", "scheduled", "retry", "completed", "aggregating"), "0"),
        **{"state": "run", "size": "2", "pending": "1", "archived": "1"},
        **{"latency": "", "memory": ""},
        **{"processed": "0", "failed": "0"},
    }
    search = page.find_element(By.ID, "queue-filter")
    search.send_keys("LO")  # the filter: case-insensitive, in the page, no reload
    assert visible_queues(page) == ["low"]
    search.send_keys(Keys.BACK_SPACE * 2)
    assert visible_queues(page) == ["critical.high", "critical", "default", "low"]
    if os.environ.get("KASYNQ_WEB_SCREENSHOT"):  # refreshes the README's picture
        size = page.get_window_size()
        page.set_window_size(1180, 640)
        page.execute_script("document.activeElement.blur()")
        page.save_screenshot(str(SCREENSHOT))
        page.set_window_size(size["width"], size["height"])


def test_counts_update_live_without_reloading(page: webdriver.Chrome, redis_url: str) -> None:
    seed(redis_url)
    with running_console(redis_url, settings=WebSettings(refresh_seconds=0.2)) as base:
        page.get(base + "/")
        marker = page.find_element(By.TAG_NAME, "html")
        with Client.from_url(redis_url) as client:
            client.enqueue(Task("email:send", b"{}"))
            client.enqueue(Task("email:send", b"{}"), queue="fresh")
        WebDriverWait(page, 5).until(lambda _: cells(page, "default")["pending"] == "4")
        live = page.find_element(By.ID, "live")
        WebDriverWait(page, 5).until(lambda _: live.text.endswith("1 new queues, reload"))
        assert page.find_element(By.TAG_NAME, "html") == marker  # the same page, not reloaded
        assert live.text.startswith("live ")
        with redis.Redis.from_url(redis_url) as conn:  # as a worker finishing 50 tasks would
            conn.incrby(keys.processed_total_key("default"), 50)
        chart = page.find_element(By.ID, "throughput")
        peak = chart.find_element(By.CSS_SELECTOR, ".peak")
        WebDriverWait(page, 5).until(lambda _: float(peak.text.split()[1]) > 1)  # 50 in a gap
        processed = chart.find_element(By.CSS_SELECTOR, 'polyline[data-series="processed/s"]')
        assert len((processed.get_attribute("points") or "").split()) >= 2


def test_running_an_archived_task_from_its_page_makes_it_pending(
    page: webdriver.Chrome, console: str, redis_url: str
) -> None:
    seeded = seed(redis_url)
    archived, script = seeded["archived"], seeded["script"]
    with Client.from_url(redis_url) as client:
        waiting = client.enqueue(Task("notify", b"{}"), queue="low", depends_on=[script]).id
    page.get(f"{console}/task?queue=low&id={waiting}")
    assert "waiting for dependencies" in page.find_element(By.CSS_SELECTOR, "#task").text
    click_and_load(page, page.find_element(By.CSS_SELECTOR, "#dependencies a"))
    assert page.find_element(By.CSS_SELECTOR, "h1").text == f"Task {script}"
    page.get(f"{console}/queue?name=low&state=archived")
    click_and_load(page, page.find_element(By.LINK_TEXT, archived))
    assert page.find_element(By.CSS_SELECTOR, "h1").text == f"Task {archived}"
    click_and_load(page, page.find_element(By.CSS_SELECTOR, 'button[value="run_task"]'))
    assert f"task {archived}: run done" in page.find_element(By.CSS_SELECTOR, ".notice").text
    assert "pending" in page.find_element(By.CSS_SELECTOR, "#task").text
    with Inspector.from_url(redis_url) as inspector:
        assert inspector.get_task_info("low", archived).state is TaskState.PENDING


def test_pausing_a_queue_sets_its_paused_key(
    page: webdriver.Chrome, console: str, redis_url: str
) -> None:
    seed(redis_url)
    page.get(f"{console}/queue?name=default")
    click_and_load(page, page.find_element(By.CSS_SELECTOR, 'button[value="pause"]'))
    assert "queue default: pause done" in page.find_element(By.CSS_SELECTOR, ".notice").text
    assert page.find_element(By.CSS_SELECTOR, 'button[value="resume"]').is_displayed()
    with redis.Redis.from_url(redis_url) as conn:
        assert conn.exists(keys.paused_key("default")) == 1


def test_a_script_payload_renders_as_text(
    page: webdriver.Chrome, console: str, redis_url: str
) -> None:
    script = seed(redis_url)["script"]
    page.get(f"{console}/queue?name=low")
    assert SCRIPT_PAYLOAD in page.find_element(By.CSS_SELECTOR, "#tasks").text
    page.get(f"{console}/task?queue=low&id={script}")
    assert page.find_element(By.CSS_SELECTOR, "#payload-text").text == SCRIPT_PAYLOAD
    assert page.find_elements(By.CSS_SELECTOR, "main b, main script") == []
    assert page.execute_script("return window.kasynqInjected === undefined") is True


def post_form(url: str, fields: dict[str, str]) -> int:
    """The status of a form POST (as a script would send it, no browser)."""
    body = urllib.parse.urlencode(fields).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body), timeout=10) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_read_only_mode_hides_and_refuses_every_change(
    page: webdriver.Chrome, redis_url: str
) -> None:
    ids = seed(redis_url)
    auth = Auth.build()
    with running_console(redis_url, auth, WebSettings(read_only=True)) as base:
        for path in (
            "/",
            "/queue?name=low&state=archived",
            f"/task?queue=low&id={ids['archived']}",
        ):
            page.get(base + path)
            assert "read-only" in page.find_element(By.CSS_SELECTOR, "nav").text
            assert page.find_elements(By.CSS_SELECTOR, "form.action, button[name=button]") == []
        csrf = auth.csrf_token("anonymous")
        changes = [
            {"op": "run_task", "id": ids["archived"]},
            {"op": "delete_task", "id": ids["script"]},
            {"op": "archive_all", "state": "pending"},
            {"op": "delete_all", "state": "archived"},
            {"op": "pause"},
            {"op": "delete_queue"},
        ]
        for change in changes:
            fields = {"csrf": csrf, "queue": "low", "next": "/", **change}
            assert post_form(base + "/action", fields) == 403, change
    with Inspector.from_url(redis_url) as inspector:
        info = inspector.get_queue_info("low")
        assert (info.pending, info.archived, info.paused) == (1, 1, False)


def test_without_the_token_the_console_is_refused(
    page: webdriver.Chrome, redis_url: str, tmp_path: Path
) -> None:
    seed(redis_url)
    with running_console(redis_url, Auth.build(token="s3cret-token")) as base:
        page.get(base + "/")
        assert page.title == "Sign in · kasynq"
        assert page.find_elements(By.CSS_SELECTOR, "#queues") == []
        for path in ("/", "/queue?name=low", "/events", "/servers"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(base + path, timeout=10)
            assert refused.value.code == 401, path
        page.find_element(By.NAME, "token").send_keys("wrong")
        click_and_load(page, page.find_element(By.CSS_SELECTOR, "form button"))
        assert "Wrong token." in page.find_element(By.CSS_SELECTOR, ".notice").text
        page.find_element(By.NAME, "token").send_keys("s3cret-token")
        click_and_load(page, page.find_element(By.CSS_SELECTOR, "form button"))
        assert page.title == "Queues · kasynq"
        assert cells(page, "default")["pending"] == "3"
