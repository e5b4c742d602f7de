from django.apps import AppConfig


class LiveblogConfig(AppConfig):
    name = "liveblog"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from liveblog.models import Post
        from liveblog.realtime import post_deleted, post_saved

        post_save.connect(post_saved, sender=Post, dispatch_uid="liveblog.post_saved")
        post_delete.connect(post_deleted, sender=Post, dispatch_uid="liveblog.post_deleted")
