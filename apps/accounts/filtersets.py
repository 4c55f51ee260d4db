import django_filters

from apps.accounts.models import User
from apps.accounts.roles import Role
from apps.core.filters import ApiFilterSet


class UserFilterSet(ApiFilterSet):
    role = django_filters.ChoiceFilter(choices=Role.choices)
    active = django_filters.BooleanFilter(field_name="is_active")
    q = django_filters.CharFilter(method="search", max_length=100)

    class Meta:
        model = User
        fields = ["role", "active"]

    def search(self, queryset, name, value):  # type: ignore[no-untyped-def]
        from django.db.models import Q

        return queryset.filter(Q(username__icontains=value) | Q(email__icontains=value) | Q(last_name__icontains=value))
