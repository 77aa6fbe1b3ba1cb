"""Ranking: from a question to ranked answers over a loaded index.

- ``retriever``: candidates from the vector store and BM25, scored, de-duplicated, highlighted.
- ``fusion``: how dense and lexical scores become one score (and the baselines' scalers).
- ``bm25``: word tokens, stems, stopwords and BM25 (bm25s).
- ``no_answer``: the one no-answer rule, used by the service and by its calibration.
- ``short_answer``: the span of a passage that answers a factoid question (a date, a number, a name),
  from ``answer_kinds`` (what a question's wording asks for) and ``spans`` (the candidates of each kind
  in a text).
- ``expansion``: query expansion (pseudo-relevance feedback, the model's word neighbours, a why/how
  sentence weight), measured and off by default.
- ``params``: the ranking's parameters, built from the settings in one place.
"""

from .answer_kinds import KINDS as SHORT_ANSWER_KINDS
from .fusion import MODES, Mode
from .no_answer import Evidence, NoAnswerRule
from .params import RankingParams
from .retriever import Answer, Highlight, Result, Retriever
from .short_answer import ShortAnswer

__all__ = [
    "MODES",
    "SHORT_ANSWER_KINDS",
    "Answer",
    "Evidence",
    "Highlight",
    "Mode",
    "NoAnswerRule",
    "RankingParams",
    "Result",
    "Retriever",
    "ShortAnswer",
]
