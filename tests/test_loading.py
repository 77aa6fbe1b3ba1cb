"""The load-or-rebuild path with Milvus Lite: a new process uses the build as it is (no rebuild), and a
store that cannot be opened now is unavailable, never a reason to drop the collection and rebuild."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from qa_service.index import IndexUnavailable, current_build, ensure_index

from .helpers import ROOT, FakeEncoder

CHILD_ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _milvus_settings(fake_settings):
    return fake_settings.replace(vector_store="milvus", milvus_collection="loading_windows", index_poll_seconds=0)


def test_a_new_process_uses_a_milvus_lite_build_without_rebuilding_it(fake_settings):
    settings = _milvus_settings(fake_settings)
    data = ensure_index(settings, FakeEncoder())
    data.vectors.close()
    build = current_build(settings.index_dir).name
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from qa_service.settings import Settings
        from qa_service.index import ensure_index
        from tests.helpers import FakeEncoder
        settings = Settings(corpus_dir=Path({str(settings.corpus_dir)!r}), index_dir=Path({str(settings.index_dir)!r}),
                            vector_store="milvus", milvus_collection="loading_windows", rebuild="never")
        data = ensure_index(settings, FakeEncoder())
        print(data.build, data.vectors.size)
        data.vectors.close()
        """
    )
    for _ in range(2):  # the second run finds the file free again: the first released its lock
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=CHILD_ENV)
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.split() == [build, str(data.manifest.windows)]
    assert current_build(settings.index_dir).name == build


def test_a_locked_milvus_lite_file_is_unavailable_and_nothing_is_rebuilt(fake_settings):
    settings = _milvus_settings(fake_settings)
    data = ensure_index(settings, FakeEncoder())
    data.vectors.close()
    build = current_build(settings.index_dir).name
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom pymilvus import MilvusClient\nMilvusClient(sys.argv[1])\n"
            "print('held', flush=True)\ntime.sleep(120)\n",
            settings.resolved_milvus_uri(),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=CHILD_ENV,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(IndexUnavailable, match="retry"):
            ensure_index(settings, FakeEncoder())
    finally:
        holder.kill()
        holder.wait()
    assert current_build(settings.index_dir).name == build
    again = ensure_index(settings.replace(rebuild="never"), FakeEncoder())
    assert again.build == build and again.vectors.size == data.manifest.windows
    again.vectors.close()
