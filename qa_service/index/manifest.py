"""A build's manifest (what it holds and what it was built from) and what can be wrong with a build."""

from __future__ import annotations

import hashlib
import json
import typing
from dataclasses import MISSING, dataclass, field, fields

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


class IndexNotSaved(IndexProblem):
    """A new build could not be written (a full disk, a read-only folder); nothing of it is left behind
    and the previous build, if any, is still the current one."""


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

    @classmethod
    def from_json(cls, raw: object) -> IndexManifest:
        """The manifest a build's ``manifest.json`` holds, checked against this class's fields and types.

        Raises:
            IndexCorrupt: not an object, a field missing, unknown or of the wrong type, a negative count,
                or a file list that names something other than plain file names.
        """
        problem = _shape_problem(raw)
        if problem:
            raise IndexCorrupt(f"manifest is unreadable ({problem})")
        return cls(**raw)

    @staticmethod
    def fingerprint(corpus_files: dict[str, str]) -> str:
        """One hash over every corpus file's path and hash."""
        return hashlib.sha256(json.dumps(corpus_files, sort_keys=True).encode()).hexdigest()


_COUNTS = ("dim", "documents", "passages", "windows", "sentences", "next_id", "embedded")
_PLAN_KINDS = ("flat", "ivf")


def _shape_problem(raw: object) -> str:
    """What is wrong with the shape of a manifest read from JSON ("" when nothing is)."""
    if not isinstance(raw, dict):
        return f"a JSON object is expected, not {_json_type(raw)}"
    hints = typing.get_type_hints(IndexManifest)
    known = {f.name: f for f in fields(IndexManifest)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        return f"unknown field {unknown[0]!r}"
    for name, spec in known.items():
        if name not in raw:
            if spec.default is spec.default_factory is MISSING:
                return f"field {name!r} is missing"
            continue
        if not _conforms(raw[name], hints[name]):
            return f"field {name!r} must be {_type_name(hints[name])}, not {_json_type(raw[name])}"
    for name in _COUNTS:
        if name in raw and raw[name] < 0:
            return f"field {name!r} is negative"
    for name in raw.get("files", {}):
        if not name or "/" in name or "\\" in name or name.startswith("."):
            return f"field 'files' names {name!r}, which is not a file of the build"
    plan = raw.get("vector_store", {}).get("plan")
    if plan is not None and not (
        isinstance(plan, dict)
        and set(plan) <= {"kind", "nlist", "nprobe"}
        and plan.get("kind") in _PLAN_KINDS
        and all(_conforms(plan.get(k, 0), int) and plan.get(k, 0) >= 0 for k in ("nlist", "nprobe"))
    ):
        return "field 'vector_store' holds an unreadable index plan"
    return ""


def _conforms(value: object, hint: object) -> bool:
    """Whether a JSON value has the type a manifest field is declared with."""
    if hint is object:
        return True
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if typing.get_origin(hint) is dict:
        key_type, value_type = typing.get_args(hint)
        return isinstance(value, dict) and all(
            _conforms(k, key_type) and _conforms(v, value_type) for k, v in value.items()
        )
    return False


def _type_name(hint: object) -> str:
    if typing.get_origin(hint) is dict:
        values = typing.get_args(hint)[1]
        return "an object" if values is object else f"an object of {_type_name(values).split(' ', 1)[1]} values"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(hint, "any value")


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    for kind, name in ((dict, "an object"), (list, "an array"), (str, "a string"), (int, "an integer")):
        if isinstance(value, kind):
            return name
    return "a number" if isinstance(value, float) else type(value).__name__


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
