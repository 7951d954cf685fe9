"""What the browser tests share: one headless Chromium for the whole session (Debian's /usr/bin/chromium driven by
Playwright from PyPI, launched as tests/e2e/apps_host.py says), whichever browser test asks first."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, async_playwright

from tests.e2e.apps_host import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture(scope="session")
async def chromium(anyio_backend: str) -> AsyncIterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        # A missing browser is a broken machine, never a silent pass.
        pytest.fail(f"{CHROMIUM} is missing: run scripts/system-packages.sh (apt-get install chromium)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()
