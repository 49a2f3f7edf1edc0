"""The panel as an app: notebook 05 served by Voilà, driven in headless Chromium."""

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import papermill
import pytest
from PIL import Image

from aelib.apps.panel import COMPLETE_MESSAGE
from aelib.apps.reproduce import NOTEBOOKS_DIR

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")

pytestmark = [
    pytest.mark.slow,  # a browser driving the panel in Voilà
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None,
        reason="Chromium and ChromeDriver are not installed (.ci/run installs Debian's chromium and chromium-driver)",
    ),
]


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


_ATTACH_FILE_INPUTS = """
const click = HTMLInputElement.prototype.click;
HTMLInputElement.prototype.click = function () {
    if (this.type === "file" && !this.isConnected) { document.body.appendChild(this); return; }
    return click.call(this);
};
"""
"""ipywidgets 8's FileUpload opens a file input it never attaches to the page; attached when the button asks
for the file dialog, a WebDriver can give it a file as a person would pick one (its change event and the
widget's own reading of the file are unchanged)."""


@contextmanager
def served_panel(tmp_path, models_dir, input_dir: str = "", output_dir: str = ""):
    """Notebook 05 with these parameters served by Voilà, and a headless Chromium on its page."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    papermill.execute_notebook(
        str(NOTEBOOKS_DIR / "05_compress_panel.ipynb"),
        str(tmp_path / "panel.ipynb"),
        parameters={"models_dir": str(models_dir), "input_dir": input_dir, "output_dir": output_dir},
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
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _ATTACH_FILE_INPUTS})
        driver.get(url)
        yield driver
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(timeout=30)


def _button(driver, text: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, 120).until(
        lambda d: next((b for b in d.find_elements(By.TAG_NAME, "button") if text in b.text), None)
    )


def _body(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def _photos(folder, photos, count: int = 2):
    folder.mkdir()
    for index, photo in enumerate(photos[:count]):
        Image.fromarray(photo).save(folder / f"photo{index}.png")
    return folder


def test_compress_in_the_browser_shows_the_gallery_and_the_completion_message(tmp_path, saved, photos):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    source, out = _photos(tmp_path / "photos", photos), tmp_path / "out"
    out.mkdir()
    with served_panel(tmp_path, saved.parent, str(source), str(out)) as driver:
        _button(driver, "Compress & Show").click()
        WebDriverWait(driver, 120).until(lambda d: COMPLETE_MESSAGE in _body(d))
        thumbnails = driver.find_elements(By.CSS_SELECTOR, ".aelib-gallery img")
        driver.save_screenshot(str(tmp_path / "panel.png"))
    assert len(thumbnails) == 4  # original and reconstruction of each photo
    assert sorted(p.name for p in (out / "aec").iterdir()) == ["photo0.aec", "photo1.aec"]
    with Image.open(tmp_path / "panel.png") as screenshot:
        assert screenshot.size[0] > 1000


def _everything_below(folder) -> set:
    return {path.relative_to(folder) for path in folder.rglob("*")}


def test_typing_paths_character_by_character_and_clicking_midway_writes_nowhere_else(tmp_path, saved, photos):
    """Both folders typed from "/" one character at a time, Compress clicked mid-typing: refused each time;
    the whole path, once entered, gets the results; nothing appears outside the chosen folder."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    source, out = _photos(tmp_path / "photos", photos), tmp_path / "chosen" / "out"
    out.mkdir(parents=True)
    before = _everything_below(tmp_path)
    root_before = {p.name for p in Path("/").iterdir()}
    with served_panel(tmp_path, saved.parent) as driver:
        button = _button(driver, "Compress & Show")

        def field(placeholder_start: str):
            return next(
                element
                for element in driver.find_elements(By.CSS_SELECTOR, "input[type=text]")
                if (element.get_attribute("placeholder") or "").startswith(placeholder_start)
            )

        for placeholder, path in (("folder of images", str(source)), ("an empty or new folder", str(out))):
            clicks = 0
            for index, character in enumerate(path):
                text = field(placeholder)
                text.send_keys(Keys.END, character)
                if index in (0, 4, len(path) // 2, len(path) - 2):  # "/", a few letters in, half way, nearly there
                    button.click()  # leaves the field: the half-typed path is what the panel checks
                    clicks += 1
                    WebDriverWait(driver, 60).until(lambda d: "Compressing" not in _body(d))
            field(placeholder).send_keys(Keys.ENTER)
            assert clicks == 4
            assert COMPLETE_MESSAGE not in _body(driver)
        WebDriverWait(driver, 60).until(lambda d: "2 images found" in _body(d))
        button.click()
        WebDriverWait(driver, 120).until(lambda d: COMPLETE_MESSAGE in _body(d))
        typed = [
            element.get_attribute("value") for element in driver.find_elements(By.CSS_SELECTOR, "input[type=text]")
        ]
    assert str(source) in typed and str(out) in typed
    written = {path for path in _everything_below(tmp_path) - before if not path.name.startswith("panel")}
    assert written and all(path.parts[:2] == ("chosen", "out") for path in written), sorted(map(str, written))
    assert sorted(p.name for p in (out / "aec").iterdir()) == ["photo0.aec", "photo1.aec"]
    assert {p.name for p in Path("/").iterdir()} == root_before  # no /aec, no /decoded


def test_an_uploaded_image_comes_back_beside_jpeg(tmp_path, saved, photos):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    image = tmp_path / "mine.png"
    Image.fromarray(photos[0]).save(image)
    before = _everything_below(tmp_path)
    with served_panel(tmp_path, saved.parent) as driver:
        _button(driver, "Upload").click()
        chooser = WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "input[type=file]"))
        chooser[0].send_keys(str(image))
        WebDriverWait(driver, 120).until(lambda d: COMPLETE_MESSAGE in _body(d))
        status = _body(driver)
        shown = driver.find_elements(By.CSS_SELECTOR, ".aelib-gallery img")
    assert "mine.png" in status and "JPEG q" in status
    assert len(shown) == 3  # the upload, its reconstruction and JPEG at the same SSIM
    assert _everything_below(tmp_path) - before <= {
        p.relative_to(tmp_path) for p in tmp_path.glob("panel*")
    }  # nothing written but the served notebook
