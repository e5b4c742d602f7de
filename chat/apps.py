from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"

    def ready(self) -> None:
        from django.db.models.signals import m2m_changed, pre_delete

        from chat.models import Room
        from chat.realtime import members_changed, room_deleted

        m2m_changed.connect(members_changed, sender=Room.members.through, dispatch_uid="chat.members")
        pre_delete.connect(room_deleted, sender=Room, dispatch_uid="chat.deleted")
