"""Timings in headless Chromium: navigation to a painted heatmap, and a cell click to painted images."""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Resolves with the time from the click to the frame after the cell's images have all decoded.
CLICK_TO_PAINT = """
const done = arguments[arguments.length - 1];
const panel = document.querySelector('#cell-samples');
const before = panel.querySelector('h3') ? panel.querySelector('h3').textContent : '';
let t0 = null;
document.addEventListener('mousedown', () => { t0 = performance.now(); }, {once: true, capture: true});
const check = () => {
  const head = panel.querySelector('h3');
  const imgs = Array.from(panel.querySelectorAll('img'));
  if (t0 !== null && head && head.textContent !== before && imgs.length && imgs.every(i => i.complete)) {
    requestAnimationFrame(() => done(performance.now() - t0));
  } else { setTimeout(check, 2); }
};
window.__armed = true;
check();
"""


def measure(url: str, clicks: int = 10) -> dict:
    sys.path.insert(0, str(ROOT / "scripts"))
    from screenshot import chrome
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.by import By
    driver = chrome(1280, 800)
    driver.set_script_timeout(60)
    try:
        loads = []
        for _ in range(3):
            driver.get(url)
            while not driver.find_elements(By.CSS_SELECTOR, "#confusion-graph .heatmaplayer text"):
                time.sleep(0.005)
            loads.append(driver.execute_script("return performance.now()"))
        times = []
        for i in range(clicks):
            actual = predicted = i % 10  # diagonal cells always hold images (24 of them, on real data)
            x, y = driver.execute_script("""
                const gd = document.querySelector('#confusion-graph .js-plotly-plot');
                gd.scrollIntoView({block: "center"});
                const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
                return [box.left + xa._offset + xa.d2p(arguments[1]), box.top + ya._offset + ya.d2p(arguments[0])];
            """, actual, predicted)
            # Arm the measurement (async script), click, then collect the result.
            driver.execute_script("window.__result = null; window.__armed = false;"
                                  "new Promise(r => { const f = " + _as_function(CLICK_TO_PAINT) + "; f(r); })"
                                  ".then(ms => { window.__result = ms; });")
            while not driver.execute_script("return window.__armed"):
                time.sleep(0.001)
            actions = ActionBuilder(driver)
            actions.pointer_action.move_to_location(int(x), int(y)).click()
            actions.perform()
            deadline = time.time() + 30
            while (ms := driver.execute_script("return window.__result")) is None:
                if time.time() > deadline:
                    raise RuntimeError("the cell's images never painted")
                time.sleep(0.005)
            times.append(ms)
        return {"navigation_to_heatmap_ms": round(statistics.median(loads)),
                "click_to_images_ms_median": round(statistics.median(times)),
                "click_to_images_ms_max": round(max(times)), "clicks": clicks}
    finally:
        driver.quit()


def _as_function(body: str) -> str:
    return "(function() {" + body + "})"
