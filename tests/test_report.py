"""`avs-studio report`: a researcher writes one HTML file that shows how a model did, opens
it in a browser (here a headless Chromium), and reads the CSV files beside it."""

from __future__ import annotations

import argparse
import base64
import csv
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_review import write_binary_predictions, write_semantic_predictions

from avs_studio.cli.common import EXIT_INTERRUPTED, EXIT_USER_ERROR
from avs_studio.cli.report import add_report_parser
from avs_studio.core.datasets import open_dataset
from avs_studio.core.errors import AVSError
from avs_studio.core.metrics.evaluation import evaluate
from avs_studio.core.review.plots_svg import bar_chart_svg, histogram_svg, nice_ticks, scatter_svg


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """``avs-studio --quiet report ...`` through the parser this module registers, with the
    exit codes of ``avs_studio.cli.parser.main``."""
    parser = argparse.ArgumentParser(prog="avs-studio")
    parser.add_argument("-q", "--quiet", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    add_report_parser(sub)
    args = parser.parse_args(["--quiet", "report", *map(str, argv)])
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    except AVSError as exc:
        print(f"error: {exc}")
        code = EXIT_USER_ERROR
    out = capsys.readouterr()
    return code, out.out, out.err


class Page(HTMLParser):
    """What a browser would load and show: tags with their attributes, and text per tag."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.stack: list[tuple[str, dict]] = []
        self.text: dict[str, list[str]] = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag not in ("img", "br", "meta", "input", "hr", "link"):  # void elements never close
            self.stack.append((tag, a))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if any(t == tag for t, _ in self.stack):
            while self.stack and self.stack.pop()[0] != tag:
                pass

    def handle_data(self, data):
        for tag, a in self.stack:
            key = a.get("id") or (f"{tag}.{a['class']}" if "class" in a else None)
            if key:
                self.text.setdefault(key, []).append(data)

    def all(self, tag: str, **attrs) -> list[dict]:
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())]

    def joined(self, key: str) -> str:
        return "".join(self.text.get(key, []))


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


@pytest.fixture(scope="module")
def ms3_report(demo_root, tmp_path_factory):
    """A report of a damaged MS3 model compared with a perfect one (all six clips scored)."""
    root = demo_root("ms3", 6, 0)
    ds = open_dataset(root)
    ids = [c.clip_id for c in ds.clips()]
    base = tmp_path_factory.mktemp("report-ms3")
    damage = {ids[0]: "erase", ids[2]: "shift"}
    write_binary_predictions(ds, base / "damaged", damage)
    write_binary_predictions(ds, base / "perfect")
    return root, base, damage


def test_the_report_is_one_self_contained_page_with_the_official_figures(ms3_report, tmp_path, capsys):
    root, base, damage = ms3_report
    out = tmp_path / "review"
    code, stdout, _ = run_cli(capsys, base / "damaged", root, "--setting", "ms3", "--split", "all",
                              "--out", out, "--worst", 3, "--compare", base / "perfect")  # fmt: skip
    assert code == 0
    assert stdout.count("\n") == 1 and stdout.startswith(f"wrote {out}: 6 MS3 all clips")
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "per_clip.csv", "per_frame.csv"]
    html = (out / "index.html").read_text(encoding="utf-8")
    # nothing is loaded from anywhere: pictures are data URIs, styles and script are inline
    for needle in ("http://", "https://", 'src="/', "src='/", "url(", "@import", "//cdn", "file:"):
        assert needle not in html
    page = parse(out / "index.html")
    assert not page.all("link") and not page.all("iframe") and not page.all("object")
    assert all("src" not in a for a in page.all("script"))
    images = page.all("img")
    assert images and all(a["src"].startswith("data:image/png;base64,") for a in images)
    assert all(base64.b64decode(a["src"].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n" for a in images)
    assert all(a.get("alt") for a in images)
    assert {a["href"] for a in page.all("a")} <= {"per_clip.csv", "per_frame.csv"} | {f"#clip-{r}" for r in (1, 2, 3)}
    # the structure: figures, plots, the worst clips with their frames, the table of every clip
    assert [a["id"] for a in page.all("section")] == ["figures", "plots", "worst", "table"]
    ev = evaluate(base / "damaged", root, "ms3", split=None)
    ev_b = evaluate(base / "perfect", root, "ms3", split=None)
    shown = page.joined("pre.evaluate")
    assert shown == "A:\n" + "\n".join(ev.summary_lines()) + "\n\nB:\n" + "\n".join(ev_b.summary_lines())
    assert f"{ev.result['miou']:.4f}" in page.joined("figures")
    assert len(page.all("svg")) >= 3  # per-clip histogram, size scatter, delta histogram
    clips = page.all("article", **{"class": "clip"})
    assert [a["id"] for a in clips] == ["clip-1", "clip-2", "clip-3"]
    worst_text = page.joined("worst")
    assert all(cid in worst_text for cid in damage)
    assert worst_text.count("Difference B") == 3 and worst_text.count("frame 4") == 3
    assert len(images) == 3 * 5 * 5  # 3 clips x 5 frames x (GT, A, B, diff A, diff B)
    rows = page.all("tr")
    assert len(rows) == 1 + 6
    assert page.joined("clip-table").count("\u2013") == 0  # every clip has every value
    # the CSV files: every clip worst first, every frame
    per_clip = list(csv.DictReader((out / "per_clip.csv").open()))
    assert [r["clip_id"] for r in per_clip[:2]] != [] and set(r["clip_id"] for r in per_clip[:2]) == set(damage)
    assert [int(r["rank"]) for r in per_clip] == list(range(1, 7))
    assert {r["clip_id"]: float(r["miou"]) for r in per_clip} == {r["clip_id"]: r["miou"] for r in ev.rows}
    assert all(float(r["delta_miou"]) == 1.0 - float(r["miou"]) for r in per_clip)
    per_frame = list(csv.DictReader((out / "per_frame.csv").open()))
    assert len(per_frame) == 6 * 5 and per_frame[0]["clip_id"] == per_clip[0]["clip_id"]
    assert set(per_frame[0]) >= {"iou", "fscore", "gt_size", "pred_size", "iou_b"}


def test_an_avss_report_carries_the_official_nobg_quirk(demo_root, tmp_path, capsys):
    root = demo_root("avss", 4, 0)
    ds = open_dataset(root)
    write_semantic_predictions(ds, tmp_path / "pred", {ds.clips()[1].clip_id: "erase"})
    out = tmp_path / "review"
    code, stdout, _ = run_cli(capsys, tmp_path / "pred", root, "--setting", "avss", "--split", "all", "--out", out,
                              "--worst", 1)  # fmt: skip
    assert code == 0, stdout
    page = parse(out / "index.html")
    figures = page.joined("figures")
    assert "drops class 70 'woman', keeps background" in figures and "classes 1..70; not official" in figures
    assert "\n".join(evaluate(tmp_path / "pred", root, "avss", split=None).summary_lines()) == page.joined(
        "pre.evaluate"
    )
    plots = page.joined("plots")
    assert "Mean clip mIoU per class" in plots and "Official per-class IoU" in plots
    assert ds.clips()[1].clip_id in page.joined("worst")
    assert "wrong class" in page.joined("worst")  # the AVSS legend


def test_existing_folders_and_ctrl_c_leave_nothing_behind(ms3_report, tmp_path, capsys, monkeypatch):
    root, base, _ = ms3_report
    out = tmp_path / "review"
    out.mkdir()
    code, stdout, _ = run_cli(capsys, base / "damaged", root, "--setting", "ms3", "--split", "all", "--out", out)
    assert code == EXIT_USER_ERROR and "already exists" in stdout
    out.rmdir()

    import avs_studio.core.review.report as report

    def interrupted(*args, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "report_html", interrupted)
    code, _, _ = run_cli(capsys, base / "damaged", root, "--setting", "ms3", "--split", "all", "--out", out)
    assert code == EXIT_INTERRUPTED
    assert list(tmp_path.iterdir()) == []  # no report folder, no temporary folder
    code, stdout, _ = run_cli(capsys, base / "damaged", tmp_path / "missing", "--setting", "ms3", "--out", out)
    assert code == EXIT_USER_ERROR and "no such dataset folder or project file" in stdout


# ---------------------------------------------------------------------- in a browser


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no chromium binary found (Debian: apt-get install chromium); the browser check needs one")


def open_in_browser(page: Path, tmp_path: Path, *extra: str, fragment: str = "") -> subprocess.CompletedProcess:
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run",
           f"--user-data-dir={tmp_path / 'chromium-profile'}", "--enable-logging=stderr", "--v=0",
           *extra, page.resolve().as_uri() + fragment]  # fmt: skip
    env = dict(os.environ, HOME=str(tmp_path))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)


def console_messages(stderr: str) -> list[str]:
    """Lines in which the page's JavaScript reported something (errors, uncaught exceptions)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def test_the_report_opens_in_a_headless_browser_without_errors(ms3_report, tmp_path, capsys):
    root, base, damage = ms3_report
    out = tmp_path / "review"
    code, _, _ = run_cli(capsys, base / "damaged", root, "--setting", "ms3", "--split", "all", "--out", out,
                         "--worst", 2)  # fmt: skip
    assert code == 0
    shot = tmp_path / "report.png"
    done = open_in_browser(out / "index.html", tmp_path, f"--screenshot={shot}", "--window-size=1400,2000")
    assert done.returncode == 0, done.stderr[-2000:]
    assert console_messages(done.stderr) == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    dom = open_in_browser(out / "index.html", tmp_path, "--dump-dom")
    assert dom.returncode == 0 and console_messages(dom.stderr) == []
    assert "Official figures" in dom.stdout and "<svg" in dom.stdout
    assert all(cid in dom.stdout for cid in damage)
    # the table's little script runs: opened with #sort=clip_id the rows come in name order
    sorted_dom = open_in_browser(out / "index.html", tmp_path, "--dump-dom", fragment="#sort=clip_id")
    assert sorted_dom.returncode == 0 and console_messages(sorted_dom.stderr) == []
    page = Page()
    page.feed(sorted_dom.stdout)
    ids = [a["data-v"] for a in page.all("td", **{"class": "id"})]
    assert ids == sorted(ids) and len(ids) == 6
    assert 'aria-sort="ascending"' in sorted_dom.stdout


# ---------------------------------------------------------------------- plots


def test_plots_are_plain_svg_with_labelled_axes():
    import xml.etree.ElementTree as ET

    assert nice_ticks(0, 1, 5) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(0, 37, 4) == [0, 10, 20, 30]
    svg = histogram_svg([0, 0.5, 1.0], [3, 0], title="Per-clip mIoU", xlabel="clip mIoU")
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter("text")]
    assert "Per-clip mIoU" in texts and "clip mIoU" in texts and "clips" in texts
    bars = [r for r in root.iter("rect") if r.find("title") is not None]
    assert len(bars) == 1 and "3 clips" in bars[0].find("title").text
    svg = bar_chart_svg(["dog", "cat", "empty"], [0.5, -0.25, float("nan")], [3, 1, 0], title="t", xlabel="x",
                        lo=-1, hi=1)  # fmt: skip
    root = ET.fromstring(svg)
    bars = [r for r in root.iter("rect") if r.find("title") is not None]
    assert len(bars) == 2 and "0.5000 over 3 clips" in bars[0].find("title").text
    svg = scatter_svg([0.01, 0.2, float("nan")], [0.5, 0.9, 0.1], names=["a", "b", "c"], title="s",
                      xlabel="size", ylabel="IoU", x_percent=True)  # fmt: skip
    root = ET.fromstring(svg)
    assert len(list(root.iter("circle"))) == 2
    assert any(t.text == "20%" for t in root.iter("text"))
    assert "http" not in svg
