"""The one load-or-rebuild path: load the current build, check it is fresh, update or rebuild it if not.

``ensure_index`` is what the service, the CLI and the evaluation call: the build in ``QA_INDEX_DIR`` is
loaded and checked against the corpus (a folder, or ready-made passages of a public dataset), the model,
the splitter and the settings; when it is missing, stale or damaged it is updated incrementally (only
new text is embedded) or rebuilt, unless ``QA_REBUILD=never``, in which case the problem is raised for
the caller to report.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from ..corpus import SPLITTER_VERSION, DocumentRecord, Passage, corpus_fingerprint
from ..encoders import Encoder, make_encoder
from ..settings import Settings
from .build import Progress, build_index, build_params, index_passages
from .builds import IndexData, build_lock, current_build, load_index, save_index
from .manifest import (
    IndexCorrupt,
    IndexManifest,
    IndexMismatch,
    IndexMissing,
    IndexProblem,
    IndexUnavailable,
    check_manifest,
)
from .vectors import IndexPlan, plan_for, store_config

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PassageSource:
    """Ready-made passages to index instead of the corpus folder (a public dataset's paragraphs).

    ``files`` maps the source files (and the loader's version) to hashes: the build's corpus fingerprint.
    """

    passages: list[Passage]
    documents: list[DocumentRecord]
    files: dict[str, str]


def build_encoder(settings: Settings) -> Encoder:
    """The configured encoder set up for building an index: no question cache, its files prepared (an ONNX
    export is made now, not by a serving worker) and QA_BUILD_THREADS threads (one per core by default:
    embedding a corpus is batch work, unlike answering one question per worker)."""
    encoder = make_encoder(settings, cache_size=0, batch_work=True)
    encoder.prepare()
    return encoder


def expected_manifest(settings: Settings, encoder: Encoder, source: PassageSource | None = None) -> dict[str, object]:
    """What the corpus (or ``source``), the model and the settings require of a build's manifest."""
    files = source.files if source is not None else corpus_fingerprint(settings.corpus_dir)
    return {
        "model": encoder.identity,
        "corpus_fingerprint": IndexManifest.fingerprint(files),
        "splitter_version": SPLITTER_VERSION,
        "build_params": build_params(settings),
        "vector_store": store_config(settings),
    }


def stale_reasons(
    settings: Settings, encoder: Encoder, manifest: IndexManifest, source: PassageSource | None = None
) -> list[str]:
    """Why a build does not fit the corpus, model and settings (empty when it does)."""
    return check_manifest(manifest, expected_manifest(settings, encoder, source)) + _plan_problems(settings, manifest)


def load_fresh_index(settings: Settings, encoder: Encoder, source: PassageSource | None = None) -> IndexData:
    """Load the current build with its vector store and check that it was built from this corpus, model
    and settings.

    Raises:
        IndexMissing, IndexCorrupt: no build, or one whose files fail their checksums (or whose vector
            store does not hold its vectors).
        IndexMismatch: an intact build made from another corpus, model, splitter or settings.
    """
    data = load_index(settings.index_dir, settings)
    reasons = stale_reasons(settings, encoder, data.manifest, source)
    if reasons:
        data.vectors.close()
        raise IndexMismatch("built from something else: " + "; ".join(reasons))
    return data


def describe_problem(problem: Exception, index_dir: object) -> str:
    """One sentence for the log saying what is wrong with the index and where."""
    if isinstance(problem, IndexMissing):
        return f"there is no index in {index_dir}"
    if isinstance(problem, IndexCorrupt):
        return f"the index in {index_dir} is damaged ({problem})"
    if isinstance(problem, IndexMismatch):
        return f"the index in {index_dir} is stale ({problem})"
    if isinstance(problem, IndexUnavailable):
        return f"the vector store of the index in {index_dir} cannot be reached ({problem})"
    return f"the index in {index_dir} cannot be used ({problem})"


def ensure_index(
    settings: Settings,
    encoder: Encoder,
    progress: Progress | None = None,
    force: bool = False,
    source: PassageSource | None = None,
) -> IndexData:
    """Load the current index if it is intact and fresh; otherwise update or rebuild it (or raise).

    A stale index (the corpus changed) is updated incrementally from the current build: only new text
    is embedded. With ``force`` the index is rebuilt from scratch whatever its state. With ``source``
    the index holds those passages instead of the corpus folder's.

    Raises:
        IndexUnavailable: the build's vector store cannot be reached (a Milvus server that is down): the
            data may be intact, so nothing is rebuilt; retry when it is back.
        IndexMissing, IndexCorrupt, IndexMismatch: when the index cannot be used and
            ``settings.rebuild`` is ``"never"``; the message says what is wrong and what to do.
    """
    loaded = None  # an intact but stale build, kept open to be updated rather than loaded twice
    corpus_only = False
    if not force:
        try:
            loaded = load_index(settings.index_dir, settings)
            reasons = stale_reasons(settings, encoder, loaded.manifest, source)
            if not reasons:
                return loaded
            problem: IndexProblem = IndexMismatch("built from something else: " + "; ".join(reasons))
            corpus_only = all(reason.startswith("corpus_fingerprint") for reason in reasons)
        except IndexUnavailable as exc:
            raise IndexUnavailable(f"{describe_problem(exc, settings.index_dir)}; retry when it is back") from exc
        except IndexProblem as exc:
            problem = exc
        what = describe_problem(problem, settings.index_dir)
        if settings.rebuild == "never":
            if loaded is not None:
                loaded.vectors.close()
            raise type(problem)(
                f"{what}; QA_REBUILD=never forbids rebuilding it: run `qa-service build` or set QA_REBUILD=auto"
            ) from problem
        if loaded is not None and corpus_only:
            # Documents added, removed or edited: an ordinary update, not a fault.
            log.info("updating the index in %s: the corpus changed", settings.index_dir)
        else:
            log.warning("%s: rebuilding it", what)
    with build_lock(settings.index_dir):
        # Another process may have rebuilt it while this one waited for the lock.
        previous = None
        if loaded is not None:
            build = current_build(settings.index_dir)
            if build is not None and build.name == loaded.build:
                previous = loaded
            else:
                loaded.vectors.close()
        if not force and previous is None:
            try:
                previous = load_index(settings.index_dir, settings)
                if not stale_reasons(settings, encoder, previous.manifest, source):
                    return previous
            except IndexUnavailable:
                raise
            except IndexProblem:
                previous = _embeddings_only(settings)
        if source is None:
            data = build_index(settings, encoder, progress, previous)
        else:
            started = time.perf_counter()
            data = index_passages(
                source.passages, source.documents, source.files, settings, encoder, progress, previous
            )
            data.manifest.build_seconds = round(time.perf_counter() - started, 3)
            data.build = save_index(settings.index_dir, data, settings.keep_builds).name
    log.info(
        "built index %s: %d documents, %d passages; embedded %d texts in %.1f s",
        data.build,
        data.manifest.documents,
        data.manifest.passages,
        data.manifest.embedded,
        data.manifest.build_seconds,
    )
    return data


def _plan_problems(settings: Settings, manifest: IndexManifest) -> list[str]:
    """Why the build's vector index type no longer fits its size under the settings (empty when it does)."""
    want = plan_for(settings, manifest.windows)
    have = IndexPlan.of_build(manifest.vector_store)
    if (have.kind, have.nlist) != (want.kind, want.nlist):
        return [f"vector index {have.kind}/{have.nlist} should be {want.kind}/{want.nlist}"]
    return []


def _embeddings_only(settings: Settings) -> IndexData | None:
    """The current build without its vector store (a store that cannot be opened), for its embeddings."""
    try:
        return load_index(settings.index_dir)
    except IndexProblem:
        return None
