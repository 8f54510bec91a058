"""`kasynq web --kube` in Chromium: the pools page shows a scale-up the operator made.

The operator runs against the real control plane (tests/operator's fixtures), the console
reads the same API through a PoolReader restricted to the test's namespace.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kasynq.web.app import WebSettings
from kasynq.web.kube import PoolReader
from kubernetes import config
from selenium import webdriver
from selenium.webdriver.common.by import By

from devenv.redis_servers import RedisServer
from devenv.webconsole import running_console
from tests.fixtures.kube import Kube, wait_for
from tests.operator.test_operator import (  # noqa: F401 (fixtures)
    Env,
    burst_pool,
    env,
    push_pending,
    run_operator,
)

REFRESH_SECONDS = 0.5


@pytest.fixture
def reader(kube: Kube, namespace: str) -> Iterator[PoolReader]:
    api_client = config.new_client_from_config(config_file=str(kube.kubeconfig))
    pools = PoolReader(api_client, [namespace], REFRESH_SECONDS)
    yield pools
    pools.close()


def pool_text(page: webdriver.Chrome, base: str, namespace: str) -> str:
    page.get(f"{base}/pools?namespace={namespace}")
    return str(page.find_element(By.CSS_SELECTOR, f'section[data-pool="{namespace}/burst"]').text)


@pytest.mark.requires_kube
def test_pools_page_shows_the_operators_scale_up_with_reasons_and_events(
    browser: webdriver.Chrome,
    env: Env,  # noqa: F811
    redis_url: str,
    redis_server: RedisServer,
    run_operator: Any,  # noqa: F811
    reader: PoolReader,
) -> None:
    burst_pool(env, redis_server)
    settings = WebSettings(refresh_seconds=REFRESH_SECONDS)
    with run_operator(), running_console(redis_url, settings=settings, pools=reader) as base:
        wait_for(lambda: env.replicas("burst") == 1, "the Deployment at min size")
        wait_for(
            lambda: "1 replicas" in pool_text(browser, base, env.namespace), "the page at min size"
        )
        push_pending(redis_server, env.redis_name("jobs"), 1000)
        wait_for(lambda: env.replicas("burst") == 50, "1000 tasks / 20 per replica = 50", 10)
        wait_for(
            lambda: "ScaledUp" in pool_text(browser, base, env.namespace),
            "the ScaledUp Event shown",
        )
        text = pool_text(browser, base, env.namespace)
        decision = env.get("asynqworkerpools", "burst")["status"]["lastDecision"]
        assert "50 replicas" in text and "min 1 max 100" in text
        shown = browser.find_element(By.CSS_SELECTOR, ".decision").text
        assert f"1 → 50 (recommended {decision['recommendedReplicas']}): {decision['reason']}" in (
            shown
        )
        inputs = browser.find_element(By.CSS_SELECTOR, "table.inputs").text
        assert "backlog 1000" in inputs
        events = browser.find_element(By.CSS_SELECTOR, "table.events").text
        assert "ScaledUp" in events and "1 -> 50" in events
        queue_row = browser.find_element(By.CSS_SELECTOR, "table.pool-queues tbody tr").text
        assert queue_row.startswith("jobs 1 1000 0")
        chart = browser.find_element(By.CSS_SELECTOR, "svg.chart")
        assert chart.get_attribute("aria-label") == "replicas and desired, peak 50"
        line = chart.find_element(By.CSS_SELECTOR, 'polyline[data-series="replicas"]')
        heights = {point.split(",")[1] for point in (line.get_attribute("points") or "").split()}
        assert len(heights) >= 2, "the replicas line rises from 1 to 50"
        others = browser.find_elements(By.CSS_SELECTOR, "section.pool")
        assert len(others) == 1  # the namespace filter
