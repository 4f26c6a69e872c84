"""Shared pagination for list views: bad page numbers fall back to a valid page, never a 500."""
from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db.models import Count, Window

PAGE_SIZE = 50
MAX_OFFSET = 2**31 - 1  # rows; PostgreSQL and SQLite both take any OFFSET up to here


def paginate(request, queryset, per_page=PAGE_SIZE, paginator_class=Paginator):
    return paginator_class(queryset, per_page).get_page(request.GET.get("page"))


class SinglePassPaginator(Paginator):
    """A Paginator for big filtered, sorted querysets that reads the total along with the page.

    Paginator counts the matches and then sorts them for the page: two passes over every match, and the
    sort carries whole rows. This asks for the page's primary keys with COUNT(*) OVER () (one pass, sorting
    keys only), then loads those rows by key. Same pages, same total; a page number past the end or below
    1 falls back to Paginator's own handling (a count, then the last page).
    """

    TOTAL = "paginator_total"

    def get_page(self, number):
        try:
            number = self._requested(number)
        except PageNotAnInteger:
            number = 1  # as Paginator.get_page (no page parameter at all, too)
        except EmptyPage:
            return super().get_page(number)  # below 1: Paginator shows the last page, which needs the count
        bottom = (number - 1) * self.per_page
        # The window would count rows the page merges; and an offset past any real table (?page=2**63) is one no
        # database takes (an out-of-range OFFSET is an error): Paginator shows the last page for it.
        if self.orphans or self.object_list.query.distinct or bottom > MAX_OFFSET:
            return super().get_page(number)
        keyed = list(self.object_list.annotate(**{self.TOTAL: Window(Count("*"))})
                     .values_list("pk", self.TOTAL)[bottom:bottom + self.per_page])
        if not keyed and (number > 1 or not self.allow_empty_first_page):
            return super().get_page(number)
        self.__dict__["count"] = keyed[0][1] if keyed else 0  # Paginator.count is a cached_property
        keys = [pk for pk, _ in keyed]
        rows = self.object_list.order_by().in_bulk(keys)
        return self._get_page([rows[pk] for pk in keys if pk in rows], number, self)

    def _requested(self, number):
        """validate_number without its upper bound, which needs the count."""
        try:
            if isinstance(number, float) and not number.is_integer():
                raise ValueError
            number = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger(self.error_messages["invalid_page"]) from None
        if number < 1:
            raise EmptyPage(self.error_messages["min_page"])
        return number
