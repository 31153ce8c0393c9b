"""The outage explorer: its data equal the Parquet results and the traces; the page is
one self-contained file; in a real headless browser (Debian's chromium, driven by
selenium) it loads with no script error, its controls move the state, and the numbers
it shows equal ``methods.parquet`` and the traces.  CI installs chromium and its driver
(.ci/run); elsewhere the browser test is skipped when they are missing, in CI it fails."""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dasdlab.bench.explorer import decode_trace, encode_trace, explorer_data, write_explorer
from dasdlab.bench.results import read_methods
from dasdlab.bench.scenario import ScenarioSpec, run_scenario
from dasdlab.bench.trace import load_trace
from dasdlab.cli.main import run

SPEC = dict(db_size="2MiB", modeled_size="16GiB", rate=100_000.0, warmup=30.0, cooldown=5.0, duration=110.0,
            seed=3, methods="standard,cic,dump-cc,copy-flashcopy")
CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FIELDS = ("outage_modeled_s", "logical_s", "physical_s", "delayed", "cow_count", "sidefile_hwm_tracks",
          "recovery_modeled_s")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("explore") / "res"
    run_scenario(ScenarioSpec(**SPEC), out)
    return out


@pytest.fixture(scope="module")
def failed_results(results, tmp_path_factory):
    """The same results with dump-cc marked failed, as a cancelled session leaves it."""
    out = tmp_path_factory.mktemp("explore-failed") / "res"
    shutil.copytree(results, out)
    t = pq.read_table(out / "methods.parquet")
    rows = t.to_pylist()
    for r in rows:
        if r["name"] == "dump-cc":
            r["status"], r["message"] = "failed", "DLB363E Concurrent Copy session CC0001 was cancelled"
    pq.write_table(pa.Table.from_pylist(rows, schema=t.schema), out / "methods.parquet")
    return out


def same(a, b) -> bool:
    if a is None or b is None or (isinstance(b, float) and math.isnan(b)):
        return (a is None) and (b is None or math.isnan(b))
    return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=1e-12)


def test_trace_encoding_is_exact():
    rng = np.random.default_rng(1)
    codes = np.zeros((200, 37), np.uint8)
    for i in range(1, 200):
        codes[i] = codes[i - 1]
        hit = rng.choice(37, 3)
        codes[i, hit] = rng.integers(0, 6, 3)
    enc = encode_trace(np.arange(200) * 0.1, codes)
    assert np.array_equal(decode_trace(enc), codes)
    assert len(enc["at"]) == int((codes[1:] != codes[:-1]).sum())


def test_data_equal_the_results(results):
    data = explorer_data(results)
    rows = {r["name"]: r for r in read_methods(results).to_pylist()}
    assert [m["name"] for m in data["methods"]] == list(rows)
    for m in data["methods"]:
        for f in FIELDS:
            assert same(m["figures"][f], rows[m["name"]][f]), (m["name"], f)
        times, codes, _ = load_trace(results, m["name"])
        assert np.array_equal(decode_trace(m["trace"]), codes)
        assert m["phases"]["logical"] == rows[m["name"]]["logical_s"]
        assert m["checkpoints"] == rows[m["name"]]["checkpoints_s"] and "checkpoints_s" not in m["figures"]


def test_checkpoints_are_recorded_per_method(results):
    t = read_methods(results)
    assert t.schema.field("checkpoints_s").type == pa.list_(pa.float64())
    # the figures' columns are still there, scalar, beside the new list
    for f in FIELDS + ("phase_logical_s", "phase_hold_start_s", "name", "status"):
        assert not pa.types.is_list(t.schema.field(f).type), f
    spec = ScenarioSpec(**SPEC)
    for r in t.to_pylist():
        ck = r["checkpoints_s"]
        # IMS start takes one at -warm-up; at 100,000 updates a modeled second and CPLOG
        # 500,000 records, one every few modeled seconds follows during the run
        assert len(ck) >= 5, (r["name"], ck)
        assert ck == sorted(ck) and len(set(ck)) == len(ck)
        assert math.isclose(ck[0], -spec.warmup, abs_tol=1.0), (r["name"], ck[0])
        assert ck[-1] <= r["phase_end_s"] + 1e-9
        # by log volume: none while a hold keeps the updates (and their log records) waiting
        if not math.isnan(r["phase_hold_start_s"]) and r["phase_hold_end_s"] - r["phase_hold_start_s"] > 10:
            assert not [v for v in ck if r["phase_hold_start_s"] + 1.0 < v < r["phase_hold_end_s"] - 1.0], r["name"]


def test_page_is_self_contained_and_written_whole(results, tmp_path):
    p = write_explorer(results, tmp_path / "x.html")
    page = p.read_text()
    assert "http://" not in page and "https://" not in page and "<script src" not in page and "<link" not in page
    assert "/*DASDLAB-EXPLORER-DATA*/" not in page
    assert not list(tmp_path.glob(".x.html.*"))


def test_cli_explore_and_bad_output(results, tmp_path, capsys):
    assert run(["bench", "explore", "--results", str(results), "--out", str(tmp_path / "e.html")]) == 0
    assert "DLB850I" in capsys.readouterr().out and (tmp_path / "e.html").stat().st_size > 10_000
    assert run(["bench", "explore", "--results", str(results), "--out", str(tmp_path / "e.png")]) == 8
    assert "DLB850E" in capsys.readouterr().err and not (tmp_path / "e.png").exists()
    assert run(["bench", "explore", "--results", str(tmp_path / "none")]) == 8
    assert "DLB727E" in capsys.readouterr().err


# ---------------------------------------------------------------------- the browser
@pytest.fixture(scope="module")
def browser():
    missing = [p for p in (CHROMIUM, DRIVER) if not Path(p).exists()]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("the selenium package (pip install -e '.[test]')")
    if missing:
        msg = f"the browser test needs {', '.join(missing)} (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(msg + "; CI must run it.")
        pytest.skip(msg)
    opts = Options()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000",
              "--allow-file-access-from-files"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(DRIVER), options=opts)
    yield d
    d.quit()


def open_page(browser, path: Path):
    browser.get(path.resolve().as_uri())
    for _ in range(100):
        if browser.execute_script("return document.body.dataset.ready") == "1":
            break
        time.sleep(0.05)
    errors = browser.execute_script("return window.__errors")
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [] and severe == [], (errors, severe)


def js(browser, code: str, *args):
    return browser.execute_script(code, *args)


def select_method(browser, value: str) -> None:
    js(browser, "const s = document.getElementById('method'); s.value = arguments[0];"
                "s.dispatchEvent(new Event('change'));", value)


def scrub(browser, step: int) -> None:
    js(browser, "const r = document.getElementById('scrub'); r.value = String(arguments[0]);"
                "r.dispatchEvent(new Event('input'));", step)


def test_page_in_a_real_browser(browser, results):
    page = write_explorer(results)
    open_page(browser, page)
    rows = read_methods(results).to_pylist()
    for i, r in enumerate(rows):
        select_method(browser, str(i))
        for f in FIELDS:
            cell = browser.find_element("css selector", f"#figures td[data-field='{f}']")
            assert same(json.loads(cell.get_attribute("data-value")), r[f]), (r["name"], f)
        times, codes, _ = load_trace(results, r["name"])
        # scrub to the end: the counts shown equal the trace's last sample
        scrub(browser, 1000)
        shown = {int(td.get_attribute("data-code")): int(td.text)
                 for td in browser.find_elements("css selector", "#counts td[data-code]")}
        want = np.bincount(codes[-1], minlength=6)
        assert all(shown[c] == int(want[c]) for c in range(6)), (r["name"], shown, want)
        assert browser.find_element("id", "phase").get_attribute("data-phase") == "physical"
        # the IMS checkpoints are markers on the time line and buttons, equal to the results
        tmin, tmax = js(browser, "return [explorer.tOf(0), explorer.tOf(explorer.STEPS)]")
        want_ck = [v for v in r["checkpoints_s"] if tmin <= v <= tmax]
        assert len(want_ck) >= 5, (r["name"], r["checkpoints_s"])
        drawn = json.loads(browser.find_element("id", "timeline").get_attribute("data-checkpoints"))
        assert drawn == want_ck, (r["name"], drawn, want_ck)
        ck_buttons = browser.find_elements("css selector", "#events button[data-kind='checkpoint']")
        assert [float(b.get_attribute("data-t")) for b in ck_buttons] == want_ck
        assert all(b.text.startswith("checkpoint @ ") for b in ck_buttons)
        # jump to each event: the clock lands on it and the phase follows
        buttons = browser.find_elements("css selector", "#events button")
        labels = [b.text for b in buttons]
        assert any(x.startswith("logical completion") for x in labels), labels
        for b in buttons:
            t_ev = float(b.get_attribute("data-t"))
            b.click()
            t_now = float(browser.find_element("id", "clock").get_attribute("data-t"))
            assert t_ev <= t_now < t_ev + 0.2, (r["name"], b.text, t_now)
            s = int(browser.find_element("id", "map").get_attribute("data-sample"))
            assert times[s] <= t_now and (s + 1 == times.size or times[s + 1] > t_now)
            if b.text.startswith("hold"):
                assert browser.find_element("id", "phase").get_attribute("data-phase") == "hold"
    # standard holds the database, cic never does
    select_method(browser, str([r["name"] for r in rows].index("cic")))
    scrub(browser, int(js(browser, "return Math.ceil(-explorer.tOf(0) / (explorer.tOf(1000) - explorer.tOf(0))"
                                   " * 1000) + 2")))
    assert browser.find_element("id", "phase").get_attribute("data-phase") == "fuzzy"
    # play moves time forward, pause stops it
    scrub(browser, 0)
    t0 = float(browser.find_element("id", "clock").get_attribute("data-t"))
    browser.find_element("id", "play").click()
    time.sleep(0.6)
    browser.find_element("id", "play").click()
    t1 = float(browser.find_element("id", "clock").get_attribute("data-t"))
    time.sleep(0.3)
    assert t1 > t0 and float(browser.find_element("id", "clock").get_attribute("data-t")) == t1
    # every method side by side, at one time
    select_method(browser, "all")
    cards = browser.find_elements("css selector", "#cards .card")
    assert [c.get_attribute("data-method") for c in cards] == [r["name"] for r in rows]
    assert browser.find_element("id", "all").is_displayed() and not browser.find_element("id", "single").is_displayed()
    for c, r in zip(cards, rows):
        assert same(float(c.find_element("css selector", "[data-outage]").get_attribute("data-outage")),
                    r["outage_modeled_s"])
    assert js(browser, "return window.__errors") == []


def test_a_failed_method_is_marked_in_the_browser(browser, failed_results):
    page = write_explorer(failed_results)
    open_page(browser, page)
    names = [r["name"] for r in read_methods(failed_results).to_pylist()]
    i = names.index("dump-cc")
    assert "(FAILED)" in browser.find_elements("css selector", "#method option")[i].text
    select_method(browser, str(i))
    scrub(browser, 1000)
    assert browser.find_element("id", "phase").get_attribute("data-phase") == "failed"
    assert "DLB363E" in browser.find_element("id", "phase").text
    assert browser.find_element("css selector", "#figures td[data-field='status']").text.startswith("FAILED")
    select_method(browser, "all")
    card = browser.find_elements("css selector", "#cards .card")[i]
    assert "failed" in card.get_attribute("class") and "FAILED" in card.text
    assert js(browser, "return window.__errors") == []


def test_bench_outage_html(tmp_path, capsys):
    out = tmp_path / "out"
    code = run(["bench", "outage", "--db-size", "2MiB", "--modeled-size", "16GiB", "--rate", "100000",
                "--methods", "standard,copy-snapshot", "--duration", "110", "--cooldown", "5", "--seed", "3",
                "--no-plots", "--no-failure", "--out", str(out), "--html"])
    assert code == 0, capsys.readouterr()
    assert "explorer.html" in capsys.readouterr().out
    page = (out / "explorer.html").read_text()
    assert '"name":"copy-snapshot"' in page and '"name":"standard"' in page
