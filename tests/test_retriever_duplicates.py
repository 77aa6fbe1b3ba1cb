"""Near-duplicate removal (``Retriever._without_duplicates``): the vectorised version keeps exactly what
the pairwise loop it replaced kept, over many rankings of a corpus full of near-duplicates (fake encoder)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from qa_service.index import build_index
from qa_service.ranking import Retriever
from qa_service.settings import Settings

from .helpers import FakeEncoder


def pairwise(retriever: Retriever, candidates: np.ndarray, order: np.ndarray, top_k: int) -> list[int]:
    """The reference: each candidate against every one kept before it, one pair at a time."""
    chosen, kept_vectors, kept_texts = [], [], set()
    for pos in order.tolist():
        pid = int(candidates[pos])
        vector = retriever.index.passage_vectors[pid]
        text = retriever._normalised_text[pid]
        if text in kept_texts or any(float(v @ vector) >= retriever.params.duplicate_cosine for v in kept_vectors):
            continue
        chosen.append(pos)
        kept_vectors.append(vector)
        kept_texts.add(text)
        if len(chosen) == top_k:
            break
    return chosen


@pytest.fixture(scope="module")
def crowded(tmp_path_factory) -> Retriever:
    """Documents that repeat, reword and copy each other's paragraphs."""
    root = tmp_path_factory.mktemp("dups")
    corpus = root / "corpus"
    corpus.mkdir()
    topics = ["nuclear disarmament", "climate finance", "water cooperation", "counter terrorism", "trade reform"]
    for d in range(12):
        paragraphs = []
        for t, topic in enumerate(topics):
            shared = (
                f"The delegation speaks of {topic} and of the Assembly's duty on {topic}. It recalls the"
                f" resolutions on {topic}, the reports of the Secretary-General on {topic}, and the promises"
                f" that States made on {topic} in this hall, which remain unkept for want of resources."
            )
            paragraphs.append(shared)
            if (d + t) % 3 == 0:
                paragraphs.append(shared)
            if (d + t) % 4 == 0:
                paragraphs.append(shared.replace("delegation", "DELEGATION").replace(" It ", "  It "))
            paragraphs.append(
                f"Document {d} adds its own view on {topic}, number {d * 7 + t}: a view that no other"
                f" document shares, set out at length so that it stands as a paragraph of its own here."
            )
        (corpus / f"doc{d:02}.txt").write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    encoder = FakeEncoder()
    return Retriever(build_index(Settings(corpus_dir=corpus, index_dir=root / "index"), encoder), encoder)


@pytest.mark.parametrize("by", ["cosine", "text"])
def test_the_vectorised_removal_keeps_what_the_pairwise_loop_kept(crowded, by):
    if by == "text":  # no cosine reaches the threshold: only equal texts count as duplicates
        crowded = crowded.with_params(dataclasses.replace(crowded.params, duplicate_cosine=1.01))
    rng = np.random.default_rng(7)
    n = len(crowded.passages)
    differing_kept = 0
    for trial in range(60):
        size = int(rng.integers(1, n + 1))
        candidates = np.sort(rng.choice(n, size=size, replace=False))
        order = rng.permutation(size)
        for top_k in (1, 3, 10, size):
            got = crowded._without_duplicates(candidates, order, top_k)
            assert got == pairwise(crowded, candidates, order, top_k), (trial, top_k)
            differing_kept += len(got) < min(top_k, size)
    assert differing_kept > 0  # the corpus does make the removal drop candidates


def test_grouped_and_plain_answers_skip_the_same_duplicates(crowded):
    plain = crowded.ask("delegation nuclear disarmament duty", 10)
    grouped = crowded.ask("delegation nuclear disarmament duty", 10, group_by_document=True)
    texts = [" ".join(a.passage.text.lower().split()) for a in plain.answers]
    assert len(texts) == len(set(texts))
    for answer in grouped.answers:
        shown = [answer.passage.text, *(m.passage.text for m in answer.more)]
        assert len(shown) == len(set(shown))
