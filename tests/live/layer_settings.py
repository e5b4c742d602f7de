"""Coucou's settings with the channel layer that COUCOU_TEST_CHANNEL_LAYER holds (JSON)."""

from __future__ import annotations

import json
import os

from config.settings import *  # noqa: F403

CHANNEL_LAYERS = {"default": json.loads(os.environ["COUCOU_TEST_CHANNEL_LAYER"])}
