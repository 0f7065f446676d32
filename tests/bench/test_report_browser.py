"""The HTML report as people see it, in a real headless browser (Chromium via Playwright).

A small study (synthetic logits, every calibrator evaluated for real, three seeds, a
hyper-parameter sweep of focal) is reported; the page is opened from disk and checked: every
figure loads, every table has rows, the internal links resolve, a click on a header sorts the
rows, a click on a figure enlarges it, and the console shows no error. A screenshot is saved
beside the report (``report/screenshot.png``).

Needs Debian's ``chromium`` and the ``playwright`` package (the ``dev`` extra); skipped without.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _write_run(rd: Path, config: dict, rng: np.random.Generator, sharpness: float) -> None:
    """A finished run folder: logits.npz (cal and test split) with the config in its meta."""
    rd.mkdir(parents=True)
    arrays = {}
    for split, n in (("cal", 300), ("test", 400)):
        y = rng.integers(0, 4, n)
        z = rng.normal(size=(n, 4)) + 2.0 * np.eye(4)[y]
        arrays[f"{split}_logits"] = (sharpness * z).astype(np.float32)
        arrays[f"{split}_labels"] = y
    meta = json.dumps({"config": config, "code_version": "test"})
    np.savez(rd / "logits.npz", meta=np.array(meta), **arrays)


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    from gencal.bench import evaluate_runs
    from gencal.bench.report import ReportSettings, build_report

    exp = tmp_path_factory.mktemp("browser") / "study"
    rng = np.random.default_rng(0)
    dirs = []
    for seed in range(3):
        for loss, extra, sharp in (
            ("ce", {}, 1.5),
            ("focal", {"gamma": 1.0}, 0.8),
            ("focal", {"gamma": 3.0}, 0.6),
        ):
            cfg = {
                "seed": seed,
                "data": {"name": "synth"},
                "model": {"name": "linear"},
                "loss": {"name": loss, **extra},
                "trainer": {"epochs": 5},
            }
            rd = exp / f"synth__linear__{loss}__s{seed}-g{extra.get('gamma', 0):g}"
            _write_run(rd, cfg, rng, sharp)
            dirs.append(rd)
    evaluate_runs(dirs, ["none", "ts", "ats"], progress=False)
    settings = ReportSettings(title="Browser check", comparisons=["focal+ts vs ce+ats"])
    return build_report(exp, settings=settings)


def _browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')"
    )
    if not Path(CHROMIUM).is_file():
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return sync_api


def test_report_page_in_a_real_browser(report_dir):
    sync_api = _browser()
    page_url = (report_dir / "index.html").resolve().as_uri()
    problems: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on(
                "console",
                lambda m: (
                    problems.append(f"console {m.type}: {m.text}")
                    if m.type in ("error", "warning")
                    else None
                ),
            )
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_url, wait_until="load")
            page.screenshot(path=str(report_dir / "screenshot.png"))

            # every figure loads
            widths = page.eval_on_selector_all("figure img", "els => els.map(e => e.naturalWidth)")
            n_png = len(list((report_dir / "figures").glob("*.png")))
            assert len(widths) == n_png >= 4 and all(w > 0 for w in widths), widths

            # every table renders with rows
            rows = page.eval_on_selector_all("table", "ts => ts.map(t => t.tBodies[0].rows.length)")
            assert len(rows) >= 5 and all(n > 0 for n in rows), rows

            # internal links resolve to an element of the page
            targets = page.eval_on_selector_all(
                "a[href^='#']", "as => as.map(a => a.getAttribute('href').slice(1))"
            )
            assert targets
            for t in targets:
                assert page.evaluate("id => document.getElementById(id) !== null", t), t

            # a click on a header sorts the rows (numbers numerically), a second click reverses
            table = "#main0 + p + div table"
            col = page.eval_on_selector(
                table,
                "t => Array.from(t.tHead.rows[0].cells).findIndex(c => c.textContent.startsWith('ECE-15'))",
            )
            assert col > 0
            read = "(t, col) => Array.from(t.tBodies[0].rows).map(r => parseFloat(r.cells[col].textContent))"
            before = page.eval_on_selector(table, read, col)
            page.click(f"{table} thead th:nth-child({col + 1})")
            asc = page.eval_on_selector(table, read, col)
            page.click(f"{table} thead th:nth-child({col + 1})")
            desc = page.eval_on_selector(table, read, col)
            assert sorted(before) == asc and asc == sorted(asc) and desc == asc[::-1]
            assert asc != before or before == sorted(before)

            # a click on a figure shows it enlarged; a click closes it
            small = page.eval_on_selector("figure img >> nth=0", "e => e.clientWidth")
            page.click("figure img >> nth=0")
            assert page.is_visible("#zoom img")
            assert page.eval_on_selector("#zoom img", "e => e.clientWidth") > 1.5 * small
            page.screenshot(path=str(report_dir / "screenshot_zoom.png"))
            page.click("#zoom")
            assert not page.is_visible("#zoom img")
        finally:
            browser.close()
    assert problems == []
    # nothing but the page itself and its data: URIs is requested (no CDN, no network)
    assert {u for u in requests if not u.startswith("data:")} == {page_url}
    assert (report_dir / "screenshot.png").stat().st_size > 10_000
