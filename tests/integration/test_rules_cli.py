"""`wirewatch match` end to end: the real CLI as a subprocess on a text file, an HTML page
(extracted as the worker would), stdin and a URL on a real local server; exit 0/1/2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.httpserver import LocalServer, Response

ROOT = Path(__file__).resolve().parents[2]
SENTENCES = [
    "NATO leaders met in Madrid on Tuesday to discuss the alliance's eastern flank",
    "The summit agreed on a larger rapid reaction force for the coming years",
    "Officials said the decision followed months of negotiations between members",
    "Several governments promised to raise defence spending before the next meeting",
]
HTML = (
    "<!DOCTYPE html><html lang='en'><head><title>NATO summit in Madrid</title></head><body>"
    "<nav><a href='/'>Home</a> <a href='/sport'>Olympics</a></nav><article>"
    "<h1>NATO summit in Madrid</h1>"
    + "".join(f"<p>{sentence}.</p>" for sentence in SENTENCES)
    + "</article><footer>Olympics newsletter</footer></body></html>"
)


def wirewatch(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", "match", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "article.txt"
    path.write_text(
        "NATO’s summit\nLeaders said NATO plans eastward expansion.\n", encoding="utf-8"
    )
    return path


def test_text_file_match_prints_highlighted_hits(text_file: Path) -> None:
    run = wirewatch("--query", "NATO NEAR/5 expansion OR Taiwan", str(text_file))
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "MATCH query"
    assert lines[1:] == [
        "  body: 'NATO'  Leaders said [NATO] plans eastward expansion.",
        "  body: 'expansion'  Leaders said NATO plans eastward [expansion].",
    ]
    title = wirewatch("--query", "title:NATO", str(text_file))
    assert title.stdout.splitlines()[1:] == ["  title: 'NATO'  [NATO]’s summit"]


def test_text_file_without_match_exits_1(text_file: Path) -> None:
    run = wirewatch("--query", "senator", str(text_file))
    assert (run.returncode, run.stdout.strip()) == (1, "no match: query")


def test_html_file_is_extracted_like_the_worker_does(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(HTML, encoding="utf-8")
    found = wirewatch("--query", 'title:NATO "rapid reaction force" lang:en', str(page))
    assert found.returncode == 0, found.stdout + found.stderr
    assert "  title: 'NATO'" in found.stdout
    # navigation and footer are boilerplate the extraction drops
    assert wirewatch("--query", "Olympics", str(page)).returncode == 1


def test_stdin(text_file: Path) -> None:
    run = wirewatch("--query", "=NATO", "-", stdin="Summit\nNATO members met.\n")
    assert run.returncode == 0
    assert "body: 'NATO'" in run.stdout
    assert wirewatch("--query", "=NATO", "-", stdin="Summit\nNato members\n").returncode == 1


def test_url_on_a_local_server() -> None:
    with LocalServer() as server:
        url = server.route(
            "/news/nato", Response(200, HTML.encode(), {"Content-Type": "text/html"})
        )
        found = wirewatch("--query", "site:127.0.0.1 summit", url)
        missing = wirewatch("--query", "site:example.org summit", url)
        assert len(server.requests_to("/news/nato")) == 2
    assert found.returncode == 0, found.stdout + found.stderr
    assert "site: '127.0.0.1'" in found.stdout
    assert missing.returncode == 1


def test_url_that_fails_exits_2() -> None:
    with LocalServer() as server:
        url = server.route("/gone", Response(404, b"gone"))
        run = wirewatch("--query", "NATO", url)
    assert run.returncode == 2
    assert "wirewatch: error" in run.stderr


def test_query_error_exits_2_with_a_caret(text_file: Path) -> None:
    run = wirewatch("--query", "NATO AND (expansion", str(text_file))
    assert run.returncode == 2
    assert "unclosed '(' at position 9\n  NATO AND (expansion\n           ^" in run.stderr


def test_missing_file_exits_2(tmp_path: Path) -> None:
    assert wirewatch("--query", "NATO", str(tmp_path / "absent.txt")).returncode == 2


def test_watchlist_from_the_config(tmp_path: Path, text_file: Path) -> None:
    config = tmp_path / "wirewatch.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'data'}\n"
        "watchlists:\n"
        "  - {id: expansion, name: Expansion, query: 'NATO ONEAR/4 expansion', notify: []}\n"
        "  - {id: olympics, name: Olympics, query: 'olymp*', notify: []}\n",
        encoding="utf-8",
    )
    found = wirewatch("--config", str(config), "--watchlist", "expansion", str(text_file))
    assert (found.returncode, found.stdout.splitlines()[0]) == (0, "MATCH expansion")
    none = wirewatch("--config", str(config), "--watchlist", "olympics", str(text_file))
    assert none.returncode == 1
    unknown = wirewatch("--config", str(config), "--watchlist", "nope", str(text_file))
    assert unknown.returncode == 2
    assert "no watchlist with id 'nope'" in unknown.stderr
