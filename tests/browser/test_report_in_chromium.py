"""The HTML report as a person sees it: opened from disk in headless Chromium, read through the DOM.

The report holds the documented example call (known times, so order and scale are
checked against numbers) and a day of simulated traffic, with cards for the sessions
whose files are not written yet.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from devstack.simulate import simulate_traffic
from sessionctl.replay import replay
from sessionctl.report.build import build_report, live_cards, parse_lines
from shared.config import Settings
from shared.domain.files import datastream_name, metadata_name

pytestmark = pytest.mark.browser

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "session-12345.jsonl"
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def _files(events, now, settings) -> dict:
    out = {}
    for f in replay(events, now=now, settings=settings):
        out[metadata_name("", f.session_id)] = json.loads(json.dumps(f.metadata, default=str))
        out[datastream_name("", f.session_id)] = json.loads(json.dumps(f.datastream, default=str))
    return out


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    with EXAMPLE.open("rb") as handle:
        example = parse_lines(handle)
    files = _files(
        example,
        datetime.fromisoformat("2023-09-11T12:00:00+03:00"),
        Settings(timezone="Europe/Istanbul"),
    )
    traffic = simulate_traffic(seed=3, now=NOW, sessions=40)
    simulated = parse_lines(traffic.lines)
    files |= _files(simulated, NOW, Settings())
    live = live_cards(simulated, now=NOW, zone=Settings().zone)
    # The example call as it stood mid-call, under another id: an active (blue) session.
    cut = datetime.fromisoformat("2023-09-11T09:46:00+03:00")
    running = [
        e.model_copy(update={"session_id": "12345-live"}) for e in example if e.occurred_at < cut
    ]
    live += live_cards(running, now=cut, zone=Settings(timezone="Europe/Istanbul").zone)
    out = tmp_path_factory.mktemp("report")
    index, model = build_report(files, out, source="the browser test", live=live)
    return index, model


def _console_errors(browser) -> list[str]:
    return [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def _contrast(browser, element) -> float:
    """WCAG contrast of an element's text against the first opaque background behind it."""
    return browser.execute_script(
        """
        function rgb(s) { var m = s.match(/[\\d.]+/g).map(Number); return m; }
        function lum(c) { var v = c.slice(0, 3).map(function (x) { x /= 255;
            return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
            return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; }
        var el = arguments[0], fg = rgb(getComputedStyle(el).color), node = el, bg = null;
        while (node && node.nodeType === 1) {
            var c = rgb(getComputedStyle(node).backgroundColor);
            if (c.length < 4 || c[3] > 0.99) { bg = c; break; }
            node = node.parentNode;
        }
        bg = bg || [255, 255, 255];
        var a = lum(fg), b = lum(bg);
        return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
        """,
        element,
    )


def test_the_index_shows_every_session_as_a_card_with_its_colour_in_words(
    browser, report, artifacts
):
    from selenium.webdriver.common.by import By

    index, model = report
    browser.get(index.as_uri())
    cards = browser.find_elements(By.CSS_SELECTOR, ".card")
    assert {c.get_attribute("data-session") for c in cards} == {
        v.session_id for v in model.sessions
    }
    assert len(cards) == len(model.sessions) > 40  # files and not-yet-written sessions
    assert {c.get_attribute("data-colour") for c in cards} == {"blue", "white", "gray"}
    words = {"blue": "BLUE · ACTIVE", "white": "WHITE · ABANDONED", "gray": "GRAY · INACTIVE"}
    for card in cards:
        assert words[card.get_attribute("data-colour")] in card.text  # not colour alone
        assert card.get_attribute("aria-label")
        assert _contrast(browser, card.find_element(By.CSS_SELECTOR, "h2")) >= 4.5
    shown = browser.find_element(By.ID, "shown").text
    assert shown == f"Showing {len(cards)} of {len(cards)} sessions"
    browser.save_screenshot(str(artifacts / "report-index.png"))
    assert _console_errors(browser) == []
    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(function (r) { return r.name; })"
    )
    assert all(name.startswith("file:") for name in resources), resources


def test_the_filters_narrow_the_cards_by_colour_type_and_status(browser, report):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    index, model = report
    browser.get(index.as_uri())

    def visible() -> set[str]:
        return {
            c.get_attribute("data-session")
            for c in browser.find_elements(By.CSS_SELECTOR, ".card")
            if c.is_displayed()
        }

    Select(browser.find_element(By.NAME, "colour")).select_by_value("white")
    assert visible() == {v.session_id for v in model.sessions if v.colour == "white"}
    assert browser.find_element(By.ID, "shown").text.startswith(f"Showing {len(visible())} of")
    Select(browser.find_element(By.NAME, "colour")).select_by_value("")
    Select(browser.find_element(By.NAME, "type")).select_by_value("chat")
    assert visible() == {v.session_id for v in model.sessions if v.icon == "chat"}
    Select(browser.find_element(By.NAME, "type")).select_by_value("")
    Select(browser.find_element(By.NAME, "status")).select_by_value("Resolved")
    assert visible() == {"12345"}
    assert _console_errors(browser) == []


def test_a_session_page_draws_its_timeline_in_order_and_to_scale(browser, report, artifacts):
    from selenium.webdriver.common.by import By

    index, model = report
    browser.get(index.as_uri())
    browser.find_element(By.CSS_SELECTOR, '.card[data-session="12345"]').click()
    assert browser.current_url.endswith("/sessions/12345.html")
    timeline = browser.find_element(By.CSS_SELECTOR, '[data-timeline="timeline"]')
    spans = timeline.find_elements(By.CSS_SELECTOR, ".seg")
    journey = [(s.get_attribute("data-kind"), int(s.get_attribute("data-start")), s) for s in spans]
    kinds_in_time = [k for k, _, _ in sorted(journey, key=lambda j: j[1])]
    assert kinds_in_time == [
        "ivr", "queue", "agent", "hold", "transfer", "agent", "hold", "wrapup",
    ]  # fmt: skip
    # To scale: every segment's drawn width and offset follow its times on one scale.
    start, end = (int(timeline.get_attribute(a)) for a in ("data-start", "data-end"))
    track = timeline.find_element(By.CSS_SELECTOR, ".track")
    px_per_ms = track.size["width"] / (end - start)
    for kind, begins, element in journey:
        ms = int(element.get_attribute("data-end")) - begins
        assert abs(element.size["width"] - ms * px_per_ms) <= 2.5, kind
        offset = element.location["x"] - track.location["x"]
        assert abs(offset - (begins - start) * px_per_ms) <= 2.5, kind
    # The queue wait (30.4 s) and Dana's segment (196 s) keep their proportion on screen.
    widths = {e.get_attribute("aria-label").split(",")[0]: e.size["width"] for _, _, e in journey}
    assert widths["Agents: Dana K"] / widths["Queue: waiting in queue Orders"] == pytest.approx(
        196 / 30.4, rel=0.05
    )
    # Every part names itself (not colour alone); holds say they are approximate.
    for _, _, element in journey:
        assert element.get_attribute("aria-label")
    holds = [e for k, _, e in journey if k == "hold"]
    assert all("approximate" in h.get_attribute("aria-label") for h in holds)
    # The end, the data stream beside it, the late part and the versions.
    assert (
        timeline.find_element(By.CSS_SELECTOR, '.pt[data-kind="end"]')
        .get_attribute("aria-label")
        .startswith("End: ended by agent")
    )
    items = browser.find_elements(By.CSS_SELECTOR, "ol.stream li")
    assert [i.find_element(By.TAG_NAME, "strong").text for i in items] == [
        "call_started", "custom_data", "transfer_started", "transfer_completed", "call_ended",
        "disposition", "call_recording",
    ]  # fmt: skip
    after = browser.find_element(By.CSS_SELECTOR, '[data-timeline="after"]')
    versions = after.find_elements(By.CSS_SELECTOR, '.pt[data-kind="version"]')
    assert [v.text for v in versions] == ["version 1 ≈", "version 2"]
    stream_panel = browser.find_element(By.CSS_SELECTOR, "aside")
    assert stream_panel.location["x"] > track.location["x"] + track.size["width"]  # beside it
    for segment in spans:
        if segment.get_attribute("data-kind") != "hold":
            assert _contrast(browser, segment) >= 4.5, segment.get_attribute("data-kind")
    browser.save_screenshot(str(artifacts / "report-session-12345.png"))
    assert _console_errors(browser) == []


def test_a_session_with_no_file_yet_has_a_page_from_its_live_journey(browser, report):
    from selenium.webdriver.common.by import By

    index, model = report
    waiting = [v for v in model.sessions if not v.has_file]
    assert waiting
    browser.get((index.parent / "sessions" / f"{waiting[0].slug}.html").as_uri())
    assert "no file yet" in browser.find_element(By.CSS_SELECTOR, "main").text
    assert browser.find_elements(By.CSS_SELECTOR, '[data-timeline="timeline"] [data-kind]')
    assert _console_errors(browser) == []
