from django.contrib import admin

from apps.knowledge.models import Article


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    list_display = ["title", "category", "published", "updated_at"]
    list_filter = ["published", "category"]
    search_fields = ["title", "body"]
