"""The workbench page served by Streamlit and driven in a real Chromium."""

import io
import os
import shutil
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, styled_network
from nst_ff.model.checkpoint import export


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "net" / "tiny.pt"
    path.parent.mkdir()
    export(path, styled_network(alpha=0.25), ["alpha", "beta", "gamma"])
    return path


@pytest.fixture
def browser(checkpoint, tmp_path):
    """Chromium on the workbench, served by Streamlit from a working folder whose checkpoints/ is the tiny one."""
    webdriver = pytest.importorskip("selenium.webdriver")
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.skip("needs Debian's chromium and chromedriver (apt install chromium chromium-driver)")
    shutil.copytree(ROOT / "demo", tmp_path / "demo")
    (tmp_path / "checkpoints" / "tiny").mkdir(parents=True)
    shutil.copy(checkpoint, tmp_path / "checkpoints" / "tiny" / "last.ckpt")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "workbench.py"), "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000",
                 "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(shutil.which("chromedriver")), options=options)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                driver.get(f"http://127.0.0.1:{port}")
                break
            except Exception:
                time.sleep(1)
        yield driver
    finally:
        driver.quit()
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_in_a_real_browser(browser):
    from selenium.webdriver.support.ui import WebDriverWait

    # The result's caption, "<width>x<height> in <n> ms", appears once the network has run.
    caption = WebDriverWait(browser, 120).until(lambda b: b.execute_script(
        "return Array.from(document.querySelectorAll('div')).map(d => d.innerText)"
        ".find(t => /^\\d+x\\d+ in \\d+ ms$/.test(t)) || null;"))
    assert caption.startswith("256x256")  # the first demo photo (astronaut, 512 x 512) at the default 256 px
    result = browser.execute_script(
        "const images = Array.from(document.querySelectorAll('img')).filter(i => i.src.includes('/media/'));"
        "return images[images.length - 1].src;")
    png = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then(r => r.arrayBuffer()).then(b => done(Array.from(new Uint8Array(b))));",
        result)
    picture = Image.open(io.BytesIO(bytes(png)))
    assert picture.size == (256, 256) and np.asarray(picture.convert("RGB")).std() > 5


@pytest.mark.slow
def test_video_view_plays_both_clips_in_a_real_browser(browser, tmp_path):
    """Upload a clip on the Video view, stylize it, and the browser itself decodes and plays both results."""
    pytest.importorskip("av")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from conftest import make_clip

    clip = make_clip(tmp_path / "upload" / "walk.mp4", frames=12, size=(64, 48))
    wait = WebDriverWait(browser, 120)
    wait.until(lambda b: b.find_elements(By.XPATH, "//label[.//p[text()='Video']]"))[0].click()
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "input[type=file]"))[0].send_keys(str(clip))
    wait.until(lambda b: b.find_elements(By.XPATH, "//*[contains(text(), 'walk.mp4')]"))
    wait.until(lambda b: b.find_elements(By.XPATH, "//button[.//p[text()='stylize the clip']]"))[0].click()
    # Both players loaded their clip: the browser decoded H.264 of the clip's size and length.
    played = wait.until(lambda b: b.execute_script(
        "const videos = Array.from(document.querySelectorAll('video'));"
        "return videos.length == 2 && videos.every(v => v.readyState >= 1) ?"
        " videos.map(v => [v.videoWidth, v.videoHeight, v.duration]) : null;"))
    for width, height, duration in played:
        assert (width, height) == (64, 48) and abs(duration - 0.5) < 0.1  # 12 frames at 24 fps
