"""What every paged list offers its template: is there a newer page, an older one."""


class PageLinks:
    """A mixin for page dataclasses with `page_number` (1-based) and `page_count`:
    the folder list, All inboxes, search and conversations."""

    page_number: int
    page_count: int

    @property
    def has_previous(self) -> bool:
        return self.page_number > 1

    @property
    def has_next(self) -> bool:
        return self.page_number < self.page_count
