from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from realtime.topology import check_layer

        # In every process, daphne and the Celery worker included: they run no system checks.
        check_layer()
        autodiscover_modules("realtime")  # every installed app's namespaces
