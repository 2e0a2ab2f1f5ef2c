"""The built site in a real browser: Debian's headless Chromium driven by Selenium through
/usr/bin/chromedriver (no browser downloads), the site served from 127.0.0.1 and from
file://. Screenshots go to test-artifacts/ (CI keeps them)."""
from __future__ import annotations

import functools
import http.server
import shutil
import tempfile
import threading
from pathlib import Path

import pytest

from condensebench import tracking
from condensebench.leaderboard import build
from tests.tracking_fixtures import copy_store, demo_results, template_db  # noqa: F401

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1300,1000"]


def _missing() -> str | None:
    if not Path(CHROMIUM).is_file():
        return "Debian's chromium is not installed (apt-get install chromium chromium-driver; CI: .ci/services.sh)"
    if not Path(CHROMEDRIVER).is_file():
        return "chromedriver is not installed (apt-get install chromium-driver; CI: .ci/services.sh)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="module")
def browser():
    reason = _missing()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="cb-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in FLAGS + [f"--user-data-dir={profile}"]:
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def site(template_db, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("browser-store")
    uri = copy_store(template_db, root)
    tracker = tracking.Tracker(uri)
    for result in demo_results():
        tracker.log_evaluation(result)
    out = root / "site"
    build(out, uri=uri)
    return out


@pytest.fixture(scope="module")
def server(site):
    """The site on a local static HTTP server (127.0.0.1, free port)."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def shot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1300, min(max(height, 800), 6000))
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000
    return path


def js_errors(driver) -> list:
    try:
        return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    except Exception:  # noqa: BLE001 - not every driver exposes logs
        return []


def column(driver, table_id: str, index: int) -> list[str]:
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr")
    return [r.find_elements(By.TAG_NAME, "td")[index].text for r in rows if r.is_displayed()]


def test_index_tables_links_and_plots(browser, server):
    from selenium.webdriver.common.by import By

    browser.get(f"{server}/index.html")
    assert browser.title.startswith("Leaderboard")
    rows = browser.find_elements(By.CSS_SELECTOR, "#groups tbody tr")
    assert len(rows) == 4
    svgs = browser.find_elements(By.CSS_SELECTOR, "figure.plot svg")
    assert svgs and all(s.size["width"] > 300 and s.size["height"] > 200 for s in svgs)
    assert browser.find_elements(By.CSS_SELECTOR, "svg .series path")  # lines were drawn
    shot(browser, "leaderboard-index.png")
    assert not js_errors(browser)

    browser.find_element(By.LINK_TEXT, "digits-hard@v1").click()  # first table: IPC 1
    assert "/tables/" in browser.current_url
    assert browser.find_element(By.CSS_SELECTOR, "#entries tbody tr")
    assert not js_errors(browser)


def test_group_table_sorts_and_filters(browser, server):
    from selenium.webdriver.common.by import By

    browser.get(f"{server}/tables/digits-ipc10-hard-digits-hard-v1.html")
    ranks = column(browser, "entries", 0)
    assert ranks == ["1", "2", "3", "4", "5"]
    acc_header = browser.find_element(By.XPATH, "//table[@id='entries']//th[contains(., 'Top-1')]")
    acc_header.click()  # ascending
    means = [float(t.split()[0]) for t in column(browser, "entries", 3)]
    assert means == sorted(means) and column(browser, "entries", 0)[0] == "5"
    assert acc_header.get_attribute("aria-sort") == "ascending"
    acc_header.click()  # descending
    means = [float(t.split()[0]) for t in column(browser, "entries", 3)]
    assert means == sorted(means, reverse=True)
    browser.find_element(By.XPATH, "//table[@id='entries']//th[contains(., 'Method')]").click()
    methods = column(browser, "entries", 1)
    assert [m.lower() for m in methods] == sorted(m.lower() for m in methods)

    box = browser.find_element(By.CSS_SELECTOR, ".filters .filter-text")
    assert box.is_displayed()  # the script revealed the filters
    box.send_keys("herding")
    assert len(column(browser, "entries", 1)) == 1
    box.clear()
    box.send_keys(" ")  # an input event with an empty query shows everything again
    browser.find_element(By.CSS_SELECTOR, ".filter-kind[value='coreset']").click()
    kinds = column(browser, "entries", 2)
    assert kinds and all(k.lower() != "coreset" for k in kinds)

    svgs = browser.find_elements(By.CSS_SELECTOR, "figure.plot svg")
    assert len(svgs) == 2 and browser.find_elements(By.CSS_SELECTOR, "svg.chart-cost .ring")
    note = browser.find_element(By.ID, "baseline-note").text
    assert "random baseline random-ipc10" in note
    browser.find_element(By.CSS_SELECTOR, ".filter-kind[value='coreset']").click()
    browser.find_element(By.CSS_SELECTOR, ".filters .filter-text").clear()
    shot(browser, "leaderboard-table.png")
    assert not js_errors(browser)

    link = browser.find_element(By.XPATH, "//table[@id='entries']//a[contains(., 'DM')]")
    link.click()
    assert "/entries/" in browser.current_url
    assert len(browser.find_elements(By.CSS_SELECTOR, ".curves svg")) == 2
    assert "git checkout" in browser.find_element(By.CSS_SELECTOR, "pre.commands").text
    shot(browser, "leaderboard-entry.png")


def test_missing_baseline_and_escaping_render_as_text(browser, server):
    from selenium.webdriver.common.by import By

    browser.get(f"{server}/tables/digits-ipc5-hard-digits-hard-v1.html")
    assert "No random baseline" in browser.find_element(By.ID, "baseline-note").text
    browser.get(f"{server}/tables/digits-ipc10-hard-digits-hard-v1.html")
    assert "<script>alert(1)</script>" in browser.find_element(By.ID, "entries").text  # shown, not run
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert  # noqa: B018 - alert(1) never ran


def test_works_from_file_urls(browser, site):
    from selenium.webdriver.common.by import By

    browser.get((site / "tables" / "digits-ipc10-hard-digits-hard-v1.html").as_uri())
    header = browser.find_element(By.XPATH, "//table[@id='entries']//th[contains(., 'Top-1')]")
    header.click()
    means = [float(t.split()[0]) for t in column(browser, "entries", 3)]
    assert means == sorted(means)
    css = browser.execute_script(
        "return getComputedStyle(document.querySelector('.kind-distilled')).backgroundColor")
    assert css not in ("", "rgba(0, 0, 0, 0)")  # the stylesheet loaded from a relative file path
