"""Shared pagination for list views: bad page numbers fall back to a valid page, never a 500."""
from django.core.paginator import Paginator

PAGE_SIZE = 50


def paginate(request, queryset, per_page=PAGE_SIZE):
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))
