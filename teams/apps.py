from django.apps import AppConfig


class TeamsConfig(AppConfig):
    name = "teams"

    def ready(self) -> None:
        from django.db.models.signals import m2m_changed, pre_delete

        from teams.models import Team
        from teams.realtime import members_changed, team_deleted

        m2m_changed.connect(members_changed, sender=Team.members.through, dispatch_uid="teams.members")
        pre_delete.connect(team_deleted, sender=Team, dispatch_uid="teams.deleted")
