"""The portal's one time format: `{{ value|when }}` everywhere a moment is shown.

Every moment reads `2026-12-01 23:20:46 UTC` (date, seconds, the time zone's name) inside
a `<time datetime>` element, so that a reader never has to guess the zone and a script
can read the exact instant.
"""

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html

register = template.Library()

FORMAT = "Y-m-d H:i:s T"
TIME_FORMAT = "H:i:s T"  # rows of one job, whose page gives the date once


@register.filter
def when(value: datetime | None, part: str = "") -> str:
    """A moment in the portal's format (`when:"time"`: the time of day only), or a dash."""
    if not value:
        return "—"
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    shown = date_format(local, TIME_FORMAT if part == "time" else FORMAT)
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        local.isoformat(),
        date_format(local, FORMAT),
        shown,
    )


@register.filter
def when_text(value: datetime | None) -> str:
    """The same format as plain text (titles, CSV)."""
    if not value:
        return ""
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    return date_format(local, FORMAT)


@register.filter
def shown(value: object) -> str:
    """An audited value as an operator reads it (see clusters.audit.shown)."""
    from clusters import audit

    return audit.shown(value)


@register.filter
def command_line(argv: object) -> str:
    """An argv list as the shell line it is (shlex.join): quotes show where each argument
    ends, as the job's record shows the command."""
    import shlex

    if not isinstance(argv, list | tuple):
        return str(argv)
    return shlex.join(str(a) for a in argv)
