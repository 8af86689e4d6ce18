"""The HTML report: one self-contained file (figures embedded, tables sortable), the summary and
the checklist first, and a real browser (headless Chromium) that renders it without a console
error and shows the verdict."""

import re
import shutil
import subprocess

import pytest

from analysis.inputs.read.scenario import load_scenario
from analysis.report import html as H
from analysis.report import strategy as report


@pytest.fixture(scope="module")
def seed_html(tmp_path_factory):
    out = tmp_path_factory.mktemp("seed-html")
    rep = report.write_report(load_scenario("seed"), out)
    return rep, out / "report.html"


def test_html_is_self_contained_and_complete(seed_html):
    rep, path = seed_html
    page = path.read_text(encoding="utf-8")
    # every figure of the markdown is embedded, none is linked
    figs = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", rep.markdown)
    assert len(figs) == 6
    assert page.count('src="data:image/png;base64,') == len(figs)
    assert "figures/" not in page.replace("figure missing", "")
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)   # no network
    # every markdown table became a sortable table, plus the summary's key numbers
    n_tables = len(re.findall(r"^\| :?---", rep.markdown, flags=re.M))
    assert page.count('<table class="sortable">') == n_tables + 1


def test_html_opens_with_the_summary_then_the_checklist(seed_html):
    rep, path = seed_html
    page = path.read_text(encoding="utf-8")
    verdict = report.verdict(rep)
    assert verdict in page
    order = [page.index(x) for x in ('id="verdict"', "TTFT, at the longest prompt",
                                     'id="validation-checklist"', 'id="hardware"',
                                     'id="assumptions"')]
    assert order == sorted(order)
    assert page.count('id="validation-checklist"') == 1      # moved, not repeated


def test_inline_markup_by_hand():
    assert H._inline("**deploy `a*b`** *now* <x>") == (
        "<strong>deploy <code>a*b</code></strong> <em>now</em> &lt;x&gt;")
    assert H._inline("tp x pp = 4 * 2") == "tp x pp = 4 * 2"     # a lone star stays a star


def test_tables_keep_alignment_by_hand():
    t = H._table(["| a | b |", "| :--- | ---: |", "| x | 1.5 ms |"])
    assert "<td>x</td><td class=\"r\">1.5 ms</td>" in t


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_html_renders_in_headless_chromium(seed_html):
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium on PATH: run `make browser` (as root: apt-get install chromium)")
    rep, path = seed_html
    run = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=2000", "--dump-dom",
         path.as_uri()], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    dom = run.stdout
    # the inline script ran to its end (it marks <body>), and the verdict is on the page
    assert 'data-ready="1"' in dom
    assert report.verdict(rep) in dom
    console = [ln for ln in run.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert not console, console
