from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class JobsConfig(AppConfig):
    name = "jobs"

    def ready(self) -> None:
        # Register the built-in jobs and every installed app's ``jobs`` module.
        from jobs import builtins, reaper  # noqa: F401 - registers jobs and the reaper
        from jobs.tasks_backend import runner  # noqa: F401 - django.tasks' Celery task and names

        autodiscover_modules("jobs")
