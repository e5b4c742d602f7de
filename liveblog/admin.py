from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from liveblog.models import Liveblog, Post


class PostInline(admin.StackedInline):  # type: ignore[type-arg]  # generic only in django-stubs
    model = Post
    fields = ("body",)
    extra = 1


@admin.register(Liveblog)
class LiveblogAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("slug", "title", "published", "created")
    list_filter = ("published",)
    search_fields = ("slug", "title")
    prepopulated_fields = {"slug": ("title",)}
    inlines = [PostInline]

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        # Each post saved here is broadcast (liveblog/realtime.py); it is signed by whoever wrote it.
        for post in formset.save(commit=False):
            if post.author_id is None:
                post.author = request.user
            post.save()
        for post in formset.deleted_objects:
            post.delete()
        formset.save_m2m()


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("liveblog", "author", "created", "updated", "__str__")
    list_filter = ("liveblog",)
    search_fields = ("body",)
    list_select_related = ("liveblog", "author")
    fields = ("liveblog", "body", "author", "created", "updated")
    readonly_fields = ("author", "created", "updated")

    def save_model(self, request: HttpRequest, obj: Post, form: Any, change: bool) -> None:
        if obj.author_id is None:
            obj.author_id = request.user.pk
        super().save_model(request, obj, form, change)
