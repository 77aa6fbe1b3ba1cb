"""A full disk is an error with one clear line and leaves nothing behind: the index folder lives on a small
tmpfs (mounted here, as root), filled so that each write of a save fails in turn; the previous build stays
current and verified, and the next build after space is freed succeeds. Where mounting is not permitted
the tests skip and say so (CI runs as root, where they run)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa_service.index import IndexNotSaved, build_index, current_build, ensure_index, load_index

from .helpers import MODEL_CACHE, ROOT, FakeEncoder

PAGE = 4096


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs, unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; run as root (CI does) to test a full disk")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here ({done.stderr.strip()}); a full disk is not tested")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(mount: Path, leave_pages: int) -> Path:
    """A file that leaves ``leave_pages`` pages free on the disk."""
    filler = mount / "filler"
    filler.unlink(missing_ok=True)
    stat = os.statvfs(mount)
    with open(filler, "wb") as fh:
        fh.write(b"\0" * max(0, stat.f_bavail * stat.f_frsize - leave_pages * PAGE))
    return filler


def _state(index_dir: Path) -> tuple[list[str], list[str]]:
    """What the index folder holds: its entries, and those of builds/."""
    return sorted(p.name for p in index_dir.iterdir()), sorted(p.name for p in (index_dir / "builds").iterdir())


def test_a_full_disk_at_each_step_of_a_save_leaves_nothing_behind(fake_settings, small_disk):
    settings = fake_settings.replace(index_dir=small_disk / "index")
    first = ensure_index(settings, FakeEncoder())
    expected_state = (sorted([".lock", "CURRENT", "builds"]), [first.build])
    assert _state(settings.index_dir) == expected_state
    failed_at: list[str] = []
    for pages in range(0, 64):
        filler = _fill(small_disk, pages)
        try:
            build_index(settings, FakeEncoder())
        except IndexNotSaved as exc:
            message = str(exc)
            assert message.startswith(f"no space left on device while writing the index to {settings.index_dir}")
            assert message.endswith("free space and run `qa-service build`") and "\n" not in message
            failed_at.append(Path(exc.__cause__.filename).name)
        else:
            break
        finally:
            filler.unlink()
        # Nothing of the failed save is left, and the previous build is current and verifies.
        assert _state(settings.index_dir) == expected_state, failed_at[-1]
        assert current_build(settings.index_dir).name == first.build
        assert load_index(settings.index_dir, settings).manifest.passages == 15
    else:
        pytest.fail("the build never fitted")
    steps = set(failed_at)
    for step in ("passages.jsonl", "documents.json", "arrays.npz", "windows.npy", "manifest.json", "CURRENT"):
        assert step in steps, (step, failed_at)
    assert any("vector store" in step for step in steps), failed_at
    # The loop ended on a build that fitted once space was there: it is current, and only two builds remain.
    assert current_build(settings.index_dir).name != first.build
    assert load_index(settings.index_dir, settings).manifest.passages == 15


def _cli(args: list[str], settings, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "QA_CORPUS_DIR": str(settings.corpus_dir),
        "QA_INDEX_DIR": str(settings.index_dir),
        "QA_MODEL_CACHE_DIR": str(MODEL_CACHE),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        **(extra_env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "qa_service", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_build_and_serve_on_a_full_disk_say_so_in_one_line(fake_settings, small_disk):
    settings = fake_settings.replace(index_dir=small_disk / "index")
    filler = _fill(small_disk, 0)
    try:
        built = _cli(["build"], settings)
        assert built.returncode != 0
        assert "Traceback" not in built.stderr, built.stderr
        errors = [line for line in built.stderr.splitlines() if "no space left on device" in line]
        assert len(errors) == 1 and "free space and run `qa-service build`" in errors[0], built.stderr

        served = _cli(["serve", "--port", "1"], settings, {"QA_REBUILD": "auto"})
        assert served.returncode != 0
        assert "Traceback" not in served.stderr and "Booting worker" not in served.stderr, served.stderr
        lines = [line for line in served.stderr.splitlines() if "cannot start:" in line]
        assert len(lines) == 1 and "no space left on device" in lines[0], served.stderr
        assert not list((settings.index_dir / "builds").iterdir())
    finally:
        filler.unlink()
    built = _cli(["build"], settings)  # space freed: the next build succeeds
    assert built.returncode == 0, built.stderr
    assert load_index(settings.index_dir).manifest.passages == 15
