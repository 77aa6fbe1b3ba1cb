"""How clean the passages of a folder of statements are: counts of what a reader should never see.

    python benchmarks/passage_audit.py                      # the 415 UN statements beside this checkout
    python benchmarks/passage_audit.py --corpus /tmp/ungd-corpus --list blocks

Splits every document as a build does (words counted as 4/3 word pieces, not the model's tokenizer, so
the passage count differs a little from an index's) and prints, as JSON, the number of passages that:

- ``raw_markup``: show Markdown markup (``**``, ``*emphasis*``, a ``#`` heading or ``>`` quote marker);
- ``heading_only``: hold a Markdown heading line (``### 4. Global Challenges``) of their source;
- ``footer``: hold a page number or page footer ("18", "z 11", "Page 2|6", "23 08-53122", "A/63/PV.13");
- ``block``: are letterhead blocks (each is listed with ``--list blocks``);
- ``hyphen_break``: have a word split at a line-break hyphen with a space left in it ("non- proliferation"),
  counted per word; ``hyphen_inline`` counts "word- word" written so on one line of the source, which the
  splitter leaves alone (mostly a speaker's false starts, "sh- shout", or dashes, "countries- to");

and the share of the source's words that the passages keep. These patterns are the audit's own, written
from the corpus, not the splitter's: the splitter is checked against them, not against itself.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa_service.corpus import Document, Passage, load_corpus, load_document, split_passages  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "datasets" / "un_general_debate_subset" / "txt"

_MARKUP = re.compile(r"\*\*|(?<![\w*])\*(?=[^\s*])|(?<=[^\s*])\*(?![\w*])|^#{1,6}\s|^>\s?")
_HEADING_LINE = re.compile(r"^\s*#{1,6}\s+\S")
_FOOTER_LINE = re.compile(
    r"^\s*(?:\d{1,3}|page\s*\d{1,3}(?:\s*(?:\||/|of)\s*\d{1,3})?|[a-z]\s+\d{1,3}|\d{1,3}\s+\d{2}-\d{5}"
    r"|\d{2}-\d{5}\s+\d{1,3}|A/\d{1,3}/PV\.\d{1,3})\s*$",
    re.IGNORECASE,
)
# "non- proliferation", but not a suspended hyphen ("pre- and post-war").
_HYPHEN_SPACE = re.compile(r"[^\W_]- (?!(?:and|or|nor|to)\b)[^\W_]")
_LINE_END_HYPHEN = re.compile(r"(\S*[^\W_]-)\s*$")
_FIRST_WORD = re.compile(r"^\s*([^\W_]\S*)")


def _line_break_hyphens(source_lines: list[str]) -> list[str]:
    """ "tail- head" for each word of these lines hyphenated across a line break (blank lines between allowed)."""
    pairs = []
    texts = [ln for ln in source_lines if ln.strip()]
    for line, following in zip(texts, texts[1:]):
        tail, head = _LINE_END_HYPHEN.search(line), _FIRST_WORD.match(following)
        if tail and head:
            pairs.append(f"{tail.group(1)} {head.group(1)}")
    return pairs


def audit_passages(doc: Document, passages: list[Passage]) -> Counter:
    """The counts of one document's passages (see the module's docstring)."""
    counts: Counter = Counter(passages=len(passages), documents=1)
    lines = doc.text.split("\n")
    for p in passages:
        source_lines = lines[p.first_line - 1 : p.last_line]
        counts["raw_markup"] += any(_MARKUP.search(part) for part in p.text.split("\n"))
        counts["heading_only"] += any(_HEADING_LINE.match(ln) for ln in source_lines)
        footers = [ln.strip() for ln in source_lines if _FOOTER_LINE.match(ln)]
        words = p.text.split()
        counts["footer"] += any(f.split() == words[i : i + len(f.split())] for f in footers for i in range(len(words)))
        counts["block"] += p.kind == "block"
        broken = sum(p.text.count(pair) for pair in _line_break_hyphens(source_lines))
        counts["hyphen_break"] += broken
        counts["hyphen_inline"] += len(_HYPHEN_SPACE.findall(p.text)) - broken
        counts["kept_words"] += len(words)
    counts["source_words"] += len(doc.text[doc.body_offset :].split())
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="a corpus folder or the dataset's txt/")
    parser.add_argument("--list", choices=["blocks", "markup", "headings", "footers", "hyphens"], default=None)
    args = parser.parse_args()
    if not args.corpus.is_dir():
        sys.exit(f"no corpus at {args.corpus}")
    docs = load_corpus(args.corpus)
    if not docs:  # the dataset's txt/ holds its files one folder down, with no sidecars
        docs = [load_document(p, p.parent) for p in sorted(args.corpus.glob("*/*.txt"))]
    total: Counter = Counter()
    listed = {"blocks": "block", "markup": "raw_markup", "headings": "heading_only", "footers": "footer"}
    for doc in docs:
        passages = split_passages(doc)
        total += audit_passages(doc, passages)
        if args.list:
            for p in passages:
                key = listed.get(args.list, "hyphen_break")
                if audit_passages(doc, [p])[key]:
                    print(f"{doc.id} #{p.number} lines {p.first_line}-{p.last_line}: {p.text[:200]!r}")
    total["kept_share"] = round(total["kept_words"] / max(1, total["source_words"]), 4)
    order = ["documents", "passages", "raw_markup", "heading_only", "footer", "block", "hyphen_break", "hyphen_inline"]
    print(json.dumps({k: total[k] for k in order + ["kept_share"]}))


if __name__ == "__main__":
    main()
