"""``ao-tui --serve`` in a real browser: first screen after a page load, keypress echo.

    python bench/bench_serve.py [--loads 5] [--keys 200]

Starts ``ao-tui --serve --demo`` on 127.0.0.1 (a fresh ``$AO_HOME``) and Debian's
Chromium headless (tests/support/cdp.py), at 1280x800:

* first screen: from ``Page.navigate`` (the first visit, with ``?token=``: the
  redirect and cookie are included) to the session list on screen ("Needs you"
  in the frames the page received), each load a new app process (the one the
  server started ahead, its imports done; loads are 5 s apart so it is ready);
* keypress echo: ``j``/``k`` alternately in the list, from the key sent to the
  page (``Input.insertText``) to the next screen frame the page receives.

Prints figures; asserts nothing (docs/benchmarks.md records them).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.cdp import Chromium, Page, free_port  # noqa: E402


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _measure(url: str, loads: int, keys: int) -> None:
    with Chromium() as browser:
        page = await Page.open(browser)
        try:
            await page.set_size(1280, 800)
            firsts = []
            for _ in range(loads):
                await page.goto("about:blank")
                page.screen.reset()
                started = time.monotonic()
                await page.goto(url)
                await page.wait_for_text("Needs you", 30)
                firsts.append(time.monotonic() - started)
                await asyncio.sleep(5.0)  # a person opening the page: the next app process is ready by then
            print(f"first screen after page load ({loads} loads): median {statistics.median(firsts) * 1000:.0f} ms, "
                  f"max {max(firsts) * 1000:.0f} ms")
            await asyncio.sleep(2.0)
            await page.focus_terminal()
            echoes = []
            for n in range(keys):
                before = len(page.frames)
                sent = time.monotonic()
                await page.type("j" if n % 2 == 0 else "k")
                deadline = sent + 2.0
                while len(page.frames) == before and time.monotonic() < deadline:
                    await asyncio.sleep(0.001)
                if len(page.frames) > before:
                    echoes.append(page.frames[before] - sent)
                await asyncio.sleep(0.05)
            ms = [e * 1000 for e in echoes]
            print(f"keypress echo ({len(ms)} of {keys} keys): p50 {_percentile(ms, 0.5):.1f} ms, "
                  f"p99 {_percentile(ms, 0.99):.1f} ms, max {max(ms):.1f} ms")
        finally:
            await page.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--keys", type=int, default=200)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="ao-bench-serve-"))
    env = dict(os.environ, AO_HOME=str(home))
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "ao_tui.tui", "--serve", "--demo", "--port", str(port)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert server.stdout is not None
        server.stdout.readline()
        token = (home / "serve.token").read_text().strip()
        time.sleep(3)  # the demo's first sessions
        print(f"load average at start: {os.getloadavg()[0]:.1f}")
        asyncio.run(_measure(f"http://127.0.0.1:{port}/?token={token}", args.loads, args.keys))
        print(f"load average at end: {os.getloadavg()[0]:.1f}")
    finally:
        server.terminate()
        server.wait(20)


if __name__ == "__main__":
    main()
