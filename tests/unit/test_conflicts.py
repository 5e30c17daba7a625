"""Predicting what merging two commits does, with real git in a temporary repository."""

from __future__ import annotations

from pathlib import Path

from ao_tui.conflicts import Predictor, conflict_hunks, describe_hunks
from tests.support.gitrepo import git


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "t@example.invalid")
    git(repo, "config", "user.name", "T")
    (repo / "app.py").write_text("def f(x):\n    return x\n")
    (repo / "café.txt").write_text("one\n")
    (repo / "gone.txt").write_text("here\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    return repo


def _branch(repo: Path, name: str, files: dict[str, str | None]) -> str:
    git(repo, "switch", "-qc", name, "main")
    for path, text in files.items():
        if text is None:
            git(repo, "rm", "-q", path)
        else:
            (repo / path).write_text(text)
            git(repo, "add", path)
    git(repo, "commit", "-qm", name)
    git(repo, "switch", "-q", "main")
    return git(repo, "rev-parse", name)


def test_content_conflicts_come_with_both_sides_of_each_hunk_and_any_file_name(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    a = _branch(repo, "a", {"app.py": "def f(x):\n    return x + 1\n", "café.txt": "two\n", "gone.txt": "edited\n"})
    b = _branch(repo, "b", {"app.py": "def f(x):\n    return x * 2\n", "café.txt": "three\n", "gone.txt": None})
    c = _branch(repo, "c", {"other.txt": "new\n"})
    p = Predictor(repo)
    result = p.predict(a, b)
    assert result.files == ["app.py", "café.txt", "gone.txt"]
    by_path = {c["path"]: c for c in result.conflicts}
    assert by_path["app.py"]["hunks"] == [{"line": 2, "ours": ["    return x + 1"], "theirs": ["    return x * 2"]}]
    assert by_path["café.txt"]["hunks"][0]["theirs"] == ["three"]
    assert "modify/delete" in by_path["gone.txt"]["message"]
    assert p.predict(a, c).files == [] and p.predict(a, c).conflicts == []  # nothing in common
    text = describe_hunks(result.conflicts, "s-1", "s-2")
    assert "app.py (around line 2" in text and "s-1:\n        return x + 1" in text and "gone.txt: CONFLICT" in text


def test_same_files_changed_the_same_way_overlap_without_conflict(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    a = _branch(repo, "a", {"app.py": "def f(x):\n    return x\n\n\ndef g():\n    pass\n"})
    b = _branch(repo, "b", {"app.py": "# header\ndef f(x):\n    return x\n"})
    result = Predictor(repo).predict(a, b)
    assert result.files == ["app.py"] and result.conflicts == []


def test_conflict_hunks_reads_diff3_blocks_and_stops_at_a_limit() -> None:
    text = "\n".join(["x", "<<<<<<< a", "ours", "||||||| base", "old", "=======", "theirs", ">>>>>>> b", "y"])
    assert conflict_hunks(text) == [{"line": 2, "ours": ["ours"], "theirs": ["theirs"]}]
    many = "\n".join(["<<<<<<< a", "o", "=======", "t", ">>>>>>> b"] * 9)
    assert len(conflict_hunks(many)) == 5


def test_a_retired_sessions_branch_leaves_nothing_behind_in_the_conflict_watch(tmp_path: Path) -> None:
    """A long run must not keep each gone session's changed files or head order (issue 16's soak)."""
    from ao_tui.conflicts import ConflictWatch
    from ao_tui.models import Session, SessionStatus
    from ao_tui.store import Store

    repo = _repo(tmp_path)
    _branch(repo, "ao/a", {"app.py": "def f(x):\n    return x + 1\n"})
    _branch(repo, "ao/b", {"app.py": "def f(x):\n    return x + 2\n"})
    watch = ConflictWatch(Store(tmp_path / "ao.sqlite3"))
    a = Session(id="a", project="demo", branch="ao/a", workspace=str(tmp_path / "ws-a"), status=SessionStatus.WORKING)
    b = Session(id="b", project="demo", branch="ao/b", workspace=str(tmp_path / "ws-b"), status=SessionStatus.WORKING)
    watch.scan("demo", repo, "main", [a, b])
    predictor = watch.predictor(repo)
    b_sha = git(repo, "rev-parse", "ao/b")
    assert any(sha == b_sha for _, sha in predictor._sides) and "b" in watch._seen["demo"]

    git(repo, "branch", "-qD", "ao/b")  # b was retired: its branch is gone
    b.status = SessionStatus.DONE
    watch.scan("demo", repo, "main", [a, b])
    assert not any(sha == b_sha for _, sha in predictor._sides)
    assert "b" not in watch._seen["demo"] and "a" in watch._seen["demo"]
