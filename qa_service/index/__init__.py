"""The index: building and updating it, checking it is fresh, the build-folder store and the vector stores.

- ``loading``: the one load-or-rebuild path (``ensure_index``), used by the service, the CLI and the
  evaluation.
- ``build``: passages → windows and sentences → vectors (only new text embedded) → a build in memory.
- ``embedding``: content keys, where sentences lie, and embedding only the text a build has not seen.
- ``windows``: each passage cut into windows that fit the model's input, and where its sentences lie in them.
- ``builds``: the build folders on disk (written atomically, verified by checksum when loaded).
- ``progress``: the ``Progress`` callback a build reports through, and its bar or log lines.
- ``manifest``: what a build holds and was built from; the problems a build can have.
- ``filters``: the one filter type and the one function that applies it.
- ``vectors/``: FAISS and Milvus behind one interface and one factory.
"""

from .build import Progress, build_index, build_params, index_passages
from .builds import IndexData, current_build, load_index, save_index
from .filters import Attributes, Filter
from .loading import (
    PassageSource,
    build_encoder,
    describe_problem,
    ensure_index,
    expected_manifest,
    load_fresh_index,
    stale_reasons,
)
from .manifest import (
    IndexCorrupt,
    IndexManifest,
    IndexMismatch,
    IndexMissing,
    IndexNotSaved,
    IndexProblem,
    IndexUnavailable,
    check_manifest,
)

__all__ = [
    "Attributes",
    "Filter",
    "IndexCorrupt",
    "IndexData",
    "IndexManifest",
    "IndexMismatch",
    "IndexMissing",
    "IndexNotSaved",
    "IndexProblem",
    "IndexUnavailable",
    "PassageSource",
    "Progress",
    "build_encoder",
    "build_index",
    "build_params",
    "check_manifest",
    "current_build",
    "describe_problem",
    "ensure_index",
    "expected_manifest",
    "index_passages",
    "load_fresh_index",
    "load_index",
    "save_index",
    "stale_reasons",
]
