"""A build's manifest (what it holds and what it was built from) and what can be wrong with a build."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

FORMAT_VERSION = 2


class IndexProblem(Exception):
    """Base class of everything that can be wrong with a built index."""


class IndexMissing(IndexProblem):
    """No built index exists yet."""


class IndexCorrupt(IndexProblem):
    """A built index exists but its files are damaged, incomplete or inconsistent."""


class IndexUnavailable(IndexProblem):
    """The build is intact but its vector store cannot be reached now (a Milvus server that is down, a
    Milvus Lite file another process holds): an error to report and retry, never a reason to rebuild."""


class IndexMismatch(IndexProblem):
    """A built index is intact but was built from another corpus, model or splitter."""


@dataclass
class IndexManifest:
    """What a build contains and what it was built from."""

    model: str
    dim: int
    documents: int
    passages: int
    windows: int
    sentences: int
    corpus_files: dict[str, str]
    corpus_fingerprint: str
    splitter_version: str
    build_params: dict[str, object]
    versions: dict[str, str]
    built_at: str
    build_seconds: float
    vector_store: dict[str, object] = field(default_factory=dict)  # kind, index plan, where (Milvus)
    next_id: int = 0  # the next unused window id
    embedded: int = 0  # texts this build embedded (the rest came from the previous build)
    files: dict[str, str] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    @staticmethod
    def fingerprint(corpus_files: dict[str, str]) -> str:
        """One hash over every corpus file's path and hash."""
        return hashlib.sha256(json.dumps(corpus_files, sort_keys=True).encode()).hexdigest()


def check_manifest(manifest: IndexManifest, expected: dict[str, object]) -> list[str]:
    """Reasons why a build does not match what the service expects (empty when it does).

    ``expected`` holds any of: model, corpus_fingerprint, splitter_version, build_params, vector_store
    (its ``plan``, which depends on the build's size, is compared separately by the caller).
    """
    reasons = []
    if manifest.format_version != FORMAT_VERSION:
        reasons.append(f"index format {manifest.format_version} != {FORMAT_VERSION}")
    for key, want in expected.items():
        have = getattr(manifest, key)
        if key == "vector_store" and isinstance(have, dict):
            have = {k: v for k, v in have.items() if k != "plan"}
        if have != want:
            reasons.append(f"{key} differs (index: {_short(have)}, expected: {_short(want)})")
    return reasons


def _short(value: object) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."
