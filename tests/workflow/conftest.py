"""A headless Chromium page (Playwright driving the system browser) and the test-artefact directory."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

#: Flags that keep Chromium off the network: on a machine without internet it otherwise waits on
#: connections (updates, sync, QUIC probes).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def artifact_dir() -> Path:
    """Where tests leave files for a person to look at: $SEMMOL_TEST_ARTIFACTS or test-artifacts/."""
    path = Path(os.environ.get("SEMMOL_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def browser_page(tmp_path) -> Iterator:
    """A Playwright page in the system's headless Chromium, with a fresh profile.

    Skipped where Chromium is not installed (CI installs it: .ci/run).
    """
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip(
            "needs Chromium on PATH: on Debian/Ubuntu `apt-get install -y chromium` "
            "(the browser Playwright drives; `playwright install` is not needed)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path / "chromium-profile",
            executable_path=chromium,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 2400, "height": 1400},  # room for a results table of many runs
        )
        context.set_default_timeout(30_000)
        try:
            yield context.new_page()
        finally:
            context.close()


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory, moleculenet_dir) -> Path:
    """tests/workflow/tiny.yaml with its MoleculeNet directory filled in."""
    text = (ROOT / "tests/workflow/tiny.yaml").read_text().replace("MOLECULENET_DIR", str(moleculenet_dir))
    path = tmp_path_factory.mktemp("config") / "tiny.yaml"
    path.write_text(text)
    return path


def config_variant(tiny_config: Path, path: Path, **sections) -> Path:
    """A copy of the tiny config, written to ``path``, with the given top-level sections replaced."""
    config = yaml.safe_load(tiny_config.read_text())
    config.update(sections)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
