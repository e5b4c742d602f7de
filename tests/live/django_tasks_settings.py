"""Coucou's settings with Django 6's ``django.tasks`` on the Coucou backend (Django 6 only)."""

from __future__ import annotations

from config.settings import *  # noqa: F403

TASKS = {"default": {"BACKEND": "jobs.tasks_backend.backend.CoucouBackend"}}
