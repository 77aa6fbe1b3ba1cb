"""A corpus's own example questions: ``examples.json`` beside its documents, a JSON list of questions.

The page offers them under the question form. The file is not a document (``corpus_files`` takes only
``.txt``/``.md``) and not part of the corpus fingerprint: examples change no passage, vector or answer,
so editing them must not make a good index stale and force a build; the page reads the file again
whenever it changes. Without the file the page derives examples from the documents.
"""

from __future__ import annotations

import json
from pathlib import Path

EXAMPLES_FILE = "examples.json"
#: At most this many examples are shown; longer lists are cut.
MAX_EXAMPLES = 10

_cache: dict[str, tuple[tuple[int, int, int], list[str]]] = {}


def read_examples(corpus_dir: Path, max_chars: int = 500) -> list[str] | None:
    """The questions of ``<corpus_dir>/examples.json`` (None when there is no such file).

    Blank entries are skipped, the others stripped; at most :data:`MAX_EXAMPLES` are kept.

    Raises:
        ValueError: the file is not a JSON list of strings of at most ``max_chars`` characters.
    """
    path = corpus_dir / EXAMPLES_FILE
    try:
        stat = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    key = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
    cached = _cache.get(str(path))
    if cached is not None and cached[0] == key:
        return list(cached[1])
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
        raise ValueError(f"{path}: expected a JSON list of questions (strings)")
    questions = [item.strip() for item in data if item.strip()]
    if any(len(q) > max_chars for q in questions):
        raise ValueError(f"{path}: an example is longer than {max_chars} characters (a question's limit)")
    questions = questions[:MAX_EXAMPLES]
    _cache[str(path)] = (key, questions)
    return list(questions)
