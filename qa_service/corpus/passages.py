"""Passages: the paragraphs a reader would call paragraphs, with where they stand in their source."""

from __future__ import annotations

from dataclasses import dataclass

#: A passage's place in a speech: the letterhead (speaker, post, agenda item, date), the opening (the first
#: paragraph of the speech proper, after the letterhead and the salutation), the closing ("In conclusion,
#: ..." and what follows, or the last paragraph), and the body.
ROLES = ("letterhead", "opening", "body", "closing")


@dataclass(frozen=True)
class Passage:
    """A paragraph of a document, with where it stands in the source.

    ``text`` is the source range as a reader sees it: line wraps joined by single spaces (a letterhead block
    keeps its line breaks), a word hyphenated across a line break joined ("non-proliferation"; without the
    hyphen only when the document writes the word so elsewhere), and without Markdown emphasis or quote
    markers (``**``, ``*``, ``>``) or the page numbers and footers inside the range. So ``text`` holds the
    same letters and digits as ``source[start_char:end_char]``, in the same order, less that page furniture;
    its first and last characters are those of the range. ``first_line``/``last_line`` are 1-based line
    numbers in the source file and ``start_char``/``end_char`` a half-open character range in it.
    ``sentences`` (and the highlight of an answer) are half-open ranges into ``text``, not into the source.
    """

    doc_id: str
    doc_title: str
    number: int
    text: str
    first_line: int
    last_line: int
    start_char: int
    end_char: int
    kind: str = "paragraph"  # "paragraph" or "block"
    section: str = ""
    sentences: tuple[tuple[int, int], ...] = ()
    role: str = "body"  # its place in the speech: one of ROLES

    @property
    def sentence_texts(self) -> list[str]:
        """The passage's sentences, in order."""
        return [self.text[a:b] for a, b in self.sentences]

    def to_dict(self) -> dict:
        """A JSON-ready form that :meth:`from_dict` reads back."""
        data = dict(self.__dict__)
        data["sentences"] = [list(s) for s in self.sentences]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Passage:
        """Rebuild a passage written by :meth:`to_dict`."""
        fields = dict(data)
        fields["sentences"] = tuple(tuple(s) for s in fields.get("sentences", ()))
        return cls(**fields)


#: nothing of their role, and questions ask for the role ("who spoke?", "when was it said?").
BLOCK_ROLE = "The speaker who delivered this statement, the speaker's post, the agenda item and the date of the speech:"


def context_prefix(passage: Passage, enabled: bool = True) -> str:
    """The context put before a passage when it is embedded.

    A letterhead block always gets :data:`BLOCK_ROLE`; with ``enabled``, every passage also gets its
    document title and section heading.
    """
    role = BLOCK_ROLE + "\n" if passage.kind == "block" else ""
    if not enabled:
        return role
    parts = [p for p in (passage.doc_title, passage.section) if p]
    # A section that repeats the title adds nothing.
    if len(parts) == 2 and parts[1].lower() in parts[0].lower():
        parts = parts[:1]
    return (". ".join(parts) + "\n" if parts else "") + role
