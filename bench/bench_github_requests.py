"""GitHub SCM: requests an hour that count against the rate limit, 50 open PRs, nothing changing.

    python bench/bench_github_requests.py [--prs 50] [--rounds 120] [--interval 30]

Runs the real ``GitHubSCM`` (real PyGithub, real HTTP) against the local fake
GitHub (``tests/support/github_server.py``, 127.0.0.1 only), which answers as
GitHub does: ``304 Not Modified`` to a matching ``If-None-Match`` without
spending the budget, everything else spends one request.

The engine calls ``pr_status`` for every PR every ``poll_interval`` (30 s for
GitHub). Nothing sleeps here: the SCM's clock is moved ``--interval`` seconds
per round, so 120 rounds are an hour as the SCM sees it. Each PR has a passing
check run, a commit status and an approval, so every resource ao reads exists.

Printed: the warm-up round (the first look at every PR after the engine starts),
then per hour of steady polling: requests that count against the rate limit,
all requests, and 304s; and for comparison the same hour polled naively with
PyGithub (no ETags: five GETs per PR per round), measured on one round.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ao_tui.models import CheckState, PullRequest, ReviewState  # noqa: E402
from ao_tui.slots.base import PluginContext  # noqa: E402
from tests.support.github_server import FakeGitHub  # noqa: E402

REPO = "acme/widgets"
TOKEN = "bench-token"


def build(fake: FakeGitHub, prs: int, ao_home: Path) -> list[PullRequest]:
    from ao_tui_plugins.scm_github import GitHubSCM

    opener = GitHubSCM(PluginContext(ao_home=ao_home / "opener", options={"repo": REPO, "base_url": fake.url,
                                                                 "seconds_between_writes": 0}))
    opened = []
    for i in range(prs):
        branch = f"ao/s-{i}"
        sha = fake.push(REPO, branch)
        opened.append(opener.open_pr(Path("."), Path("."), branch, "main", f"Task {i}", "body"))
        fake.add_check_run(REPO, sha, "tests", conclusion="success")
        fake.add_status(REPO, sha, "ci/lint", "success", "ok")
        fake.add_review(REPO, opened[-1].number or 0, "reviewer", "APPROVED", "lgtm")
    return opened


def measure(prs: int, rounds: int, interval: float, options: dict[str, object]) -> dict[str, float]:
    from ao_tui_plugins import _github_client
    from ao_tui_plugins.scm_github import GitHubSCM

    _github_client._clients.clear()
    ao_home = Path(tempfile.mkdtemp(prefix="ao-bench-github-"))
    with FakeGitHub(token=TOKEN) as fake:
        fake.add_repo(REPO)
        opened = build(fake, prs, ao_home)
        clock = SimpleNamespace(now=1_000_000.0)

        def new_scm() -> GitHubSCM:
            scm = GitHubSCM(PluginContext(ao_home=ao_home, options={"repo": REPO, "base_url": fake.url, **options}))
            scm.clock = lambda: clock.now
            return scm

        scm = new_scm()

        def one_round() -> float:
            clock.now += interval
            started = time.perf_counter()
            statuses = [scm.pr_status(Path("."), Path("."), pr) for pr in opened]
            elapsed = time.perf_counter() - started
            assert all(s.ci is CheckState.PASSED and s.review is ReviewState.APPROVED for s in statuses)
            return elapsed

        fake.reset_requests()
        warm_time = one_round()
        warm = fake.stats()
        fake.reset_requests()
        times, per_round = [], []
        for _ in range(rounds):
            before = len(fake.requests)
            times.append(one_round())
            per_round.append(len(fake.requests) - before)
        steady = fake.stats()
        assert not any(r.host and not r.host.startswith("127.0.0.1:") for r in fake.requests)
        # a restart: the cache written at exit is read back by a new client and SCM
        scm.client.save()
        _github_client._clients.clear()
        scm = new_scm()
        fake.reset_requests()
        restart_time = one_round()
        restart = fake.stats()
    shutil.rmtree(ao_home, ignore_errors=True)
    hours = rounds * interval / 3600
    return {"warm_counted": warm["counted"], "warm_total": warm["total"], "warm_s": warm_time,
            "restart_counted": restart["counted"], "restart_total": restart["total"], "restart_s": restart_time,
            "counted_per_hour": steady["counted"] / hours, "total_per_hour": steady["total"] / hours,
            "not_modified_per_hour": steady["not_modified"] / hours,
            "round_median_ms": statistics.median(times) * 1000, "round_max_ms": max(times) * 1000,
            "round_max_requests": max(per_round), "round_median_requests": statistics.median(per_round)}


def naive_round(prs: int) -> int:
    """What one round costs polled with plain PyGithub, no conditional requests."""
    from github import Auth, Github

    ao_home = Path(tempfile.mkdtemp(prefix="ao-bench-github-"))
    with FakeGitHub(token=TOKEN) as fake:
        fake.add_repo(REPO)
        opened = build(fake, prs, ao_home)
        shutil.rmtree(ao_home, ignore_errors=True)
        gh = Github(base_url=fake.url, auth=Auth.Token(TOKEN), retry=None, seconds_between_requests=None, lazy=True)
        repo = gh.get_repo(REPO)
        fake.reset_requests()
        for pr in opened:
            pull = repo.get_pull(pr.number or 0)
            _ = pull.mergeable
            list(pull.get_reviews())
            list(pull.get_review_comments())
            commit = repo.get_commit(pull.head.sha)
            list(commit.get_check_runs())
            commit.get_combined_status()
        return fake.stats()["counted"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prs", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=120)
    parser.add_argument("--interval", type=float, default=30.0)
    args = parser.parse_args()
    os.environ["GITHUB_TOKEN"] = TOKEN

    ao = measure(args.prs, args.rounds, args.interval, {"seconds_between_writes": 0})
    etag_only = measure(args.prs, max(10, args.rounds // 12), args.interval,
                        {"seconds_between_writes": 0, "list_max_age": 0, "detail_max_age": 0})
    naive = naive_round(args.prs) * (3600 / args.interval)

    print(f"{args.prs} open PRs, nothing changing, pr_status for each every {args.interval:g} s "
          f"({args.rounds} rounds = {args.rounds * args.interval / 3600:g} h simulated)")
    print(f"warm-up round (first look after start): {ao['warm_counted']} counted / {ao['warm_total']} requests, "
          f"{ao['warm_s'] * 1000:.0f} ms")
    print(f"first round after a restart (ETag cache read from disk): {ao['restart_counted']} counted / "
          f"{ao['restart_total']} requests, {ao['restart_s'] * 1000:.0f} ms")
    print(f"ao (ETags + one open-PR list per round): {ao['counted_per_hour']:.0f} counted/h, "
          f"{ao['total_per_hour']:.0f} requests/h ({ao['not_modified_per_hour']:.0f} of them 304), "
          f"round median {ao['round_median_ms']:.1f} ms / {ao['round_median_requests']:g} requests, "
          f"busiest {ao['round_max_ms']:.0f} ms / {ao['round_max_requests']} requests")
    print(f"ETags only (every PR's five resources every round): {etag_only['counted_per_hour']:.0f} counted/h, "
          f"{etag_only['total_per_hour']:.0f} requests/h, round median {etag_only['round_median_ms']:.0f} ms")
    print(f"plain PyGithub, no ETags: {naive:.0f} counted/h")
    print(f"target: < 60 counted/h -> {'OK' if ao['counted_per_hour'] < 60 else 'MISSED'}")


if __name__ == "__main__":
    main()
