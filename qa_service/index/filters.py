"""Which documents a question is asked of: one filter type, and the one function that applies it.

The vector stores filter windows with it and the ranking filters passages with it; both hold an
:class:`Attributes` table (document id, country, year per row) and call :meth:`Attributes.mask`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..corpus import DocumentRecord


@dataclass(frozen=True)
class Filter:
    """Any of ``documents`` (ids), any of ``countries`` (upper-case codes), and a year range.

    A field left as None does not restrict. Documents without a year never match a year range.
    """

    documents: frozenset[str] | None = None
    countries: frozenset[str] | None = None
    year_from: int | None = None
    year_to: int | None = None

    def is_empty(self) -> bool:
        """True when nothing is filtered out."""
        return self.documents is None and self.countries is None and self.year_from is None and self.year_to is None


class Attributes:
    """The fields rows are filtered by (a window's or a passage's document, country and year), one per row."""

    def __init__(self, documents: Sequence[str] = (), countries: Sequence[str] = (), years: Sequence[int] = ()) -> None:
        self.documents = np.asarray(documents, dtype=object)
        self.countries = np.asarray(countries, dtype=object)
        self.years = np.asarray(years, dtype=np.int64)

    @classmethod
    def of_rows(cls, records: Sequence[DocumentRecord], row_document: Sequence[str]) -> Attributes:
        """The attributes of rows that each belong to the document named in ``row_document``."""
        by_id = {d.id: d for d in records}
        found = [by_id.get(doc) for doc in row_document]
        return cls(
            list(row_document),
            [d.country if d else "" for d in found],
            [d.year if d else 0 for d in found],
        )

    def __len__(self) -> int:
        return len(self.documents)

    def take(self, rows: Sequence[int] | np.ndarray) -> Attributes:
        """The attributes of some rows, in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        return Attributes(self.documents[rows], self.countries[rows], self.years[rows])

    def concat(self, other: Attributes) -> Attributes:
        """These rows followed by ``other``'s."""
        return Attributes(
            np.concatenate([self.documents, other.documents]),
            np.concatenate([self.countries, other.countries]),
            np.concatenate([self.years, other.years]),
        )

    def mask(self, where: Filter | None) -> np.ndarray | None:
        """Which rows ``where`` lets through (None: all of them)."""
        if where is None or where.is_empty():
            return None
        mask = np.ones(len(self), dtype=bool)
        if where.documents is not None:
            mask &= np.isin(self.documents, list(where.documents))
        if where.countries is not None:
            mask &= np.isin(self.countries, list(where.countries))
        if where.year_from is not None or where.year_to is not None:
            mask &= self.years > 0
            if where.year_from is not None:
                mask &= self.years >= where.year_from
            if where.year_to is not None:
                mask &= self.years <= where.year_to
        return mask
