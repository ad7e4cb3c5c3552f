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

from conftest import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("chromium") and shutil.which("chromedriver")),
                    reason="needs Debian's chromium and chromedriver (apt install chromium chromium-driver)")
def test_in_a_real_browser(checkpoint, tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.support.ui import WebDriverWait

    shutil.copytree(ROOT / "demo", tmp_path / "demo")  # a working folder whose checkpoints/ is the tiny one
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
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=webdriver.ChromeService(shutil.which("chromedriver")), options=options)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                browser.get(f"http://127.0.0.1:{port}")
                break
            except Exception:
                time.sleep(1)
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
    finally:
        browser.quit()
        server.terminate()
        server.wait(timeout=30)
