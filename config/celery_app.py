from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("coucou")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Jobs register their Celery tasks when the jobs app is ready (see jobs/apps.py).
