"""Usability checks computed in the page: horizontal overflow, accessible names, badge text, focus, time zones.

Each check returns a list of readable problems (empty when the page passes), so that a test can walk many pages
and report every failure at once rather than stop at the first.
"""
import datetime as dt
import re
import zoneinfo

# Page-level horizontal scrolling, and the elements that stick out (not those inside a container that scrolls).
OVERFLOW = """() => {
    const width = window.innerWidth, scroll = document.documentElement.scrollWidth;
    const scrolls = (el) => { for (let p = el.parentElement; p; p = p.parentElement) {
        if (["auto", "scroll", "hidden"].includes(getComputedStyle(p).overflowX)) return true; } return false; };
    const wide = [...document.body.querySelectorAll("*")]
        .filter((el) => el.getBoundingClientRect().right > width + 1 && !scrolls(el))
        .slice(0, 5).map((el) => `${el.tagName.toLowerCase()}.${[...el.classList].join(".")}`
                           + ` (right edge ${Math.round(el.getBoundingClientRect().right)})`);
    return {width, scroll, wide};
}"""
# Words split across lines inside table cells: a column squeezed narrower than its words, where the table should
# have scrolled inside its container instead (a run of letters and digits; "-", "/", "#" may end a line).
BROKEN_WORDS = """() => {
    const broken = [];
    for (const cell of document.querySelectorAll("main td, main th")) {
        const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            if (node.parentElement.closest(".visually-hidden")) continue;  // 1 px wide on purpose
            for (const word of node.data.matchAll(/[A-Za-z0-9_]{2,}/g)) {
                const range = document.createRange();
                range.setStart(node, word.index);
                range.setEnd(node, word.index + word[0].length);
                if (new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size > 1) {
                    broken.push(`"${word[0]}" in "${cell.textContent.trim().slice(0, 60)}"`);
                }
            }
        }
    }
    return broken;
}"""
# Form fields without an accessible name: no <label>, aria-label or aria-labelledby with text.
UNNAMED_FIELDS = """() => {
    document.querySelectorAll("details").forEach((d) => { d.open = true; });  // fields folded away count too
    const text = (el) => (el ? el.textContent.trim() : "");
    const named = (el) => {
        const by = (el.getAttribute("aria-labelledby") || "").split(/\\s+/).filter(Boolean);
        return by.some((id) => text(document.getElementById(id)))
            || (el.getAttribute("aria-label") || "").trim()
            || [...el.labels].some((label) => text(label));
    };
    return [...document.querySelectorAll("input, select, textarea")]
        .filter((el) => el.type !== "hidden" && !named(el))
        .map((el) => `<${el.tagName.toLowerCase()} name=${el.name} id=${el.id}>`);
}"""
# Badges that would say something by colour alone; and colour-coded states shown without an icon or text.
COLOUR_ONLY = """() => {
    const badges = [...document.querySelectorAll(".badge")]
        .filter((el) => !el.textContent.trim() && !(el.getAttribute("aria-label") || "").trim())
        .map((el) => `badge ${el.outerHTML.slice(0, 120)}`);
    // A coloured age ("45 d" in red) needs a visible sign too: its hidden text reaches screen readers only.
    const ages = [...document.querySelectorAll(".inventory-age:is(.inventory-age-overdue, .inventory-age-due-soon)")]
        .filter((el) => !el.parentElement.querySelector(".bi"))
        .map((el) => `age without an icon: ${el.outerHTML.slice(0, 120)}`);
    return badges.concat(ages);
}"""
# The focused element: what it is, whether it is a main navigation link, and whether its focus can be seen.
FOCUSED = """() => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const style = getComputedStyle(el);
    const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
    // Focus on a part of the browser's own control (a date field's calendar button) is drawn by the browser,
    // out of the page's reach: the field itself was checked when Tab entered it.
    const inner = !el.matches(":focus");
    // textContent, not innerText: the text as written, not as CSS capitalises it.
    return {text: (el.textContent || el.value || el.getAttribute("aria-label") || "").trim().replace(/\\s+/g, " "),
            tag: el.tagName.toLowerCase(), nav: !!el.closest("nav[aria-label='Main navigation'] .navbar-nav"),
            visible: inner || outline || style.boxShadow !== "none",
            focus: `outline ${style.outlineStyle} ${style.outlineWidth}, box-shadow ${style.boxShadow}`};
}"""
NAV_LINKS = """() => [...document.querySelectorAll("nav[aria-label='Main navigation'] .navbar-nav a")]
    .map((a) => a.textContent.trim().replace(/\\s+/g, " "))"""


def overflow(page):
    found = page.evaluate(OVERFLOW)
    if found["scroll"] <= found["width"]:
        return []
    return [f"scrolls sideways: {found['scroll']} px of content in a {found['width']} px window; {found['wide']}"]


def broken_words(page):
    found = page.evaluate(BROKEN_WORDS)
    return [f"{len(found)} words split across lines in table cells, e.g. {found[:3]}"] if found else []


def unnamed_fields(page):
    return [f"field without a label: {field}" for field in page.evaluate(UNNAMED_FIELDS)]


def colour_only(page):
    return page.evaluate(COLOUR_ONLY)


def tab_through(page, primary, *, limit=90):
    """Press Tab from the top until the main navigation and the button or link named `primary` were reached.

    Returns (problems, stops): stops are the texts focused on the way.
    """
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }")
    nav_links, reached, stops, problems = set(page.evaluate(NAV_LINKS)), set(), [], []
    reached_primary = False
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused is None:
            continue
        stops.append(focused["text"])
        if not focused["visible"]:
            problems.append(f"no visible focus on <{focused['tag']}> {focused['text']!r}: {focused['focus']}")
        if focused["nav"]:
            reached.add(focused["text"])
        reached_primary = reached_primary or focused["text"] == primary
        if reached_primary and reached >= nav_links:
            break
    if not reached >= nav_links:
        problems.append(f"navigation links never focused: {sorted(nav_links - reached)}")
    if not reached_primary:
        problems.append(f"primary action {primary!r} never focused in {limit} presses of Tab")
    return problems, stops


TIME_SHAPES = {"%Y-%m-%d %H:%M:%S": re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"),
               "%Y-%m-%d %H:%M": re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d")}
UTC_TITLE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d(?::\d\d)?) UTC$")


def time_problems(page, zone_name):
    """Each <time> on the page: UTC in its title (matching its datetime attribute), local time in its text.

    Returns (problems, number of times shown as a date and time of day).
    """
    zone, problems, checked = zoneinfo.ZoneInfo(zone_name), [], 0
    for moment in page.evaluate("""() => [...document.querySelectorAll("time")]
            .map((t) => ({text: t.textContent.trim(), title: t.title, datetime: t.dateTime}))"""):
        instant = dt.datetime.fromisoformat(moment["datetime"].replace("Z", "+00:00"))
        title = UTC_TITLE.match(moment["title"])
        if not title or not instant.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S").startswith(title[1]):
            problems.append(f"title is not the UTC time of {moment['datetime']}: {moment['title']!r}")
        for shape, pattern in TIME_SHAPES.items():
            if pattern.fullmatch(moment["text"].rsplit(" ", 1)[0]):
                local = instant.astimezone(zone)
                expected = f"{local.strftime(shape)} {local.tzname()}"
                if moment["text"] != expected:
                    problems.append(f"{moment['datetime']} shown as {moment['text']!r}, not {expected!r}")
                checked += 1
                break
    return problems, checked
