"""The web console in a real browser (Debian's headless Chromium, driven by Playwright) against a
served mesh full of demo-fleet data: what a person sees on each page, checked against the SDK's
own answers, with a screenshot of each page under the test's tmp dir."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from polytraders.clients.cli.common import money
from polytraders.governance.v1 import lifecycle_pb2 as lpb
from polytraders.reports.v1 import reports_pb2 as rpb
from polytraders.sdk import ReportBuilder
from polytraders.sdk.clock import to_timestamp
from tests.conftest import REPO
from tests.sdk.test_execution_path import BOOKS
from tests.servers.lifecycle.test_backtest import STRATEGY
from tests.support.demo_mesh import DemoMesh, demo_mesh

CLI = str(Path(sys.executable).parent / "polytraders-gov")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
README_SCREENSHOT = REPO / "docs" / "console-fleet.png"

if not Path(CHROMIUM).exists() and os.environ.get("CI") != "true":  # .ci/run installs it: under CI nothing skips
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoMesh]:
    # the backtest's strategy must be importable where governance runs: from the repository's tests package
    settings = {"PYTHONPATH": str(REPO), "POLYTRADERS_STRATEGY_PACKAGES": "tests"}
    with demo_mesh(tmp_path_factory.mktemp("demo"), env=settings) as mesh:
        yield mesh


@pytest.fixture(scope="module")
def backtest_id(demo: DemoMesh) -> str:
    """A backtest run over archived books, for the backtests page and its report link."""
    operator = demo.fleet.operator
    feed = ReportBuilder("clob-book-feed-1", bot_class="data")
    operator.reports.publish_now([feed.observation(
        produced_at=b.at, condition_id=b.condition_id, token_id=b.token_id, source="clob.book",
        bids=[rpb.BookLevel(price=str(p), size_micros=q) for p, q in b.bids],
        asks=[rpb.BookLevel(price=str(p), size_micros=q) for p, q in b.asks]) for b in BOOKS])  # fmt: skip
    request = lpb.StartBacktestRequest(strategy=STRATEGY, parameters_json="{}", token_ids=[BOOKS[0].token_id],
                                       window_start=to_timestamp(BOOKS[0].at),
                                       window_end=to_timestamp(BOOKS[0].at + timedelta(days=1)))  # fmt: skip
    return operator.backtests.run(request, timeout=120).backtest_id


@pytest.fixture(scope="module")
def console(demo: DemoMesh) -> Iterator[str]:
    """`polytraders-gov console` in its own process; live pages refresh twice a second."""
    process = subprocess.Popen([CLI, "console", "--port", "0", "--target", demo.address, "--refresh-seconds", "0.5"],
                               stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert process.stdout is not None
    found = re.search(r"(http://\S+)", process.stdout.readline())
    try:
        assert found, "the console did not start"
        yield found.group(1)
    finally:
        process.terminate()
        process.wait(30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def sign_in(browser: Browser, console: str, token: str) -> Page:
    page = browser.new_context(viewport={"width": 1360, "height": 900}).new_page()
    page.goto(f"{console}/fleet")
    page.fill("#token", token)
    page.click("#sign-in")
    return page


@pytest.fixture
def auditor(browser: Browser, console: str) -> Iterator[Page]:
    page = sign_in(browser, console, "dev-auditor-token")
    expect(page).to_have_url(re.compile(r"/fleet$"))
    yield page
    page.context.close()


@pytest.mark.parametrize(("token", "refusal"), [
    ("dev-bot-token", "needs an auditor or operator token"),
    ("not-a-token", "the mesh refused the token"),
    ("", "the mesh refused the token"),
])  # fmt: skip
def test_sign_in_refuses_bot_and_unknown_tokens(browser: Browser, console: str, token: str, refusal: str) -> None:
    page = sign_in(browser, console, token)
    expect(page.locator("#failure")).to_contain_text(refusal)
    page.goto(f"{console}/pnl")  # still signed out: back to the form
    expect(page).to_have_url(re.compile(r"/login\?next=/pnl$"))
    page.context.close()


def test_fleet_page_shows_every_bot_by_layer_and_the_quiet_one_paged(
    auditor: Page, demo: DemoMesh, tmp_path: Path
) -> None:
    bots = demo.fleet.operator.fleet.health().bots

    expect(auditor.locator(".bot")).to_have_count(len(bots))
    for layer in ("signal", "risk", "execution", "data"):
        expect(auditor.locator(f'section[data-layer="{layer}"] .bot')).to_have_count(
            sum(b.layer == layer for b in bots)
        )
    quiet = auditor.locator(f'.bot[data-bot="{demo.quiet_bot}"]')
    expect(quiet).to_have_attribute("data-state", "unreachable")
    expect(quiet).to_contain_text("paged")
    expect(auditor.locator("#fleet-summary")).to_contain_text(f"{len(bots) - 1} serving")
    auditor.screenshot(path=tmp_path / "fleet.png", full_page=True)
    if os.environ.get("POLYTRADERS_UPDATE_SCREENSHOTS") == "1":  # the README's picture
        README_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(tmp_path / "fleet.png", README_SCREENSHOT)


def test_pnl_page_totals_and_rows_match_get_pnl_to_the_micro_unit(auditor: Page, demo: DemoMesh, tmp_path: Path) -> None:
    since = datetime.now(UTC) - timedelta(hours=1)  # every demo fill is minutes old: both windows hold them all
    total = demo.fleet.operator.pnl.get(since=since).total
    by_bot = demo.fleet.operator.pnl.get(["bot"], since=since).rows

    auditor.goto(auditor.url.replace("/fleet", "/pnl?window=1h"))

    for element, micros in (("#total-pnl", total.total_pnl_micros), ("#net-pnl", total.net_pnl_micros),
                            ("#realised-pnl", total.realised_pnl_micros), ("#unrealised-pnl", total.unrealised_pnl_micros),
                            ("#fees", total.gross_fee_micros), ("#rebates", total.rebate_micros)):  # fmt: skip
        expect(auditor.locator(element)).to_have_text(money(micros))
    expect(auditor.locator("#fills")).to_have_text(str(demo.fleet.fills))
    for row in by_bot:
        cells = auditor.locator(f'#pnl-by-bot tr[data-bot="{row.bot_slug}"] td')
        expect(cells.nth(1)).to_have_text(str(row.fills))
        expect(cells.nth(8)).to_have_text(money(row.total_pnl_micros))
    expect(auditor.locator("svg.chart rect.bar")).to_have_count(12)
    auditor.screenshot(path=tmp_path / "pnl.png", full_page=True)


def test_slos_page_shows_each_objective_with_its_budget_and_burn(auditor: Page, demo: DemoMesh, tmp_path: Path) -> None:
    slos = demo.fleet.operator.slos.list()
    auditor.goto(auditor.url.replace("/fleet", "/slos"))

    expect(auditor.locator("#slos tbody tr")).to_have_count(len(slos))
    for slo in slos:
        row = auditor.locator(f'#slos tr[data-slo="{slo.name}"]')
        expect(row.locator(".budget")).to_have_text(slo.error_budget_remaining)
        expect(row.locator("svg.meter")).to_have_count(1 + len(slo.alerts))
    auditor.screenshot(path=tmp_path / "slos.png", full_page=True)


def test_incidents_page_lists_open_ones_first_and_shows_a_new_one_without_a_reload(
    auditor: Page, demo: DemoMesh, tmp_path: Path
) -> None:
    auditor.goto(auditor.url.replace("/fleet", "/incidents"))
    expect(auditor.locator("#incidents tbody tr").first).to_contain_text("stopped answering heartbeats")
    auditor.evaluate("window.loadedOnce = true")

    declared = demo.fleet.operator.incidents.declare("console: fills lagging", "SEV2", "seen in the P&L page")

    row = auditor.locator(f'#incidents tr[data-incident="{declared.incident_id}"]')
    expect(row).to_contain_text("SEV2")
    assert auditor.evaluate("window.loadedOnce") is True  # the same page, refreshed in place
    expect(auditor.locator("#incidents tbody tr").first).to_have_attribute("data-incident", declared.incident_id)
    auditor.screenshot(path=tmp_path / "incidents.png", full_page=True)
    row.locator("a").click()
    expect(auditor.locator("#timeline")).to_contain_text("declared")
    auditor.screenshot(path=tmp_path / "incident.png", full_page=True)


def test_registry_page_shows_each_strategy_in_its_stage_with_its_history(
    auditor: Page, demo: DemoMesh, tmp_path: Path
) -> None:
    strategies = demo.fleet.operator.registry.list()
    auditor.goto(auditor.url.replace("/fleet", "/registry"))

    column = auditor.locator('.stage[data-stage="backtest"] .card')
    expect(column).to_have_count(sum(s.stage == lpb.STAGE_BACKTEST for s in strategies))
    expect(auditor.locator("#strategies tbody tr")).to_have_count(len(strategies))
    auditor.screenshot(path=tmp_path / "registry.png", full_page=True)
    column.first.click()
    expect(auditor.locator("#history tbody tr")).to_have_count(2)  # registered, then promoted to backtest
    expect(auditor.locator("#history")).to_contain_text("demo: backtest queued")


def test_quarantine_and_backtests_pages_show_their_records_and_link_the_report(
    auditor: Page, demo: DemoMesh, backtest_id: str, tmp_path: Path
) -> None:
    auditor.goto(auditor.url.replace("/fleet", "/quarantine"))
    expect(auditor.locator("h1")).to_contain_text(f"{len(demo.fleet.operator.attribution.quarantine())} held")
    auditor.screenshot(path=tmp_path / "quarantine.png", full_page=True)

    auditor.goto(auditor.url.replace("/quarantine", "/backtests"))
    row = auditor.locator("#backtests tbody tr", has_text=backtest_id)
    expect(row).to_have_count(1)
    auditor.screenshot(path=tmp_path / "backtests.png", full_page=True)
    row.locator("a").click()
    expect(auditor.locator("body")).to_contain_text(backtest_id)
