"""Screenshots of three of the workbench's four views (docs/workbench_*.png: Stylize, Inside the network,
Per-image optimisation; Video has nothing to show before a clip is painted) and how long each takes to respond
in a real browser: Debian's headless Chromium driven by Selenium against `streamlit run workbench.py`.

    NST_FF_VGG_WEIGHTS=../shared/assets/vgg/vgg16_features.pth python benchmarks/workbench_screenshots.py

The page shows --ckpt (default the shipped checkpoints/ready12.pt), whatever runs are in progress: the server starts
in a scratch folder whose checkpoints/ holds only that file.
"""

import argparse
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from nst_ff.io.config import pin_environment

ROOT = Path(__file__).resolve().parent.parent
CAPTION = ("return Array.from(document.querySelectorAll('div')).map(d => d.innerText)"
           ".find(t => /^\\d+x\\d+ in \\d+ ms$/.test(t)) || null;")


PAGE_HAS = "return document.body.innerText.includes(arguments[0]);"
PAGE_ERROR = ("const e = document.querySelector("
              "'[data-testid=\"stAlertContentError\"], [data-testid=\"stException\"]');"
              "return e ? e.innerText : null;")
# a style's slider in the gallery, by its label (the first line of its text)
SLIDER_OF = """
const slider = Array.from(document.querySelectorAll('[data-testid="stSlider"]'))
    .find(s => s.innerText.split('\\n')[0] == arguments[0] && s.querySelector('input[type="range"]'));
return slider ? slider.querySelector('input[type="range"]') : null;
"""
# every picture's address: Streamlit serves an image under a hash of its content
IMAGES = "return Array.from(document.images).map(i => i.src).join(' ');"
FIRST_STYLE = """
return Array.from(document.querySelectorAll('[data-testid="stSlider"]')).map(s => s.innerText.split('\\n')[0])
    .find(label => label != 'strength');
"""
OPTIMISE = ("const b = Array.from(document.querySelectorAll('button')).find(b => b.innerText == 'optimise');"
            "if (b) b.click(); return Boolean(b);")
STEP_SHOWN = "return /step \\d+ of \\d+/.test(document.body.innerText);"
# captions of the Inside view's maps (layer names), none of the Stylize view's ("photo", "WxH in N ms")
MAPS = ("const c = Array.from(document.querySelectorAll('[data-testid=\"stImageCaption\"]')).map(e => e.innerText);"
        "return document.body.innerText.includes('network layers') && c.length >= 2 && !c.includes('photo')"
        " && !c.some(t => / in \\d+ ms$/.test(t));")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def browser() -> webdriver.Chrome:
    # without a chromedriver on PATH, Selenium Manager tries to download one and, offline, waits without a word
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        sys.exit("workbench_screenshots: needs Debian's chromium and chromedriver "
                 "(apt install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    return webdriver.Chrome(service=webdriver.ChromeService(shutil.which("chromedriver")), options=options)


def wait_for(driver, condition, timeout=120):
    """Seconds until condition(driver) is truthy, and its value; the page's own message, and exit 1, if it shows
    an error instead (a checkpoint it refuses, VGG weights it cannot find), rather than a timeout minutes later."""
    start = time.perf_counter()
    value = WebDriverWait(driver, timeout, poll_frequency=0.05).until(
        lambda d: d.execute_script(PAGE_ERROR) or condition(d))
    error = driver.execute_script(PAGE_ERROR)
    if error:
        raise SystemExit(f"workbench_screenshots: the page says: {error}")
    return time.perf_counter() - start, value


def idle(driver) -> bool:
    """Streamlit shows a "Running..." status widget while the script runs."""
    return not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidgetRunningIcon"]')


def save(driver, path: Path) -> None:
    """A screenshot as a 256-colour PNG (a fraction of the size, the same picture to the eye)."""
    picture = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    picture.quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


def choose_view(driver, label: str) -> None:
    driver.find_element(By.XPATH, f"//label[.//p[text()='{label}']]").click()


def shoot(driver, port: int, out: Path, first: str, second: str) -> None:
    """The three views, each timed and saved under `out`; Stylize blends `first` (1) and `second` (0.5)."""
    time.sleep(3)
    start = time.perf_counter()
    driver.get(f"http://127.0.0.1:{port}")
    _, caption = wait_for(driver, lambda d: d.execute_script(CAPTION))
    print(f"stylize, first page (loads the network): {time.perf_counter() - start:.2f} s; {caption}")
    # the page opens on its first style alone at 1: `first` to 1, that style to 0 (unless chosen), `second` to 0.5,
    # each in the slider's steps of 0.05 from the value it shows, and each change painted before the next
    first_on_page = driver.execute_script(FIRST_STYLE)
    targets = [(first, 1.0), *([(first_on_page, 0.0)] if first_on_page not in (first, second) else []), (second, 0.5)]
    seconds = 0.0
    for name, target in targets:
        slider = driver.execute_script(SLIDER_OF, name)
        if slider is None:
            raise SystemExit(f"workbench_screenshots: no style {name!r} on the page: give --styles A,B of its styles")
        steps = round((target - float(slider.get_attribute("value"))) / 0.05)
        if steps == 0:
            continue
        images = driver.execute_script(IMAGES)
        driver.execute_script("arguments[0].focus();", slider)
        ActionChains(driver).send_keys((Keys.RIGHT if steps > 0 else Keys.LEFT) * abs(steps)).perform()
        seconds, _ = wait_for(driver, lambda d, before=images: idle(d) and d.execute_script(IMAGES) != before)
    caption = driver.execute_script(CAPTION)
    print(f"stylize, a slider moved: {seconds:.2f} s to the new image; {caption}")
    time.sleep(1)
    save(driver, out / "workbench_stylize.png")

    choose_view(driver, "Inside the network")
    seconds, _ = wait_for(driver, lambda d: idle(d) and d.execute_script(MAPS))
    print(f"inside the network, two layers: {seconds:.2f} s")
    time.sleep(1)
    save(driver, out / "workbench_activations.png")

    choose_view(driver, "Per-image optimisation")
    # a click while the page still redraws after the view change is lost: click once it is idle, and again if the
    # page neither starts running nor shows a step within 10 s
    for attempt in range(3):
        wait_for(driver, lambda d: idle(d) and d.execute_script(OPTIMISE))
        try:
            wait_for(driver, lambda d: not idle(d) or d.execute_script(STEP_SHOWN), timeout=10)
            break
        except TimeoutException:
            if attempt == 2:
                raise
    # 30 L-BFGS steps take a minute on 2 quiet cores, several beside a training run
    seconds, _ = wait_for(driver, lambda d: d.execute_script(PAGE_HAS, "step 10 of"), timeout=600)
    print(f"optimisation, 30 L-BFGS steps at 128 px: step 10 shown after {seconds:.2f} s")
    save(driver, out / "workbench_optimize.png")
    seconds, _ = wait_for(driver, lambda d: d.execute_script(PAGE_HAS, "download GIF"), timeout=600)
    print(f"optimisation finished {seconds:.2f} s later")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "docs"), help="folder of the screenshots (default docs/)")
    parser.add_argument("--ckpt", default=str(ROOT / "checkpoints" / "ready12.pt"),
                        help="the checkpoint the page shows (default checkpoints/ready12.pt)")
    parser.add_argument("--styles", default="starry_night,the_scream",
                        help="the two styles the Stylize view blends, the first at 1 and the second at 0.5 "
                             "(default starry_night,the_scream)")
    args = parser.parse_args(argv)
    styles = [name.strip() for name in args.styles.split(",")]
    if len(styles) != 2 or len(set(styles)) != 2:
        sys.exit(f"workbench_screenshots: --styles {args.styles!r}: give two different styles, as in a,b")
    ckpt = Path(args.ckpt).resolve()
    if not ckpt.is_file():
        sys.exit(f"workbench_screenshots: no checkpoint {args.ckpt}")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    pin_environment()  # the server starts in another folder, where a relative VGG path would name nothing
    driver = browser()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            # the page lists checkpoints/*.pt and checkpoints/*/last.ckpt of the folder it starts in
            name = ckpt.name if ckpt.suffix == ".pt" else f"{ckpt.parent.name}/last.ckpt"
            link = Path(scratch, "checkpoints", name)
            link.parent.mkdir(parents=True)
            link.symlink_to(ckpt)
            port = free_port()
            server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "workbench.py"),
                                       "--server.headless", "true", "--server.address", "127.0.0.1",
                                       "--server.port", str(port), "--browser.gatherUsageStats", "false"],
                                      env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=scratch,
                                      stdout=subprocess.DEVNULL)
            try:
                shoot(driver, port, Path(args.out), *styles)
            finally:
                server.terminate()
                server.wait(timeout=30)
    finally:
        driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
