"""Question → ranked answers: dense + lexical fusion, sentence scoring, highlight and no-answer.

Ranking (``full`` mode), in order:

1. Candidates: the best passages by dense similarity (the vector store over passage windows, a passage scoring its
   best window) united with the best passages by BM25.
2. Each candidate gets its dense cosine (best window), the cosine of its best sentence, its BM25 score and
   its best sentence's share of the question's terms (each weighted by its IDF).
3. The score is ``w·((1-s)·dense' + s·sentence') + (1-w)·((1-l)·min(1, bm25 / idf_mass) + l·share)``: cosines
   clipped at 0 and BM25 divided by the sum of the IDFs of the question's terms (about what a passage holding
   each term once would score). Both parts mean the same for every question, unlike min-max scaling, which
   blows a weak lexical match up to 1. ``dense'`` and ``sentence'`` are the cosines less ``c`` times the
   passage's (sentence's) own similarity to the corpus's mean vector: what every passage shares (the
   speaker's country and topic in a one-statement corpus) stops counting as a match, while in a varied
   corpus the mean vector is short and the correction small. ``share`` rewards the question's words found
   together in one sentence over the same words scattered through a passage. ``w``, ``s``, ``c`` and ``l``
   were chosen with ``benchmarks/sweep.py`` (best mean recall@1 over the tune splits of SQuAD dev, ClapNQ
   dev and the statement's sets).
4. Near-duplicate passages (passage vectors nearly parallel, or the same text) keep only their best.
5. ``no_answer`` by the rule of ``no_answer.py``; the closest passages are still returned.

The other modes are the baselines the evaluation compares with: ``fusion`` (min-max scaled passage
cosine and BM25, mixed), ``dense`` and ``bm25``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..corpus import (
    MAX_COUNTRY_CHARS,
    MAX_ID_CHARS,
    METADATA_KIND,
    DocumentRecord,
    Passage,
    attribution_text,
    context_prefix,
    country_label,
    country_name_of,
    fold,
)
from ..encoders import Encoder
from ..index import Filter, IndexData
from . import expansion
from .answer_kinds import answer_kind
from .bm25 import LexicalIndex, SentenceTerms, match_words, stemmed_words, terms
from .examples import derive_examples
from .fusion import Mode, fuse, group_rows, max_by_group
from .no_answer import CorpusNames, Evidence
from .params import RankingParams
from .roles import asked_role, asks_speaker, topic_words
from .short_answer import ShortAnswer, find_short_answer

#: Passages whose matched words are kept tokenised between requests (and four times as many sentences).
ANSWER_CACHE = 4096


@dataclass(frozen=True)
class Highlight:
    """The sentence of a passage that best answers, as a half-open range of the passage text."""

    text: str
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class Answer:
    """One ranked passage with its scores and highlight."""

    rank: int
    score: float
    passage: Passage
    highlight: Highlight
    dense: float
    lexical: float
    sentence: float
    matched_terms: tuple[str, ...]
    passage_id: int = -1  # position of the passage in the index
    metadata: dict | None = None  # the document's metadata (title, country, year, speaker, ...)
    more: tuple[Answer, ...] = ()  # with answers grouped by document: the document's next best passages
    short_answer: ShortAnswer | None = None  # the span of the passage that answers a factoid question


@dataclass(frozen=True)
class Result:
    """The answers to one question, best first."""

    question: str
    answers: tuple[Answer, ...]
    no_answer: bool
    best_dense: float
    took_ms: float
    evidence: Evidence | None = None


class Retriever:
    """Answers questions from a loaded index with one encoder (the one that built the index)."""

    def __init__(self, index: IndexData, encoder: Encoder, params: RankingParams | None = None) -> None:
        self.index = index
        self.encoder = encoder
        self.params = params or RankingParams()
        with_context = bool(index.manifest.build_params.get("embed_context", True))
        texts = [context_prefix(p, with_context) + p.text for p in index.passages]
        self.lexical = LexicalIndex(texts, self.params.acronyms)
        # A document's details (speaker, post, country, session, date) count as known names even where no
        # passage tells them (attribution passages off).
        self._details = {d.id: attribution_text(d.metadata, d.title) for d in index.documents}
        self.names = CorpusNames(texts + [t for t in self._details.values() if t], self.lexical.has_term)
        self.rule = self.params.no_answer_rule()
        n = len(index.passages)
        self._windows_of = group_rows(index.window_passage, n)
        self._sentences_of = group_rows(index.sentence_passage, n)
        self._normalised_text = [fold(p.text) for p in index.passages]
        codes: dict[str, int] = {}  # passages with the same normalised text share a code
        self._text_code = np.array([codes.setdefault(t, len(codes)) for t in self._normalised_text], dtype=np.int64)
        roles = np.array([p.role for p in index.passages], dtype=object)
        self._role_ids = {r: np.flatnonzero(roles == r) for r in set(roles.tolist()) if r != "body"}
        # Per passage, kept for the passages answers come from (bounded): the words an answer shows as
        # matched, and its sentences with the terms its highlight compares, tokenised and stemmed once.
        self._stemmed_words = lru_cache(maxsize=ANSWER_CACHE)(lambda pid: stemmed_words(index.passages[pid].text))
        sentences_of = self._sentences_of  # not self: no cycle keeps a swapped-out retriever alive
        self._sentences_read = lru_cache(maxsize=ANSWER_CACHE)(
            lambda pid: _passage_sentences(index, sentences_of[pid], pid)
        )
        self._id_order = np.argsort(index.window_ids, kind="stable")
        self._window_each = len(np.unique(index.window_passage)) == len(index.window_passage)  # none has two
        self._sorted_ids = index.window_ids[self._id_order]
        self._documents = {d.id: d for d in index.documents}
        self._passage_attributes = index.passage_attributes()
        self._facets: dict | None = None
        self._neighbours: dict[str, expansion.WordNeighbours] = {}
        self._sentence_terms: list[SentenceTerms] = []  # built once, shared with :meth:`with_params`'s copies
        if self.params.sentence_lexical_weight:
            self._sentence_index()  # at load, not by the first question
        self._examples: list[str] | None = None
        # What every passage shares: each passage's and sentence's similarity to the corpus's mean passage
        # vector (long for a corpus about one thing, short for a varied one), taken off in full mode.
        mean = np.asarray(index.passage_vectors, dtype=np.float32).mean(axis=0) if n else None
        self._passage_common = (index.passage_vectors @ mean).astype(np.float32) if n else np.zeros(0, np.float32)
        self._sentence_common = (
            (index.sentence_vectors @ mean).astype(np.float32)
            if n and len(index.sentence_vectors)
            else np.zeros(0, np.float32)
        )

    @property
    def passages(self) -> list[Passage]:
        """Every passage of the index, in index order."""
        return self.index.passages

    def documents(self) -> list[DocumentRecord]:
        """Every document of the index: id, title, path, metadata and number of passages."""
        return self.index.documents

    def document(self, doc_id: str) -> tuple[DocumentRecord, list[Passage]] | None:
        """One document and its passages in order, or None when there is no such document."""
        doc = self._documents.get(doc_id)
        if doc is None:
            return None
        return doc, [p for p in self.index.passages if p.doc_id == doc_id]

    def facets(self) -> dict:
        """What the corpus can be filtered by: document ids and titles; countries, each as ``code``,
        ``name`` (from the documents' ``country_name``, "" when none gives it) and ``label``
        ("Kazakhstan (KAZ)", or the code alone); and the year range."""
        if self._facets is None:
            years = [d.year for d in self.index.documents if d.year]
            names: dict[str, str] = {}
            for d in self.index.documents:
                # Only what the filters take (a hand-made corpus may hold longer ids; the build warns of them).
                if d.country and len(d.country) <= MAX_COUNTRY_CHARS:
                    names[d.country] = names.get(d.country) or country_name_of(d.metadata)
            self._facets = {
                "documents": [
                    {"id": d.id, "title": d.title} for d in self.index.documents if len(d.id) <= MAX_ID_CHARS
                ],
                "countries": [
                    {"code": code, "name": names[code], "label": country_label(code, names[code])}
                    for code in sorted(names)
                ],
                "years": [min(years), max(years)] if years else [],
            }
        return self._facets

    def examples(self) -> list[str]:
        """Example questions derived from the documents (for a corpus without its own examples)."""
        if self._examples is None:
            self._examples = derive_examples(self.index.documents, self.index.passages)
        return list(self._examples)

    def _metadata(self, doc_id: str) -> dict:
        doc = self._documents.get(doc_id)
        return doc.metadata if doc is not None else {}

    def ask(
        self,
        question: str,
        top_k: int = 3,
        mode: Mode = "full",
        filters: Filter | None = None,
        group_by_document: bool = False,
    ) -> Result:
        """Rank passages for ``question`` and return the best ``top_k`` (fewer if the corpus is smaller).

        Args:
            filters: only passages of matching documents are considered.
            group_by_document: return the best ``top_k`` documents instead, each answer being the
                document's best passage with its next best passages in ``more``.
        """
        started = time.perf_counter()
        params = expansion.question_params(self.params, question)
        n = len(self.index.passages)
        allowed = self._passage_attributes.mask(filters)
        if n == 0 or (allowed is not None and not allowed.any()):
            return Result(question, (), True, 0.0, _ms(started))
        query = self.encoder.encode_query(question)

        role = asked_role(question) if mode == "full" and params.role_bonus else None
        # Only a corpus with letterheads has passages whose description names the speech and its speaker.
        topic = topic_words(question, role) if "letterhead" in self._role_ids else question
        dense_ids, dense_scores = self._dense_candidates(query, params.candidates, filters)
        lexical_all = self.lexical.scores(topic)
        if allowed is not None:
            lexical_all = np.where(allowed, lexical_all, 0.0)
        lexical_top = top_positive(lexical_all, params.candidates)

        # A question about what the speech says is not answered by its letterhead: those passages lose the
        # bonus the asked role's passages gain.
        sign = -1.0 if role == "body" else 1.0
        bonus_role = "letterhead" if role == "body" else role
        role_ids = self._role_ids.get(bonus_role, _NO_ROWS) if bonus_role else _NO_ROWS
        if allowed is not None and len(role_ids):
            role_ids = role_ids[allowed[role_ids]]
        # Candidates in passage order, so that a stable sort of the scores breaks ties by passage order.
        if mode == "dense":
            candidates = np.sort(dense_ids)
        elif mode == "bm25":
            candidates = lexical_top if len(lexical_top) else np.sort(dense_ids)
        else:
            # The asked role's passages join the candidates, at most ``candidates`` of them (those sharing
            # most words with the question): a corpus of many documents has a letterhead in each.
            parts = [dense_ids, lexical_top]
            if len(role_ids) and sign > 0:
                parts.append(role_ids[np.argsort(-lexical_all[role_ids], kind="stable")[: params.candidates]])
            candidates = np.unique(np.concatenate(parts))
        dense = self._dense_scores(query, candidates, dense_ids, dense_scores)
        lexical = lexical_all[candidates]
        centering = params.centering if mode == "full" else 0.0
        sentences = self._candidate_sentences(candidates)  # both sentence scores read the same rows
        sentence, centered_sentence = self._sentence_scores(query, candidates, centering, sentences)
        sentence_lexical = (
            self._sentence_lexical(topic, sentences) if mode == "full" and params.sentence_lexical_weight else None
        )
        question_weight = self.lexical.question_weight(topic)
        if centering:  # the ranking sees what is specific to each passage
            dense_part, sentence_part = dense - centering * self._passage_common[candidates], centered_sentence
        else:
            dense_part, sentence_part = dense, sentence
        fused = fuse(params, mode, dense_part, lexical, sentence_part, question_weight, sentence_lexical)
        if mode == "full" and expansion.active(params):
            fused = self._with_feedback(
                params, question, query, candidates, fused, lexical, question_weight, sentence_lexical
            )

        if len(role_ids):
            fused = fused + sign * params.role_bonus * np.isin(candidates, role_ids)
        order = np.argsort(-fused, kind="stable")  # best first; ties by passage order
        chosen = self._without_duplicates(candidates, order, max(top_k, self.params.evidence_passages))
        question_terms = set(terms(question))
        kind = answer_kind(question)
        # A passage's sentence scores and span are wanted by the evidence and again by its answer.
        scored_of: dict[int, list[tuple[int, int, float]]] = {}
        span_of: dict[int, ShortAnswer | None] = {}

        def scored(pid: int) -> list[tuple[int, int, float]]:
            if pid not in scored_of:
                scored_of[pid] = self._scored_sentences(pid, query, question_terms)
            return scored_of[pid]

        def span(pid: int) -> ShortAnswer | None:
            if pid not in span_of:
                span_of[pid] = self._short_answer(question, self.index.passages[pid], scored(pid), kind)
            return span_of[pid]

        best = [int(candidates[i]) for i in chosen[: self.params.evidence_passages]]
        routed = sign > 0 and bool(best) and self.index.passages[best[0]].role == role
        evidence = self._evidence(question, dense_scores, sentence, best, span, routed)
        no_answer = self.no_answer(evidence)
        chosen = chosen[:top_k]

        def answer(rank: int, pos: int, more: tuple[Answer, ...] = ()) -> Answer:
            pid = int(candidates[pos])
            passage = self.index.passages[pid]
            return Answer(
                rank=rank,
                score=round(float(fused[pos]), 4),
                passage=passage,
                highlight=self._highlight(passage, scored(pid)),
                dense=round(float(dense[pos]), 4),
                lexical=round(float(lexical[pos]), 4),
                sentence=round(float(sentence[pos]), 4),
                matched_terms=tuple(match_words(question_terms, self._stemmed_words(pid))),
                passage_id=pid,
                metadata=self._metadata(passage.doc_id),
                more=more,
                short_answer=None if no_answer else span(pid),  # no span when the corpus does not seem to answer
            )

        if group_by_document:
            groups = self._by_document(candidates, self._without_duplicates(candidates, order, len(candidates)), top_k)
            answers = [
                answer(rank, group[0], tuple(answer(0, pos) for pos in group[1:]))
                for rank, group in enumerate(groups, start=1)
            ]
        else:
            answers = [answer(rank, pos) for rank, pos in enumerate(chosen, start=1)]
        return Result(question, tuple(answers), no_answer, round(evidence.dense, 4), _ms(started), evidence)

    def read(self, question: str, passage_id: int) -> tuple[Highlight, ShortAnswer | None]:
        """The highlight and short answer of one passage for ``question``, whatever its rank (for
        measuring the short answers on a given passage)."""
        passage = self.index.passages[passage_id]
        scored = self._scored_sentences(passage_id, self.encoder.encode_query(question), set(terms(question)))
        return self._highlight(passage, scored), self._short_answer(question, passage, scored, answer_kind(question))

    def no_answer(self, evidence: Evidence) -> bool:
        """Whether the no-answer rule flags a question with this evidence."""
        return self.rule.flags(evidence)

    def _evidence(
        self,
        question: str,
        dense_scores: np.ndarray,
        sentence: np.ndarray,
        best: list[int],
        short_answer: Callable[[int], ShortAnswer | None],
        routed: bool = False,
    ) -> Evidence:
        """The signals of the no-answer rule for one question (``best``: the top passages' ids;
        ``short_answer``: the span a passage gives the question; ``routed``: the first is of the role the
        question asks for). A question asking who said something is answered by the passage that says it
        together with its document's details (speaker, country)."""
        passages = [self.index.passages[i] for i in best]
        texts = [p.text for p in passages]
        if asks_speaker(question):
            texts = [
                t if p.kind == METADATA_KIND or not self._details.get(p.doc_id) else f"{t}\n{self._details[p.doc_id]}"
                for t, p in zip(texts, passages)
            ]
        return self.rule.evidence(
            question,
            float(dense_scores[0]) if len(dense_scores) else 0.0,
            float(sentence.max()) if len(sentence) else 0.0,
            self.lexical,
            self.names,
            texts,
            [short_answer(i) for i in best],
            routed,
        )

    # -- filters and groups ------------------------------------------------------------------------

    def _by_document(
        self, candidates: np.ndarray, ranked: list[int], top_k: int, per_document: int = 3
    ) -> list[list[int]]:
        """The best ``top_k`` documents, each as the positions of its best passages (at most ``per_document``)."""
        groups: dict[str, list[int]] = {}
        for pos in ranked:
            doc = self.index.passages[int(candidates[pos])].doc_id
            if doc not in groups:
                if len(groups) == top_k:
                    continue
                groups[doc] = []
            if len(groups[doc]) < per_document:
                groups[doc].append(pos)
        return list(groups.values())

    # -- scoring pieces --------------------------------------------------------------------------

    def window_hits(self, count: int) -> int:
        """How many windows a search asks the vector store for, to find ``count`` distinct passages.

        At most (windows - passages) of the best windows repeat a passage, so that many more than ``count``
        is enough (one window a passage: ``count`` itself); never more than 4x ``count`` (+16).
        """
        windows = len(self.index.window_ids)
        return min(windows, count + windows - len(self.index.passages), max(count * 4, count + 16))

    def _dense_candidates(
        self, query: np.ndarray, count: int, where: Filter | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``count`` best passages by their best window, with those scores, best first."""
        scores, ids = self.index.vectors.search(query, self.window_hits(count), where)
        rows = self._id_order[np.searchsorted(self._sorted_ids, ids)] if len(ids) else ids
        pids = self.index.window_passage[rows].astype(np.int64)
        if self._window_each:  # no passage repeats
            return pids[:count], scores[:count].astype(np.float32)
        first = np.sort(np.unique(pids, return_index=True)[1])[:count]  # each passage's best window
        return pids[first], scores[first].astype(np.float32)

    def with_params(self, params: RankingParams) -> Retriever:
        """A retriever over the same index and encoder with other ranking parameters (cheap: shares state)."""
        other = copy.copy(self)
        other.params = params
        if params.acronyms != self.params.acronyms:
            other.lexical = LexicalIndex(self.lexical.texts, params.acronyms)
            other._sentence_terms = []  # its sentences hold the other acronyms
        return other

    def _with_feedback(
        self,
        params: RankingParams,
        question: str,
        query: np.ndarray,
        candidates: np.ndarray,
        fused: np.ndarray,
        lexical: np.ndarray,
        question_weight: float,
        sentence_lexical: np.ndarray | None,
    ) -> np.ndarray:
        """The full ranking's scores of ``candidates`` again, after query expansion (expansion.py)."""

        def score(moved: np.ndarray, lexical: np.ndarray) -> np.ndarray:
            dense = self._dense_scores(moved, candidates, _NO_ROWS, _NO_SCORES)
            dense = dense - params.centering * self._passage_common[candidates]
            _, sentence = self._sentence_scores(moved, candidates, params.centering)
            return fuse(params, "full", dense, lexical, sentence, question_weight, sentence_lexical)

        return expansion.rescore(
            params,
            question,
            query,
            candidates,
            fused,
            lexical,
            passage_vectors=self.index.passage_vectors,
            passage_texts=lambda pid: self.index.passages[pid].text,
            lexical_index=self.lexical,
            score=score,
            neighbours=self.word_neighbours,
        )

    def word_neighbours(self) -> expansion.WordNeighbours:
        """The corpus's words embedded by the model, built on first use and shared with :meth:`with_params`'s copies."""
        if "words" not in self._neighbours:
            self._neighbours["words"] = expansion.WordNeighbours(self.lexical.texts, self.encoder)
        return self._neighbours["words"]

    def _dense_scores(
        self, query: np.ndarray, candidates: np.ndarray, dense_ids: np.ndarray, dense_scores: np.ndarray
    ) -> np.ndarray:
        """Best-window cosine of each candidate (looked up among the dense candidates' scores, or computed
        for lexical-only ones)."""
        known = np.full(len(self.index.passages), np.nan, dtype=np.float32)
        known[dense_ids] = dense_scores
        out = known[candidates]
        missing = np.flatnonzero(np.isnan(out))
        if len(missing):
            groups = [self._windows_of[int(candidates[i])] for i in missing]
            rows = np.concatenate(groups)
            cosines = self.index.window_vectors[rows] @ query
            out[missing] = max_by_group(cosines, [len(g) for g in groups])
        return out

    def _candidate_sentences(self, candidates: np.ndarray) -> tuple[np.ndarray, list[int]]:
        """The sentence rows of the candidates, one candidate after another, and how many each has."""
        groups = [self._sentences_of[pid] for pid in candidates.tolist()]
        return (np.concatenate(groups) if groups else _NO_ROWS), [len(g) for g in groups]

    def _sentence_scores(
        self,
        query: np.ndarray,
        candidates: np.ndarray,
        centering: float = 0.0,
        sentences: tuple[np.ndarray, list[int]] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Cosine of each candidate's best sentence (0 for a passage without sentences), and the best of its
        sentences' cosines less ``centering`` times their similarity to the corpus's mean vector (the same
        array when ``centering`` is 0): one product over the sentences serves both. ``sentences``: the
        candidates' :meth:`_candidate_sentences`, when already known."""
        if not len(candidates):
            empty = np.zeros(0, dtype=np.float32)
            return empty, empty
        rows, sizes = sentences or self._candidate_sentences(candidates)
        cosines = self.index.sentence_vectors[rows] @ query
        if not centering:
            best = max_by_group(cosines, sizes)
            return best, best
        plain, centered = max_by_group(np.stack((cosines, cosines - centering * self._sentence_common[rows])), sizes)
        return plain, centered

    def _sentence_index(self) -> SentenceTerms:
        """The terms of every sentence of the index (its rows' order), indexed on first use."""
        if not self._sentence_terms:
            index = self.index
            texts = [
                index.passages[pid].text[slice(*index.passages[pid].sentences[number])]
                for pid, number in zip(index.sentence_passage.tolist(), index.sentence_number.tolist())
            ]
            self._sentence_terms.append(SentenceTerms(texts, self.lexical.acronyms))
        return self._sentence_terms[0]

    def _sentence_lexical(self, question: str, sentences: tuple[np.ndarray, list[int]]) -> np.ndarray:
        """Each candidate's best sentence by the IDF-weighted share of the question's terms it holds
        (``sentences``: the candidates' :meth:`_candidate_sentences`)."""
        rows, sizes = sentences
        if not sizes:
            return np.zeros(0, dtype=np.float32)
        weights: dict[str, float] = {}
        for term in terms(question):
            weights[term] = weights.get(term, 0.0) + self.lexical.idf(term)
        return max_by_group(self._sentence_index().shares(weights)[rows], sizes)

    def _without_duplicates(self, candidates: np.ndarray, order: np.ndarray, top_k: int) -> list[int]:
        """Positions of the best ``top_k`` candidates, skipping near-duplicates of better ones.

        A candidate is a near-duplicate of a better one kept when their passage vectors' cosine reaches
        ``duplicate_cosine`` or their normalised texts are equal. The cosines come from one matrix product
        over a prefix of the ranking (doubled until ``top_k`` are kept), not from a loop over pairs.
        """
        size = min(len(order), max(2 * top_k, 16))
        while True:
            prefix = order[:size]
            earlier = self._earlier_duplicates(candidates[prefix])
            has_earlier = earlier.any(axis=1).tolist()  # most rows have none: no array work for them
            chosen: list[int] = []
            kept = np.zeros(len(prefix), dtype=bool)
            for i, pos in enumerate(prefix.tolist()):
                if has_earlier[i] and (earlier[i] & kept).any():
                    continue
                kept[i] = True
                chosen.append(pos)
                if len(chosen) == top_k:
                    return chosen
            if size == len(order):
                return chosen
            size = min(len(order), 2 * size)

    def _earlier_duplicates(self, pids: np.ndarray) -> np.ndarray:
        """``out[i, j]``: passage ``pids[j]``, ranked before ``pids[i]``, is a near-duplicate of it."""
        vectors = self.index.passage_vectors[pids]
        near = (vectors @ vectors.T) >= self.params.duplicate_cosine
        text_code = self._text_code[pids]
        near |= text_code[:, None] == text_code[None, :]
        return near & _strictly_lower(len(pids))

    def _scored_sentences(self, pid: int, query: np.ndarray, question_terms: set[str]) -> list[tuple[int, int, float]]:
        """Each sentence of a passage as ``(start, end, score)``: its cosine with the question, nudged by the
        share of the question's content words it holds."""
        rows = self._sentences_of[pid]
        if not len(rows):
            return []
        cosines = self.index.sentence_vectors[rows] @ query
        out = []
        for cosine, (a, b, sentence_terms) in zip(cosines.tolist(), self._sentences_read(pid)):
            overlap = len(question_terms & sentence_terms) / len(question_terms) if question_terms else 0.0
            out.append((a, b, cosine + 0.1 * overlap))
        return out

    @staticmethod
    def _highlight(passage: Passage, scored: list[tuple[int, int, float]]) -> Highlight:
        """The sentence that best answers: highest cosine, nudged by shared content words."""
        if not scored:
            return Highlight(passage.text, 0, len(passage.text), 0.0)
        best_score, best_span = -2.0, passage.sentences[0]
        for a, b, score in scored:
            if score > best_score:
                best_score, best_span = score, (a, b)
        a, b = best_span
        return Highlight(passage.text[a:b], a, b, round(float(best_score), 4))

    @staticmethod
    def _short_answer(
        question: str, passage: Passage, scored: list[tuple[int, int, float]], kind: str | None
    ) -> ShortAnswer | None:
        """The span that answers a factoid question; a letterhead block is read whole (its lines are one unit)."""
        if kind is None or not scored:
            return None
        if passage.kind == "block":
            scored = [(0, len(passage.text), max(score for _, _, score in scored))]
        return find_short_answer(question, passage.text, scored, kind)


def _passage_sentences(index: IndexData, rows: np.ndarray, pid: int) -> tuple[tuple[int, int, frozenset[str]], ...]:
    """Each sentence of a passage (``rows``: its rows), in that order, as ``(start, end, content terms)``."""
    passage = index.passages[pid]
    spans = (passage.sentences[i] for i in index.sentence_number[rows].tolist())
    return tuple((a, b, frozenset(terms(passage.text[a:b]))) for a, b in spans)


_NO_ROWS = np.zeros(0, dtype=np.int64)
_NO_ROWS.flags.writeable = False
_NO_SCORES = np.zeros(0, dtype=np.float32)
_NO_SCORES.flags.writeable = False


@lru_cache(maxsize=16)
def _strictly_lower(size: int) -> np.ndarray:
    """``out[i, j]``: ``j < i`` (read only)."""
    out = np.tri(size, k=-1, dtype=bool)
    out.flags.writeable = False
    return out


def top_positive(scores: np.ndarray, count: int) -> np.ndarray:
    """The indices of the (at most) ``count`` highest positive ``scores``, ties taken in index order, in
    index order: what a stable sort of all the scores would select, without sorting them all."""
    positive = np.flatnonzero(scores > 0)
    if len(positive) <= count:
        return positive
    values = scores[positive]
    kth = np.partition(values, len(values) - count)[len(values) - count]  # the count-th highest
    above = positive[values > kth]
    return np.union1d(above, positive[values == kth][: count - len(above)])


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
