"""The corpus: documents and their metadata, split into passages and sentences.

``load_corpus`` reads the documents of a folder; ``split_passages`` makes the passages a reader would
call paragraphs, and ``document_passages`` adds the attribution passage written from a document's
metadata (speaker, post, country, session, date); ``read_examples`` reads the corpus's own example
questions; ``importers`` puts files (the UN General Debate set, any text files) into a folder.
Nothing here knows about models or indexes.
"""

from .attribution import ATTRIBUTION_VERSION, METADATA_KIND, attribution_passage, attribution_text, document_passages
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
from .layout import SPLITTER_VERSION as LAYOUT_VERSION
from .layout import split_passages
from .passages import BLOCK_ROLE, ROLES, Passage, context_prefix
from .sentences import chunk_spans, split_sentences
from .text import collapse_space, fold

#: Bumped (through either part) whenever a document's passages change, so that older indexes count as stale.
SPLITTER_VERSION = f"{LAYOUT_VERSION}+attribution{ATTRIBUTION_VERSION}"

__all__ = [
    "ATTRIBUTION_VERSION",
    "METADATA_KIND",
    "attribution_passage",
    "attribution_text",
    "document_passages",
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
