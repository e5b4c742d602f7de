from django.contrib import admin

from chat.models import Message, Room


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # generic only in django-stubs
    list_display = ("slug", "title", "created")
    search_fields = ("slug", "title")
    prepopulated_fields = {"slug": ("title",)}
    filter_horizontal = ("members",)


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("room", "author", "created", "body")
    list_filter = ("room",)
    search_fields = ("body", "author__username")
    list_select_related = ("room", "author")
    raw_id_fields = ("author",)
    readonly_fields = ("created",)
