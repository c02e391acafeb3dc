"""Checks that span entries: duplicate feed URLs and ids, notify lists naming unknown webhooks
(a watchlist's `notify`, and `scheduler.unhealthy_notify`).

They read the raw merged data rather than validated models so they still run, and report, when
some other entry is invalid; each problem names the line of the offending value.
"""

from __future__ import annotations

from collections.abc import Iterator

from worker.config.problems import DataPath, Origin, Problem, locate
from worker.config.yamlsource import Document


def cross_check(document: Document, default: Origin) -> list[Problem]:
    """Every cross-entry problem in `document`."""
    checker = _Checker(document, default)
    checker.duplicates("feeds", "url", "feed URL")
    checker.duplicates("watchlists", "id", "watchlist id")
    checker.duplicates("webhooks", "id", "webhook id")
    checker.notify_targets()
    return checker.problems


class _Checker:
    def __init__(self, document: Document, default: Origin) -> None:
        self.document = document
        self.default = default
        self.problems: list[Problem] = []

    def _add(self, path: DataPath, message: str) -> None:
        self.problems.append(Problem(self._origin(path), path, message))

    def _origin(self, path: DataPath) -> Origin:
        return locate(self.document.origins, path, self.default)

    def _values(self, section: str, key: str) -> Iterator[tuple[DataPath, str]]:
        """(path, stripped value) of each string `key` in list `section`."""
        entries = self.document.data.get(section)
        for index, entry in enumerate(entries if isinstance(entries, list) else []):
            value = entry.get(key) if isinstance(entry, dict) else None
            if isinstance(value, str):
                yield (section, index, key), value.strip()

    def duplicates(self, section: str, key: str, what: str) -> None:
        first: dict[str, DataPath] = {}
        for path, value in self._values(section, key):
            if value in first:
                where = self._origin(first[value])
                self._add(path, f"duplicate {what} {value!r}; first defined at {where}")
            first.setdefault(value, path)

    def notify_targets(self) -> None:
        watchlists = self.document.data.get("watchlists")
        for index, entry in enumerate(watchlists if isinstance(watchlists, list) else []):
            notify = entry.get("notify") if isinstance(entry, dict) else None
            self._check_targets(("watchlists", index, "notify"), notify)
        scheduler = self.document.data.get("scheduler")
        if isinstance(scheduler, dict):
            self._check_targets(
                ("scheduler", "unhealthy_notify"), scheduler.get("unhealthy_notify")
            )

    def _check_targets(self, where: DataPath, notify: object) -> None:
        known = {value for _, value in self._values("webhooks", "id")}
        listed = ", ".join(sorted(known)) or "none are defined"
        for position, target in enumerate(notify if isinstance(notify, list) else []):
            if isinstance(target, str) and target not in known:
                path: DataPath = (*where, position)
                self._add(path, f"unknown webhook id {target!r} (webhooks: {listed})")
