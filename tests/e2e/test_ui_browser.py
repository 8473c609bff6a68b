"""The status page in a real browser: Debian's chromium, driven by Playwright.

Skipped with a reason where chromium or the playwright package is missing, except in CI
(CI=true), where that is a failure. Screenshots of every page go to test-artifacts/ui/.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from relay.deployment import DeploymentStatus
from relay.simulator import SIM_OPS
from relay.store.sqlite import SQLiteStore
from tests.factories import ADMIN_HEADERS, ADMIN_TOKEN
from tests.harness import Harness

CHROMIUM = os.environ.get("RELAY_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
IN_CI = os.environ.get("CI", "").lower() in ("true", "1")
pytestmark = pytest.mark.slow


def _missing() -> str | None:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        return f"no chromium at {CHROMIUM} (Debian: apt-get install chromium)"
    return None


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    reason = _missing()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"CI=true, and {reason}")
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield launched
        finally:
            await launched.close()


class Gate:
    """The simulator's clock: its rollout steps wait until the test opens the gate."""

    def __init__(self) -> None:
        self.open = asyncio.Event()

    async def sleep(self, _seconds: float) -> None:
        await self.open.wait()
        await asyncio.sleep(0.05)


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    """Set up before the harness, so that it is closed after relay has stopped."""
    store = await SQLiteStore.open(tmp_path / "ui.db")
    yield store
    await store.close()


async def test_status_page_in_chromium(
        sqlite_store: SQLiteStore, harness: Callable[..., Awaitable[Harness]],
        browser: Any) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await _walk_through(harness, browser, sqlite_store)
    print(f"\nstatus page screenshots: {ARTIFACTS}")


async def _walk_through(harness: Callable[..., Awaitable[Harness]], browser: Any,
                        store: SQLiteStore) -> None:
    from playwright.async_api import expect

    h = await harness(store=store, step_s=0.05)
    gate = Gate()
    h.sim.app[SIM_OPS].sleep = gate.sleep
    base = str(h.client.make_url("")).rstrip("/")
    [dep_id] = await h.push("acme/shop", "refs/heads/main")
    [other_id] = await h.push("acme/api", "refs/heads/main")
    await h.wait_status(dep_id, DeploymentStatus.ROLLING_OUT)
    await h.wait_status(other_id, DeploymentStatus.ROLLING_OUT)

    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    # Sign in: /ui/ sends an unsigned visitor to the form, and back after.
    await page.goto(base + "/")
    await expect(page.get_by_label("Admin token")).to_be_visible()
    await page.screenshot(path=str(ARTIFACTS / "sign-in.png"), full_page=True)
    await page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Deployments")).to_be_visible()

    # Cancel the other one, still rolling out, from its page (reason + confirmation).
    await page.goto(f"{base}/ui/deployments/{other_id}")
    await page.get_by_label("Reason").fill("wrong branch")
    await page.get_by_label(f"I want to cancel deployment #{other_id}").check()
    await page.get_by_role("button", name="Cancel deployment").click()
    await expect(page.locator("#live")).to_contain_text("canceled")
    await expect(page.locator("#live")).to_contain_text("wrong branch")

    # The deployment goes from rolling_out to succeeded without a reload.
    await page.get_by_role("link", name="Deployments").click()
    row = page.locator(f"#dep-{dep_id}")
    await expect(row).to_have_attribute("data-status", "rolling_out")
    await page.evaluate("window.relayMarker = 'no reload'")
    gate.open.set()
    await expect(row).to_have_attribute("data-status", "succeeded", timeout=20000)
    assert await page.evaluate("window.relayMarker") == "no reload"
    # A new push shows up on top of the unfiltered first page, still without a reload.
    [third_id] = await h.push("acme/shop", "refs/heads/main", after="c" * 40)
    await expect(page.locator("#deployments tbody tr").first).to_have_attribute(
        "id", f"dep-{third_id}", timeout=20000)
    await expect(page.locator(f"#dep-{third_id}")).to_have_attribute(
        "data-status", "succeeded", timeout=20000)
    assert await page.evaluate("window.relayMarker") == "no reload"
    await expect(row.get_by_text("succeeded")).to_be_visible()
    await page.screenshot(path=str(ARTIFACTS / "deployments.png"), full_page=True)

    # Filter: by status and by cluster.
    await page.get_by_label("Status").select_option("succeeded")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.locator(f"#dep-{dep_id}")).to_be_visible()
    await page.get_by_label("Cluster").select_option("10703")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.get_by_text("No deployments match this filter")).to_be_visible()
    assert "cluster=10703" in page.url and "status=succeeded" in page.url

    # Open the deployment.
    await page.goto(base + "/ui/")
    await page.get_by_role("link", name=f"#{dep_id}", exact=True).click()
    await expect(page.get_by_role("heading", name=f"Deployment {dep_id}")).to_be_visible()
    await expect(page.locator("#live")).to_contain_text("succeeded")
    dep = await store.get_deployment(dep_id)
    assert dep is not None
    await expect(page.get_by_role("link", name="on the host")).to_have_attribute(
        "href", f"https://github.com/acme/shop/commit/{dep.version}")
    await page.screenshot(path=str(ARTIFACTS / "deployment.png"), full_page=True)

    await page.get_by_role("link", name="Clusters").click()
    await expect(page.get_by_role("heading", name="Clusters")).to_be_visible()
    await page.screenshot(path=str(ARTIFACTS / "clusters.png"), full_page=True)

    # Pause and resume a cluster (confirmation + reason), on the holds page.
    await page.get_by_role("link", name="Holds").click()
    card = page.get_by_role("region", name="Cluster 10702")
    pause_form = card.locator("form[action$='/pause']")
    await pause_form.get_by_label("Reason").fill("release freeze")
    await pause_form.get_by_label("Pause cluster 10702").check()
    await pause_form.get_by_role("button", name="Pause").click()
    await expect(page.get_by_text("cluster 10702: release freeze")).to_be_visible()
    [pause] = await store.pauses()  # the real pause, as `relay pause` stores it
    assert (pause.cluster, pause.reason, pause.until) == (10702, "release freeze", None)
    holds = await (await h.client.get("/api/holds", headers=ADMIN_HEADERS)).json()
    assert [(x["cluster"], x["kind"], x["reason"]) for x in holds["active"]] == [
        (10702, "pause", "release freeze")]  # what `relay holds` prints
    await page.screenshot(path=str(ARTIFACTS / "holds.png"), full_page=True)
    resume_form = page.get_by_role("region", name="Cluster 10702").locator(
        "form[action$='/resume']")
    await resume_form.get_by_label("Resume cluster 10702").check()
    await resume_form.get_by_role("button", name="Resume").click()
    await expect(page.get_by_text("No cluster is held.")).to_be_visible()
    assert await store.pauses() == ()
    holds = await (await h.client.get("/api/holds", headers=ADMIN_HEADERS)).json()
    assert holds["active"] == []

    # Readable on a phone.
    phone = await browser.new_context(viewport={"width": 390, "height": 844},
                                      storage_state=await context.storage_state())
    small = await phone.new_page()
    await small.goto(base + "/ui/")
    await expect(small.locator(f"#dep-{dep_id}")).to_be_visible()
    width = await small.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390 px phone"
    await small.screenshot(path=str(ARTIFACTS / "deployments-phone.png"), full_page=True)
    await page.goto(base + "/ui/")
    await page.screenshot(path=str(ARTIFACTS / "deployments-all.png"), full_page=True)
    await phone.close()

    # With JavaScript off: sign in, list, open a deployment (no live updates).
    plain = await browser.new_context(java_script_enabled=False)
    nojs = await plain.new_page()
    await nojs.goto(base + "/ui/")
    await nojs.get_by_label("Admin token").fill(ADMIN_TOKEN)
    await nojs.get_by_role("button", name="Sign in").click()
    await nojs.get_by_role("link", name=f"#{dep_id}", exact=True).click()
    await expect(nojs.locator("#live")).to_contain_text("succeeded")
    await plain.close()

    # Sign out: the pages want the sign-in form again.
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_label("Admin token")).to_be_visible()
    await page.goto(base + "/ui/clusters")
    await expect(page.get_by_label("Admin token")).to_be_visible()
    assert not [e for e in errors if "Content Security Policy" in e], errors
    await context.close()
