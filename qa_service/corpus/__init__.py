"""The corpus: documents and their metadata, split into passages and sentences.

``load_corpus`` reads the documents of a folder; ``split_passages`` makes the passages a reader would
call paragraphs; ``read_examples`` reads the corpus's own example questions; ``importers`` puts files
(the UN General Debate set, any text files) into a folder.
Nothing here knows about models or indexes.
"""

from .documents import (
    DOCUMENT_SUFFIXES,
    MAX_COUNTRY_CHARS,
    MAX_ID_CHARS,
    SIDECAR_SUFFIX,
    Document,
    DocumentRecord,
    corpus_files,
    corpus_fingerprint,
    country_label,
    country_name_of,
    country_of,
    load_corpus,
    load_document,
    parse_front_matter,
    year_of,
)
from .examples import EXAMPLES_FILE, read_examples
from .layout import SPLITTER_VERSION, split_passages
from .passages import BLOCK_ROLE, ROLES, Passage, context_prefix
from .sentences import chunk_spans, split_sentences
from .text import collapse_space, fold

__all__ = [
    "BLOCK_ROLE",
    "ROLES",
    "DOCUMENT_SUFFIXES",
    "EXAMPLES_FILE",
    "MAX_COUNTRY_CHARS",
    "MAX_ID_CHARS",
    "SIDECAR_SUFFIX",
    "SPLITTER_VERSION",
    "Document",
    "DocumentRecord",
    "Passage",
    "chunk_spans",
    "collapse_space",
    "context_prefix",
    "corpus_files",
    "corpus_fingerprint",
    "country_label",
    "country_name_of",
    "country_of",
    "fold",
    "load_corpus",
    "load_document",
    "parse_front_matter",
    "read_examples",
    "split_passages",
    "split_sentences",
    "year_of",
]
