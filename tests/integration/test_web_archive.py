"""The archive's API calls over real HTTP: `GET /api/v1/search` and `POST /api/v1/backtest`
answer exactly what the archive's own functions (and so the CLI) answer."""

from __future__ import annotations

import time
from pathlib import Path

from tests.support.archive import article
from tests.support.web import RunningWeb, web_settings
from worker.archive.search import backtest, search
from worker.archive.sqlite import SqliteArchive

NOW = time.time()
TEXTS = [
    ("NATO summit opens in Vilnius", "Leaders of NATO meet to discuss expansion and Ukraine."),
    ("Senator speaks on budget", "The senator outlined the budget for the coming year."),
    ("NATO expansion debated", "Finland and Sweden joined NATO; expansion is debated again."),
    ("Olympic games open", "The winter games open with a ceremony in the mountains."),
]


def filled_archive(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    store = SqliteArchive(data_dir / "archive.sqlite3")
    try:
        records = [
            article(n, NOW - 3600 * (n + 1), title=title, text=text, story=f"st_{n % 3}")
            for n, (title, text) in enumerate(TEXTS)
        ]
        store.add(records)
    finally:
        store.close()


def test_search_and_backtest_answer_as_the_archive_does(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    data_dir = tmp_path / "data"
    filled_archive(data_dir)
    settings = web_settings(redis_url, prefix, data_dir=str(data_dir))
    with RunningWeb(settings) as web:
        found = web.get("/api/v1/search", params={"q": "NATO", "since": "1d"})
        tried = web.call("POST", "/api/v1/backtest", json={"query": "NATO", "since": "1d",
                                                          "against": "expansion"})  # fmt: skip
        broken = web.get("/api/v1/search", params={"q": "NATO AND ("})
        anonymous = web.get("/api/v1/search", token=None, params={"q": "NATO"})

    store = SqliteArchive(data_dir / "archive.sqlite3")
    try:
        expected_search = search(store, "NATO", NOW - 86400).as_dict()
        expected_backtest = backtest(store, "NATO", NOW - 86400, against="expansion").as_dict()
    finally:
        store.close()
    assert found.status_code == 200
    titles = [hit["title"] for hit in found.json()["results"]]
    assert titles == ["NATO summit opens in Vilnius", "NATO expansion debated"]
    assert found.json()["results"] == expected_search["results"]
    assert tried.status_code == 200
    assert tried.json()["per_day"] == expected_backtest["per_day"]
    assert broken.status_code == 422 and broken.json()["error"] == "invalid_query"
    assert anonymous.status_code == 401


def test_with_the_archive_off_the_calls_say_so(tmp_path: Path, redis_url: str, prefix: str) -> None:
    off = web_settings(redis_url, prefix, data_dir=str(tmp_path), archive={"enabled": False})
    with RunningWeb(off) as web:
        found = web.get("/api/v1/search", params={"q": "NATO"})
        tried = web.call("POST", "/api/v1/backtest", json={"query": "NATO"})
    assert (found.status_code, found.json()["error"]) == (404, "archive_disabled")
    assert (tried.status_code, tried.json()["error"]) == (404, "archive_disabled")
