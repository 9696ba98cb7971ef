#!/usr/bin/env python3
"""Renders the compliance report's HTML page in headless Chromium and checks, in the
screenshot, that its histogram of time to removal is drawn as the data says.

    report_screenshot.py report.html --counts 120,48,0,... [--png report.png]

`--counts` are the departures per bucket, left to right, as the caller counted them from
the data it seeded. In the screenshot every run of columns holding the bar colour
(`--fill`, the report's `BAR_FILL`) is a bar. The check fails unless
- Chromium writes a screenshot within the timeout;
- every bucket whose bar would be at least MIN_BAR_PX tall is a bar, and there are no
  bars but those (a bar of a fraction of a pixel may or may not show);
- the bars stand in their buckets' places (equal slots, left to right), on one
  baseline, the tallest at least TALLEST_MIN_PX;
- each bar's height is the tallest bar's times its count over the largest count, within
  HEIGHT_TOLERANCE_PX;
- the SLA line (`--sla-stroke`) stands between the bars of the buckets either side of
  `--sla-bucket`'s left edge.
An empty or missing histogram, a page Chromium cannot render, a bar in the wrong place
or of the wrong height all fail. Exit status 0 when all hold, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking switches Chromium waits on this closed network.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WINDOW = (1280, 1400)
RENDER_TIMEOUT = 90.0
COLOUR_TOLERANCE = 3  # per channel: the inside of a bar is the exact colour
MIN_BAR_PX = 3.0
TALLEST_MIN_PX = 100
HEIGHT_TOLERANCE_PX = 2.0
SLA_LINE_MIN_PX = 60  # a dashed line: 6 on, 4 off


def hex_colour(text: str) -> tuple[int, int, int]:
    text = text.lstrip("#")
    if len(text) != 6:
        raise argparse.ArgumentTypeError(f"not a #rrggbb colour: {text!r}")
    return tuple(int(text[i:i + 2], 16) for i in (0, 2, 4))


def render(html: Path, png: Path) -> None:
    """Chromium's screenshot of the page, or SystemExit with what it said."""
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: `make chromium` installs it")
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="report-chromium-") as profile:
        argv = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--screenshot={png}",
                html.resolve().as_uri()]
        # Its own session, so a timeout ends every process it started (by its group).
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            said, _ = proc.communicate(timeout=RENDER_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.communicate()
            raise SystemExit(f"chromium did not finish within {RENDER_TIMEOUT:.0f} s")
    if proc.returncode != 0 or not png.exists():
        tail = "\n".join(said.decode(errors="replace").splitlines()[-20:])
        raise SystemExit(f"chromium exited with {proc.returncode} and no screenshot:\n{tail}")


class Bar:
    """A run of columns holding the bar colour: its left and right column, and per column
    the top and bottom row of that colour."""

    def __init__(self, left: int):
        self.left = self.right = left
        self.tops: list[int] = []
        self.bottoms: list[int] = []

    @property
    def bottom(self) -> int:
        return max(self.bottoms)

    @property
    def height(self) -> int:
        """The bar's full height: its middle column's, away from anti-aliased edges."""
        mid = len(self.tops) // 2
        return self.bottoms[mid] - self.tops[mid] + 1

    def __repr__(self) -> str:
        return f"Bar(x={self.left}..{self.right}, height={self.height}, bottom={self.bottom})"


def near(pixel: tuple[int, int, int], colour: tuple[int, int, int]) -> bool:
    return all(abs(p - c) <= COLOUR_TOLERANCE for p, c in zip(pixel, colour))


def column_spans(image: Image.Image, colour: tuple[int, int, int]) -> dict[int, tuple[int, int, int]]:
    """Per column holding `colour`: its top row, bottom row and how many pixels."""
    width, height = image.size
    pixels = image.load()
    spans = {}
    for x in range(width):
        rows = [y for y in range(height) if near(pixels[x, y], colour)]
        if rows:
            spans[x] = (rows[0], rows[-1], len(rows))
    return spans


def find_bars(spans: dict[int, tuple[int, int, int]]) -> list[Bar]:
    bars: list[Bar] = []
    for x in sorted(spans):
        if not bars or x != bars[-1].right + 1:
            bars.append(Bar(x))
        bar = bars[-1]
        bar.right = x
        bar.tops.append(spans[x][0])
        bar.bottoms.append(spans[x][1])
    return bars


def check(image: Image.Image, counts: list[int], fill, sla_stroke, sla_bucket: int) -> list[str]:
    """What is wrong with the histogram in `image`; empty when nothing is."""
    bars = find_bars(column_spans(image, fill))
    if not bars:
        return ["no pixel of the bar colour: the histogram is empty or was not rendered"]
    tallest = max(bars, key=lambda b: b.height)
    most = max(counts)
    if most == 0:
        return ["no departure in any bucket, yet bars were drawn"] if bars else []
    problems = []
    if tallest.height < TALLEST_MIN_PX:
        problems.append(f"the tallest bar is {tallest.height} px, under {TALLEST_MIN_PX} px")
    expected = [tallest.height * n / most for n in counts]
    required = {i for i, h in enumerate(expected) if h >= MIN_BAR_PX}
    possible = {i for i, n in enumerate(counts) if n > 0}
    # A bar is its slot less a gap; the slot, from the widest bar, places each bar.
    slot = max(b.right - b.left + 1 for b in bars) + 4
    steps = [0] + [round((b.left - bars[0].left) / slot) for b in bars[1:]]
    placed = None
    for first in range(len(counts)):
        indexes = [first + s for s in steps]
        if indexes[-1] < len(counts) and required <= set(indexes) <= possible:
            placed = indexes
            break
    if placed is None:
        return problems + [f"{len(bars)} bars at slots {steps} (slot {slot} px) fit no placement of the "
                           f"buckets with bars {sorted(required)} (counts {counts}): {bars}"]
    baseline = max(b.bottom for b in bars)
    for i, bar in zip(placed, bars):
        if baseline - bar.bottom > 1:
            problems.append(f"bucket {i}'s bar ends at row {bar.bottom}, not on the baseline {baseline}")
        if abs(bar.height - expected[i]) > HEIGHT_TOLERANCE_PX:
            problems.append(f"bucket {i}'s bar is {bar.height} px tall; its count {counts[i]} of {most} "
                            f"makes it {expected[i]:.1f} px")
    if baseline >= image.size[1] - 1:
        problems.append("the histogram's baseline is at the screenshot's edge: the page is cut off")
    # The slot measured between the outermost bars, for where the SLA line must be.
    if len(bars) > 1 and placed[-1] > placed[0]:
        slot = (bars[-1].left - bars[0].left) / (placed[-1] - placed[0])
    edge = bars[0].left + (sla_bucket - placed[0]) * slot
    red = column_spans(image, sla_stroke)
    line = [x for x, (_, _, n) in red.items() if abs(x - edge) <= slot / 2 and n >= SLA_LINE_MIN_PX]
    if not line:
        problems.append(f"no SLA line near x={edge:.0f} (the left edge of bucket {sla_bucket})")
    if not problems:
        print(f"histogram: {len(bars)} bars in buckets {placed}, heights "
              f"{[b.height for b in bars]} px (expected {[round(expected[i], 1) for i in placed]}), "
              f"baseline row {baseline}, SLA line at x={line[0]}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path, help="the report's HTML page")
    parser.add_argument("--counts", required=True,
                        help="departures per histogram bucket, left to right, comma-separated")
    parser.add_argument("--png", type=Path, help="where to keep the screenshot (default: beside the page)")
    parser.add_argument("--fill", type=hex_colour, default=hex_colour("#1e6fd9"), help="the bars' colour")
    parser.add_argument("--sla-stroke", type=hex_colour, default=hex_colour("#d62728"),
                        help="the SLA line's colour")
    parser.add_argument("--sla-bucket", type=int, default=4,
                        help="the bucket whose left edge is the SLA (4: buckets are quarters of it)")
    args = parser.parse_args()
    counts = [int(n) for n in args.counts.split(",")]
    png = args.png or args.html.with_suffix(".png")
    render(args.html, png)
    with Image.open(png) as shot:
        problems = check(shot.convert("RGB"), counts, args.fill, args.sla_stroke, args.sla_bucket)
    print(f"screenshot: {png}")
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
