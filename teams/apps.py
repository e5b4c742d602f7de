from django.apps import AppConfig


class TeamsConfig(AppConfig):
    name = "teams"

    def ready(self) -> None:
        from django.db.models.signals import m2m_changed

        from teams.models import Team
        from teams.realtime import members_changed

        m2m_changed.connect(members_changed, sender=Team.members.through, dispatch_uid="teams.members")
