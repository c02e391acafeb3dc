"""How many entries of a feed the seen-entry index keeps: what the feed can still show.

An entry is queued the first time its feed shows it, so its identity must be remembered for as
long as the feed may show it again. A feed shows its newest entries: an entry that has dropped
out of the body comes back only while a stale copy (a CDN node, a mirror behind a load
balancer) still serves an older body. So each feed keeps the entries of its current body plus
as many again, twice over (`BODY_FACTOR` times the body in all, at least `MINIMUM`), by when
each was last seen, and forgets the rest, however young; the age limit
(`scheduler.seen_retention`) still forgets entries of a feed that stopped changing. Memory is
then bounded by the number of feeds and the size of their bodies, not by how long it has run.
"""

from __future__ import annotations

BODY_FACTOR = 3
MINIMUM = 100


def entries_to_keep(body_entries: int) -> int:
    """Seen entries a feed keeps after a poll whose body held `body_entries` entries."""
    return max(MINIMUM, BODY_FACTOR * body_entries)
