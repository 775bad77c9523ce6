"""Take a screenshot of a running dashboard in headless Chromium, after clicking a heatmap cell.

Usage: python scripts/screenshot.py URL OUT.png [--cell ACTUAL PREDICTED] [--width W --height H] [--full]
"""
from __future__ import annotations

import argparse
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait


def chrome(width: int, height: int) -> webdriver.Chrome:
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", f"--window-size={width},{height}", "--hide-scrollbars"):
        opts.add_argument(flag)
    return webdriver.Chrome(options=opts, service=Service("/usr/bin/chromedriver"))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("out")
    p.add_argument("--cell", nargs=2, type=int, metavar=("ACTUAL", "PREDICTED"), help="click this cell first")
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=800)
    p.add_argument("--full", action="store_true", help="capture the whole page height")
    p.add_argument("--script", help="JavaScript to run before the screenshot")
    args = p.parse_args()
    driver = chrome(args.width, args.height)
    try:
        driver.get(args.url)
        heatmap = (By.CSS_SELECTOR, "#confusion-graph .heatmaplayer")
        WebDriverWait(driver, 60).until(EC.presence_of_element_located(heatmap))
        if args.cell:
            i, j = args.cell
            x, y = driver.execute_script("""
                const gd = document.querySelector('#confusion-graph .js-plotly-plot');
                const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
                return [box.left + xa._offset + xa.d2p(arguments[1]), box.top + ya._offset + ya.d2p(arguments[0])];
            """, i, j)
            actions = ActionBuilder(driver)
            actions.pointer_action.move_to_location(int(x), int(y)).click()
            actions.perform()
            WebDriverWait(driver, 30).until(EC.presence_of_element_located((By.CSS_SELECTOR, "#cell-samples img")))
        if args.script:
            driver.execute_script(args.script)
        time.sleep(1.5)
        if args.full:  # grow the window until the page stops growing (plots re-lay out on resize)
            for _ in range(3):
                height = driver.execute_script("return document.documentElement.scrollHeight")
                driver.set_window_size(args.width, height + 150)
                time.sleep(1)
        driver.save_screenshot(args.out)
        print(f"saved {args.out}; page width {driver.execute_script('return document.documentElement.scrollWidth')}")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
