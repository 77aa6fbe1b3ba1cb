"""The web page: a question form with answers (works without JavaScript) and the document view."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request

from .errors import ApiError
from .lexical import words as _words
from .state import service
from .validation import parse_ask_args

web = Blueprint("web", __name__, template_folder="templates", static_folder="static", static_url_path="/static")

EXAMPLES = (
    "Who delivered the statement, and when?",
    "When did Kazakhstan accede to the nuclear terrorism convention?",
    "What does Kazakhstan see as root causes of terrorism?",
    "Which regional organisation in Asia is mentioned?",
    "What did the religious leaders' congress agree on?",
)


def _corpus_header() -> dict:
    """Title, speaker and date of the corpus for the page header (one document), or a count."""
    documents = service().retriever.documents()
    if len(documents) == 1:
        doc = documents[0]
        meta = doc.get("metadata", {})
        return {
            "title": doc["title"],
            "speaker": meta.get("speaker", ""),
            "post": meta.get("post", ""),
            "date": meta.get("date", ""),
            "agenda": meta.get("agenda_item", ""),
            "document": doc["id"],
        }
    return {"title": f"{len(documents)} documents", "speaker": "", "post": "", "date": "", "agenda": "", "document": ""}


@web.get("/")
def index() -> tuple[str, int]:
    """The form; with ``?q=`` it also shows the answers, rendered on the server."""
    settings = service().settings
    question = request.args.get("q", "")
    k_raw = request.args.get("k", "")
    result, error = None, None
    top_k = settings.default_top_k
    if question.strip():
        args = {"question": [question], "top_k": [k_raw] if k_raw else []}
        try:
            parsed = parse_ask_args(args, settings.default_top_k, settings.max_top_k, settings.max_question_chars)
            top_k = parsed.top_k
            result = service().retriever.ask(parsed.question, parsed.top_k)
        except ApiError as exc:
            error = exc.message
    status = 400 if error else 200
    page = render_template(
        "index.html",
        corpus=_corpus_header(),
        examples=EXAMPLES,
        question=question,
        top_k=top_k,
        top_k_choices=[k for k in (1, 3, 5, 10, 20) if k <= settings.max_top_k],
        result=result,
        error=error,
    )
    return page, status


@web.get("/documents/<path:doc_id>")
def document(doc_id: str) -> str:
    """The whole document as numbered passages; ``?p=N`` marks passage N."""
    found = service().retriever.document(doc_id)
    if found is None:
        abort(404)
    doc, passages = found
    marked = request.args.get("p", type=int)
    return render_template("document.html", doc=doc, passages=passages, marked=marked)


@web.app_template_filter("marked_parts")
def marked_parts(answer) -> list[tuple[bool, list[tuple[str, bool]]]]:  # noqa: ANN001 - a retriever.Answer
    """The passage text as segments (before, highlighted sentence, after) for the template.

    Each segment is ``(is_highlight, parts)`` and each part ``(text, is_matched_term)``, so that the
    template wraps the whole sentence in one ``<mark>`` and the matched words in ``<b>``.
    """
    text = answer.passage.text
    start, end = answer.highlight.start, answer.highlight.end
    wanted = {t.lower() for t in answer.matched_terms}
    matches = [(a, b) for word, a, b in _words(text) if word.lower() in wanted]
    segments = []
    for seg_start, seg_end, is_highlight in ((0, start, False), (start, end, True), (end, len(text), False)):
        if seg_start >= seg_end:
            continue
        parts: list[tuple[str, bool]] = []
        pos = seg_start
        for a, b in matches:
            a, b = max(a, seg_start), min(b, seg_end)
            if a < pos or a >= b:
                continue
            if a > pos:
                parts.append((text[pos:a], False))
            parts.append((text[a:b], True))
            pos = b
        if pos < seg_end:
            parts.append((text[pos:seg_end], False))
        segments.append((is_highlight, parts))
    return segments
