"""Server-side SVG charts: the geometry of bar charts, drawn by templates/dashboard/_chart.html (no JavaScript).

A chart carries its shapes (positions in the SVG's own coordinates; colours come from CSS classes, because the
Content-Security-Policy forbids inline styles), a one-sentence summary for the SVG's accessible name, and the
data as a table, which the page offers as the chart's text alternative and prints.
"""
import math
from dataclasses import dataclass, field

WIDTH = 520
FONT_GAP = 4  # between a bar and its value label
CHAR_WIDTH = 7.5  # a rough average width of a character of the labels (13px), to keep labels from overlapping


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    series: str  # CSS: .chart-series-<series>
    label: str  # the category, for tests and the tooltip
    value: int
    title: str  # tooltip


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    anchor: str = "start"  # start | middle | end
    css: str = "chart-label"


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True)
class Cell:
    text: str
    url: str = ""


@dataclass(frozen=True)
class Bar:
    """One horizontal bar's data: `note` follows the value ("of 40 active"), `url` is the list behind it."""

    label: str
    value: int
    note: str = ""
    url: str = ""
    series: str = "count"


@dataclass
class Chart:
    id: str
    title: str
    summary: str
    height: int
    legend: list  # [(series, label)]
    columns: list  # the table's column headings
    rows: list  # [[Cell, ...]]; the first cell of a row is its heading
    rects: list = field(default_factory=list)
    texts: list = field(default_factory=list)
    lines: list = field(default_factory=list)
    empty: str = ""  # shown in place of the bars when there is nothing to draw
    is_empty: bool = False
    width: int = WIDTH

    @property
    def centre(self):
        return self.width / 2, self.height / 2


def scale_top(largest, divisions=4):
    """(top of the value axis, tick step): whole numbers, a 1-2-5 step, at most `divisions` steps."""
    if largest <= 0:
        return 1, 1
    rough = largest / divisions
    magnitude = 10 ** math.floor(math.log10(rough)) if rough >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= rough)
    return step * math.ceil(largest / step), step


def _number(value):
    return f"{value:,}"


def column_chart(chart_id, title, *, categories, series, values, summary, empty, category_heading, height=240):
    """Stacked columns, one per category (left to right), one segment per series (bottom to top).

    `series`: [(key, label)]; `values`: {series key: [one value per category]}; `categories`: [(axis label,
    table heading)].
    """
    left, right, top, bottom = 44, 8, 20, 28
    plot_width, plot_height = WIDTH - left - right, height - top - bottom
    totals = [sum(values[key][i] for key, _ in series) for i in range(len(categories))]
    axis_top, step = scale_top(max(totals, default=0))
    chart = Chart(chart_id, title, summary, height, legend=list(series),
                  columns=[category_heading, *(label for _, label in series)], rows=[], empty=empty,
                  is_empty=not any(totals))
    for tick in range(0, axis_top + 1, step):
        y = top + plot_height - plot_height * tick / axis_top
        chart.lines.append(Line(left, y, left + plot_width, y))
        chart.texts.append(Text(left - FONT_GAP, y + 4, _number(tick), "end", "chart-axis"))
    slot = plot_width / max(len(categories), 1)
    bar_width = slot * 0.6
    label_every = math.ceil(max(len(label) for label, _ in categories) * CHAR_WIDTH / slot) if categories else 1
    for i, (axis_label, heading) in enumerate(categories):
        x = left + slot * i + (slot - bar_width) / 2
        base = top + plot_height
        parts = []
        for key, label in series:
            value = values[key][i]
            parts.append(f"{_number(value)} {label.lower()}")
            if value:
                height_ = plot_height * value / axis_top
                base -= height_
                chart.rects.append(Rect(round(x, 1), round(base, 1), round(bar_width, 1), round(height_, 1), key,
                                        heading, value, f"{heading}: {_number(value)} {label.lower()}"))
        centre = round(x + bar_width / 2, 1)
        if totals[i] and len(_number(totals[i])) * CHAR_WIDTH < slot:  # where it fits; the tooltip has it anyway
            chart.texts.append(Text(centre, round(base - FONT_GAP, 1), _number(totals[i]), "middle", "chart-value"))
        if (len(categories) - 1 - i) % label_every == 0:  # the newest column always has its label
            chart.texts.append(Text(centre, height - 8, axis_label, "middle", "chart-axis"))
        chart.rows.append([Cell(heading), *(Cell(_number(values[key][i])) for key, _ in series)])
    return chart


def bar_chart(chart_id, title, *, bars, summary, empty, category_heading, value_heading, label_width=130):
    """Horizontal bars (Bar), top to bottom, on one scale."""
    row_height, top, right = 30, 8, 110
    height = top * 2 + row_height * max(len(bars), 1)
    plot_width = WIDTH - label_width - right
    axis_top, _ = scale_top(max((bar.value for bar in bars), default=0))
    chart = Chart(chart_id, title, summary, height, legend=[], columns=[category_heading, value_heading], rows=[],
                  empty=empty, is_empty=not bars)
    for i, bar in enumerate(bars):
        y = top + row_height * i
        middle = y + row_height / 2 + 4
        chart.texts.append(Text(label_width - 8, middle, _truncate(bar.label), "end"))
        width = plot_width * bar.value / axis_top
        text = f"{_number(bar.value)} {bar.note}".strip()
        if bar.value:
            chart.rects.append(Rect(label_width, y + 5, round(width, 1), row_height - 10, bar.series, bar.label,
                                    bar.value, f"{bar.label}: {text}"))
        chart.texts.append(Text(round(label_width + width + FONT_GAP, 1), middle, text, css="chart-value"))
        chart.rows.append([Cell(bar.label, bar.url), Cell(text)])
    return chart


def _truncate(label, length=18):
    return label if len(label) <= length else label[: length - 1] + "…"
