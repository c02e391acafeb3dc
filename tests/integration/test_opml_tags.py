"""An OPML round trip keeps each feed's tags: export writes `category`, import reads it."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.support.cli import run_cli, write_config
from worker.feeds.opml import FeedEntry, parse_opml, to_opml


def test_tags_survive_to_opml_and_back() -> None:
    feeds = [FeedEntry("https://a.example/rss", "A", ("world", "wire")), FeedEntry("http://b/")]
    assert [f.tags for f in parse_opml(to_opml(feeds))] == [("world", "wire"), ()]


def test_category_paths_and_folders_both_become_tags() -> None:
    opml = b"""<opml version="2.0"><head/><body><outline text="News">
      <outline text="A" xmlUrl="https://a.example/rss" category="/Boston/Weather, tech,,News"/>
    </outline></body></opml>"""
    assert parse_opml(opml) == [
        FeedEntry("https://a.example/rss", "A", ("News", "Boston/Weather", "tech"))
    ]


def test_export_then_import_through_the_cli_keeps_tags(tmp_path: Path, prefix: str) -> None:
    source = tmp_path / "source"
    source.mkdir()
    write_config(source, prefix, [])
    tagged = {"url": "https://a.example/rss", "name": "A", "tags": ["world", "wire"]}
    (source / "more.yaml").write_text(yaml.safe_dump({"feeds": [tagged]}), encoding="utf-8")
    target = tmp_path / "target"
    target.mkdir()
    write_config(target, prefix, [])

    exported = run_cli("feeds", "export", "--config", str(source))
    opml = tmp_path / "out.opml"
    opml.write_text(exported.stdout, encoding="utf-8")
    imported = run_cli("feeds", "import", str(opml), "--config", str(target))

    assert exported.returncode == 0 and imported.returncode == 0, imported.stderr
    written = yaml.safe_load((target / "feeds-imported.yaml").read_text(encoding="utf-8"))
    assert written == {"feeds": [tagged]}
