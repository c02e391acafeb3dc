"""The dashboard's alerts page in Chromium with 10,000 alerts stored: time until its first rows
are shown, and the bytes it transfers (HTML, script, style sheet), from the browser's own
Performance API.

Starts its own embedded Redis unless given `--redis` (then it writes under a prefix of its own
and deletes only that), stores the alerts on the alerts stream exactly as workers do and indexes
them as the notifiers do (bench/api.py's helpers), starts a real `wirewatch web` process, signs
in through the form, then loads the alerts page RUNS times, each in a fresh browser context
(cold cache; the session cookie carried over). The baseline, loaded the same way in the same
run, is the sign-in page: the same script and style sheet and no data, so the ratio shows what
the rows cost.

Figures per load (medians printed):
- rows: the `wirewatch-alert-rows` mark the page's script sets once rows are in the page;
- FCP: first contentful paint (the rows come in the server's HTML, so they are painted then);
- DCL: domContentLoadedEventEnd;
- bytes: the navigation's plus every resource's transferSize (what came over the wire).

Goals (issue 15): first rows shown (the later of rows and FCP) <= 1 s; bytes <= 200 KB.
Needs Chromium at /usr/bin/chromium (or $WIREWATCH_CHROMIUM) and playwright (the test extra).
Prints a table and ends with one line holding a JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import redis
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.api import free_port, index_alerts, store_alerts, wait_up  # noqa: E402
from bench.benchredis import bench_redis  # noqa: E402
from worker.queue.keys import Keys  # noqa: E402

ALERTS = int(os.environ.get("BENCH_ALERTS", "10000"))
RUNS = int(os.environ.get("BENCH_RUNS", "7"))
TOKEN = "bench-dashboard-token-0123456789"
CHROMIUM = os.environ.get("WIREWATCH_CHROMIUM", "/usr/bin/chromium")
WATCHLISTS = ["nato", "taiwan", "olympics", "ukraine", "climate"]
GOAL_MS, GOAL_BYTES = 1000.0, 200 * 1024

MEASURE = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const rows = performance.getEntriesByName('wirewatch-alert-rows')[0];
  const fcp = performance.getEntriesByName('first-contentful-paint')[0];
  const resources = performance.getEntriesByType('resource');
  return {
    rows_ms: rows ? rows.startTime : null,
    fcp_ms: fcp ? fcp.startTime : null,
    dcl_ms: nav.domContentLoadedEventEnd,
    html_bytes: nav.transferSize,
    bytes: nav.transferSize + resources.reduce((sum, r) => sum + r.transferSize, 0),
    resources: resources.map(r => r.name.split('/').pop()),
    row_count: document.querySelectorAll('li.alert').length,
  };
}"""


def start_web(redis_url: str, prefix: str, port: int, directory: Path) -> subprocess.Popen[bytes]:
    config = {
        "redis_prefix": prefix,
        "data_dir": str(directory / "data"),
        "watchlists": [{"id": w, "query": w.upper()} for w in WATCHLISTS],
        "web": {
            "enabled": True,
            "listen": f"127.0.0.1:{port}",
            "tokens": [{"id": "bench", "token": TOKEN, "scope": "read"}],
        },
        "log": {"level": "warning", "format": "json"},
    }
    path = directory / "wirewatch.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {**os.environ, "REDIS_URL": redis_url}
    return subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "web", "--config", str(path)], env=env
    )


def load(browser: Any, url: str, cookies: list[dict[str, Any]], wait_for: str) -> dict[str, Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies(cookies)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(url, wait_until="load")
    page.wait_for_selector(wait_for)
    for _ in range(100):  # a polled evaluate: wait_for_function would need 'unsafe-eval'
        if page.evaluate("() => performance.getEntriesByName('first-contentful-paint').length"):
            break
        page.wait_for_timeout(50)
    figures: dict[str, Any] = page.evaluate(MEASURE)
    figures["errors"] = errors
    context.close()
    return figures


def sign_in(browser: Any, base: str) -> list[dict[str, Any]]:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/ui/signin")
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url("**/ui/alerts")
    cookies: list[dict[str, Any]] = context.cookies()
    context.close()
    return cookies


def median(rows: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in rows if r[key] is not None]
    return statistics.median(values) if values else float("nan")


def measure(base: str) -> dict[str, list[dict[str, Any]]]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            cookies = sign_in(browser, base)
            found: dict[str, list[dict[str, Any]]] = {"signin": [], "alerts": []}
            for _ in range(RUNS):  # interleaved, so both see the same load on the machine
                found["signin"].append(load(browser, f"{base}/ui/signin", [], "#token"))
                found["alerts"].append(load(browser, f"{base}/ui/alerts", cookies, "li.alert"))
            return found
        finally:
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis", help="a Redis URL (default: an embedded one of its own)")
    args = parser.parse_args()
    with bench_redis(args.redis) as target, tempfile.TemporaryDirectory() as tmp:
        client = redis.Redis.from_url(target.url, decode_responses=True)
        keys = Keys(target.prefix)
        try:
            store_alerts(client, keys, ALERTS)
            index_alerts(client, keys)
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            web = start_web(target.url, target.prefix, port, Path(tmp))
            try:
                wait_up(base)
                found = measure(base)
            finally:
                web.terminate()
                web.wait(timeout=30)
        finally:
            target.clear(client)
            client.close()
    report(found)


def report(found: dict[str, list[dict[str, Any]]]) -> None:
    print(f"alerts page with {ALERTS:,} alerts stored; {RUNS} cold loads each, medians")
    header = f"{'page':<22} {'rows ms':>8} {'FCP ms':>8} {'DCL ms':>8} {'HTML B':>8} {'total B':>8} {'rows':>5}"
    print(header)
    for name, label in (("signin", "sign-in (baseline)"), ("alerts", "alerts")):
        rows = found[name]
        print(
            f"{label:<22} {median(rows, 'rows_ms'):>8.0f} {median(rows, 'fcp_ms'):>8.0f}"
            f" {median(rows, 'dcl_ms'):>8.0f} {median(rows, 'html_bytes'):>8.0f}"
            f" {median(rows, 'bytes'):>8.0f} {median(rows, 'row_count'):>5.0f}"
        )
    alerts, signin = found["alerts"], found["signin"]
    shown = statistics.median(max(r["rows_ms"] or 0, r["fcp_ms"] or 0) for r in alerts)
    total = median(alerts, "bytes")
    errors = sorted({e for r in alerts + signin for e in r["errors"]})
    fcp_ratio = median(alerts, "fcp_ms") / median(signin, "fcp_ms")
    print(
        f"first rows shown {shown:.0f} ms (goal <= {GOAL_MS:.0f}): "
        f"{'met' if shown <= GOAL_MS else 'NOT met'}; "
        f"{total / 1024:.1f} KB transferred (goal <= 200 KB): "
        f"{'met' if total <= GOAL_BYTES else 'NOT met'}; FCP x{fcp_ratio:.2f} the sign-in page's"
    )
    print(f"resources: {sorted(set(alerts[0]['resources']))}; console errors: {errors or 'none'}")
    figures = {
        "alerts_stored": ALERTS,
        "runs": RUNS,
        "first_rows_ms": round(shown),
        "alerts_fcp_ms": round(median(alerts, "fcp_ms")),
        "alerts_rows_mark_ms": round(median(alerts, "rows_ms")),
        "signin_fcp_ms": round(median(signin, "fcp_ms")),
        "fcp_ratio": round(fcp_ratio, 2),
        "alerts_bytes": round(total),
        "alerts_html_bytes": round(median(alerts, "html_bytes")),
        "console_errors": len(errors),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
