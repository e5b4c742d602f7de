"""SQLite, the dev database, under web and worker processes writing at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.live.harness import ROOT

# Each transaction reads, then writes: under SQLite's default DEFERRED mode two of them at once
# deadlock on the upgrade and one fails at once with "database is locked", whatever the timeout.
WRITER = """
import django; django.setup()
from django.contrib.auth.models import User
from django.db import transaction
from jobs.models import Job
owner, _ = User.objects.get_or_create(username="writer-{n}")
for i in range(150):
    with transaction.atomic():
        Job.objects.filter(owner=owner).active().count()
        job = Job.objects.create(owner=owner, task="demo.count", params={{"n": i + 1}})
    with transaction.atomic():
        Job.objects.filter(pk=job.pk).exists()
        job = Job.objects.claim(job.pk, task=job.task)
        job.set_progress(i, 150, "busy")
    # The conditional UPDATE of jobs.lifecycle.do_succeed (without its event: no Redis here).
    Job.objects.filter(pk=job.pk, status="running").update(status="succeeded", result={{"counted": i}})
print("ok")
"""


def test_four_processes_writing_at_once_never_see_database_is_locked(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], env=env, cwd=ROOT, check=True, timeout=60
    )
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER.format(n=n)],
            env=env,
            cwd=ROOT,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for n in range(4)
    ]
    results = [writer.communicate(timeout=120) for writer in writers]
    for (out, err), writer in zip(results, writers, strict=True):
        assert writer.returncode == 0 and "database is locked" not in err, err[-2000:]
        assert out.strip() == "ok"
    count = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c",
         "from jobs.models import Job; print(Job.objects.filter(status='succeeded').count())"],
        env=env, cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip().splitlines()[-1]  # fmt: skip
    assert count == "600"
