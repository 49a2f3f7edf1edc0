"""The panel as an app: notebook 05 served by Voilà, clicked in headless Chromium."""

import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import papermill
import pytest
from PIL import Image

from aelib.study.panel import COMPLETE_MESSAGE
from aelib.study.pipeline import NOTEBOOKS_DIR

pytestmark = pytest.mark.slow  # a browser driving the panel in Voilà

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(url: str, server: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"Voilà exited with {server.returncode}: {server.stdout.read()}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"Voilà did not answer on {url}")


@pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="Chromium and ChromeDriver are not installed (.ci/run installs Debian's chromium and chromium-driver)",
)
def test_compress_in_the_browser_shows_the_gallery_and_the_completion_message(tmp_path, saved, photos):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    source, out = tmp_path / "photos", tmp_path / "out"
    source.mkdir()
    for index, photo in enumerate(photos[:2]):
        Image.fromarray(photo).save(source / f"photo{index}.png")
    papermill.execute_notebook(
        str(NOTEBOOKS_DIR / "05_compress_panel.ipynb"),
        str(tmp_path / "panel.ipynb"),
        parameters={"models_dir": str(saved.parent), "input_dir": str(source), "output_dir": str(out)},
        prepare_only=True,
    )
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "voila", "panel.ipynb", "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1100"):
        options.add_argument(argument)
    driver = None
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_for(url, server)
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        driver.get(url)
        wait = WebDriverWait(driver, 120)
        button = wait.until(
            lambda d: next((b for b in d.find_elements(By.TAG_NAME, "button") if "Compress & Show" in b.text), None)
        )
        button.click()
        wait.until(lambda d: COMPLETE_MESSAGE in d.find_element(By.TAG_NAME, "body").text)
        thumbnails = driver.find_elements(By.CSS_SELECTOR, ".aelib-gallery img")
        driver.save_screenshot(str(tmp_path / "panel.png"))
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(timeout=30)
    assert len(thumbnails) == 4  # original and reconstruction of each photo
    assert sorted(p.name for p in (out / "aec").iterdir()) == ["photo0.aec", "photo1.aec"]
    with Image.open(tmp_path / "panel.png") as screenshot:
        assert screenshot.size[0] > 1000
