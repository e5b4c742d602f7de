"""Coucou's settings with the test namespaces of tests/browser/channels_app installed."""

from __future__ import annotations

from config.settings import *  # noqa: F403
from config.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.browser.channels_app"]
