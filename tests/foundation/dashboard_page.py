"""Reads the dashboard home as a person or a screen reader would: its figures, links, charts and their tables."""
from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Chart:
    svg: dict = field(default_factory=dict)  # the <svg> element's attributes
    title: str = ""
    desc: str = ""
    bars: list = field(default_factory=list)  # (series, label, value) of each drawn bar
    rows: list = field(default_factory=list)  # the data table's rows: [(text, href or ""), ...] per row
    tables: int = 0  # copies of the table (one on demand, one for print)


@dataclass
class Page(HTMLParser):
    figures: dict = field(default_factory=dict)  # key -> {"value": text, "href": link}
    parts: dict = field(default_factory=dict)  # a figure's parts: label -> link
    charts: dict = field(default_factory=dict)
    work: dict = field(default_factory=dict)  # "My work" section -> its count badge's text

    def __post_init__(self):
        super().__init__()
        self._figure = self._chart = self._capture = self._cell = self._work = None
        self._text = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-figure" in a:
            self._figure = self.figures.setdefault(a["data-figure"], {"href": a.get("href", "")})
        if "data-chart" in a:
            self._chart = self.charts.setdefault(a["data-chart"], Chart())
        if "data-work" in a:
            self._work = a["data-work"]
        chart = self._chart
        if a.get("data-testid") == "figure" and self._figure is not None:
            self._start("figure")
            self._figure["href"] = self._figure["href"] or a.get("href", "")
        elif a.get("data-testid") == "work-count" and self._work:
            self._start("work")
        elif "data-part" in a:
            self.parts[a["data-part"]] = a["href"]
        elif chart is not None and tag == "svg" and a.get("class") == "chart-svg":
            chart.svg = a
        elif chart is not None and tag in ("title", "desc") and chart.svg and not chart.bars and self._cell is None:
            self._start(tag)
        elif chart is not None and tag == "g" and "data-series" in a:
            chart.bars.append((a["data-series"], a["data-label"], int(a["data-value"])))
        elif chart is not None and tag == "table":
            chart.tables += 1
        elif chart is not None and chart.tables == 1 and tag == "tr" and self._in_body:
            chart.rows.append([])
        elif chart is not None and chart.tables == 1 and tag in ("th", "td") and self._in_body:
            self._cell = ["", ""]
            self._start("cell")
        elif self._cell is not None and tag == "a":
            self._cell[1] = a["href"]
        if tag == "tbody":
            self._in_body = True

    _in_body = False

    def _start(self, what):
        self._capture, self._text = what, []

    def handle_data(self, data):
        if self._capture:
            self._text.append(data)

    def handle_endtag(self, tag):
        text = " ".join("".join(self._text).split())
        chart = self._chart
        if self._capture == "figure" and tag in ("span", "a"):
            self._figure["value"] = text
            self._capture = None
        elif self._capture == "work" and tag == "span":
            self.work[self._work] = text
            self._capture = None
        elif self._capture in ("title", "desc") and tag == self._capture:
            setattr(chart, tag, text)
            self._capture = None
        elif self._capture == "cell" and tag in ("th", "td"):
            self._cell[0] = text
            chart.rows[-1].append(tuple(self._cell))
            self._capture = self._cell = None
        elif tag == "tbody":
            self._in_body = False
        elif tag == "figure":
            self._chart = None


def read(response):
    page = Page()
    page.feed(response.content.decode())
    return page


def values(page):
    """{figure key: its number} (figures that are counts)."""
    return {key: int(figure["value"].replace(",", "")) for key, figure in page.figures.items()
            if figure["value"].replace(",", "").isdigit()}


def get_home(client, user):
    """The dashboard home as `user` sees it (the response: its context and content)."""
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    return response
