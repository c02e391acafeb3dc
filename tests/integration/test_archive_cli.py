"""`wirewatch search`, `backtest`, `alerts` and the archive filled by `run --once`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import redis

from tests.support.archive import article
from tests.support.cli import run_cli, write_config
from tests.support.httpserver import LocalServer
from tests.support.site import Receiver, mount_seed_site
from worker.alerts.index import AlertIndex
from worker.archive.sqlite import SqliteArchive
from worker.queue.keys import Keys


def fill(data_dir: Path) -> float:
    now = time.time()
    store = SqliteArchive(data_dir / "archive.sqlite3")
    store.add(
        [
            article(
                1, now - 3 * 86400, title="NATO summit", text="Allies met.", watchlists=("nato",)
            ),
            article(2, now - 3600, title="Taiwan strait", text="NATO watches the strait."),
            article(3, now - 60, title="Olympics open", text="The games began in Milan."),
            article(4, now - 30, title="NATO again", text="More on NATO", story="st_2"),
        ]
    )
    store.close()
    return now


def test_search_prints_newest_first_with_snippets_and_json(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    config = write_config(tmp_path, prefix, [])
    fill(tmp_path / "data")
    text = run_cli("search", "NATO", "--config", str(config), redis_url=redis_url)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].split("  ")[1] == "NATO again"
    assert any("NATO watches the strait" in line for line in lines)
    assert lines[-1].startswith("3 result(s)")
    recent = run_cli(
        "search", "NATO", "--since", "2h", "--json", "--config", str(config), redis_url=redis_url
    )
    found = json.loads(recent.stdout)
    assert [r["article_id"] for r in found["results"]] == ["a4", "a2"]
    assert found["results"][1]["matches"][0]["text"] == "NATO"
    only = run_cli(
        "search",
        "NATO",
        "--watchlist",
        "nato",
        "--json",
        "--config",
        str(config),
        redis_url=redis_url,
    )
    assert [r["article_id"] for r in json.loads(only.stdout)["results"]] == ["a1"]


def test_a_bad_query_exits_2_with_its_position(tmp_path: Path, redis_url: str, prefix: str) -> None:
    config = write_config(tmp_path, prefix, [])
    bad = run_cli("search", "NATO AND (", "--config", str(config), redis_url=redis_url)
    assert bad.returncode == 2
    assert "query error" in bad.stderr and "^" in bad.stderr
    unknown = run_cli(
        "backtest", "--watchlist", "nope", "--config", str(config), redis_url=redis_url
    )
    assert unknown.returncode == 2
    assert "no watchlist with id 'nope'" in unknown.stderr


def test_backtest_of_a_watchlist_against_a_draft(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    config = write_config(tmp_path, prefix, [])
    fill(tmp_path / "data")
    result = run_cli(
        "backtest",
        "--watchlist",
        "nato",
        "--against",
        "Olympics OR strait",
        "--json",
        "--config",
        str(config),
        redis_url=redis_url,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["query"] == 'NATO OR "North Atlantic Treaty"'
    assert (report["articles"], report["stories"], report["alerts"]) == (3, 2, 2)
    assert sum(day["articles"] for day in report["per_day"]) == 3
    assert {a["story_id"] for a in report["gained"]} == {"st_1"}
    assert {a["story_id"] for a in report["lost"]} == {"st_3"}
    text = run_cli(
        "backtest", "--query", "NATO", "--since", "1d", "--config", str(config), redis_url=redis_url
    )
    assert "2 matching article(s) in 1 stor(ies); 1 alert(s) would have been sent" in text.stdout


def test_run_once_archives_every_article_and_search_agrees_with_the_alerts(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    site = mount_seed_site(server)
    receiver = Receiver()
    config = write_config(tmp_path, prefix, [site["feed"]], server.route("/hook", receiver))
    result = run_cli("run", "--once", "--config", str(config), redis_url=redis_url)
    assert result.returncode == 0, result.stderr
    store = SqliteArchive(tmp_path / "data" / "archive.sqlite3")
    try:
        stored = list(store.candidates(None, 0))
    finally:
        store.close()
    assert len(stored) >= 3
    assert any(r.title == "Local weather" or "weather" in r.url for r in stored)
    alerted_nato = {r.canonical_url for r in stored if "nato" in r.watchlists}
    found = run_cli(
        "search",
        "--json",
        "--config",
        str(config),
        'NATO OR "North Atlantic Treaty"',
        redis_url=redis_url,
    )
    assert {r["url"] for r in json.loads(found.stdout)["results"]} == alerted_nato
    state = json.loads(
        run_cli("status", "--json", "--config", str(config), redis_url=redis_url).stdout
    )
    assert state["archive"]["length"] == len(stored)
    assert (state["archive"]["pending"], state["archive"]["undelivered"]) == (0, 0)
    recent = run_cli("alerts", "--json", "--config", str(config), redis_url=redis_url)
    alerts = [json.loads(line) for line in recent.stdout.splitlines()]
    assert sorted(a["watchlist"] for a in alerts) == ["nato", "olympics", "olympics", "taiwan"]
    assert all(a["type"] == "alert.created" and a["url"] for a in alerts)
    nato = run_cli("alerts", "--watchlist", "nato", "--config", str(config), redis_url=redis_url)
    assert nato.stdout.splitlines()[-1] == "1 alert(s)"


def test_alerts_since_and_watchlist_filters(
    tmp_path: Path, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    config = write_config(tmp_path, prefix, [])
    stream = Keys(prefix).alerts_stream
    now_ms = int(time.time() * 1000)
    for age_h, watchlist in [(30, "nato"), (2, "taiwan"), (1, "nato")]:
        data = {
            "alert_id": f"al_{age_h}",
            "watchlist": {"id": watchlist, "name": watchlist},
            "article": {"title": f"{age_h}h old", "url": f"https://x.example/{age_h}"},
            "story": {"id": f"st_{age_h}"},
        }
        body = json.dumps({"type": "alert.created", "timestamp": "t", "data": data})
        client.xadd(stream, {"notify": "[]", "body": body}, id=f"{now_ms - age_h * 3_600_000}-0")
    client.xadd(stream, {"notify": "[]", "body": "not json"})
    # indexed as a notifier takes them off the stream (a malformed one is skipped)
    AlertIndex(client, Keys(prefix), 30 * 86400, 1000).ingest(client.xrange(stream))
    day = run_cli("alerts", "--json", "--config", str(config), redis_url=redis_url)
    assert [json.loads(line)["id"] for line in day.stdout.splitlines()] == ["al_1", "al_2"]
    week = run_cli(
        "alerts",
        "--since",
        "7d",
        "--watchlist",
        "nato",
        "--json",
        "--config",
        str(config),
        redis_url=redis_url,
    )
    assert [json.loads(line)["title"] for line in week.stdout.splitlines()] == ["1h old", "30h old"]


def test_run_supervises_the_archiver_unless_the_archive_is_off(tmp_path: Path) -> None:
    from worker.cli.roles import supervised_roles
    from worker.config import load_config

    on = load_config(write_config(tmp_path, "p", []), {})
    assert supervised_roles(on) == ("scheduler", "worker", "notifier", "archiver")
    off = load_config(write_config(tmp_path, "p", [], archive={"enabled": False}), {})
    assert "archiver" not in supervised_roles(off)
