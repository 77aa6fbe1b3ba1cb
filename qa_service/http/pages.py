"""The web page: a question form with answers and the document view.

The page is rendered on the server and works without JavaScript (a plain GET form, ``/?q=...&k=...``;
each answer's "Helpful"/"Not helpful" buttons are a plain POST form to ``/feedback``, which stores the
mark and sends the reader back to the same answers with a thank-you, 303 See Other);
``static/app.js`` upgrades it to ask through the JSON API without reloading, keeping the same URL so
that answers can be shared and back/forward work. The markup of an answer is built in two places, the
``index.html`` template and ``app.js``; ``tests/test_browser.py`` checks that both give the same page.
"""

from __future__ import annotations

import logging
from datetime import date
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for

from ..corpus import country_label, country_name_of, country_of, read_examples
from ..errors import ApiError
from ..ranking.bm25 import words as _words
from .api import ask_with
from .feedback import parse_feedback_form, store_feedback
from .state import service
from .validation import FILTER_FIELDS, parse_ask_args

log = logging.getLogger(__name__)

web = Blueprint("web", __name__, template_folder="templates", static_folder="static", static_url_path="/static")

#: Problems with a corpus's examples.json already logged (each once, not on every page view).
_warned: set[str] = set()

#: The query parameters that say which mark was just recorded (the thank-you notice).
THANKS_PARAMS = ("fb_doc", "fb_p")

#: The choices of the "answers to show" control (those above the configured maximum are left out).
TOP_K_CHOICES = (1, 3, 5, 10, 20)


def human_date(value: object) -> str:
    """An ISO date as people read it ("12 October 2020"); anything else unchanged."""
    try:
        day = date.fromisoformat(str(value))
    except ValueError:
        return str(value or "")
    return f"{day.day} {day:%B %Y}"


def corpus_header() -> dict:
    """What the page header says about the corpus: the one document's title, speaker and date, or a count,
    and the words that fit one document or many (``kicker``, ``what``, ``no_answer``).

    With several documents the header names how many there are; each answer names its own document.
    """
    documents = service().retriever.documents()
    one = len(documents) == 1
    header = {
        "title": "",
        "speaker": "",
        "post": "",
        "date": "",
        "date_text": "",
        "agenda": "",
        "document": "",
        "kicker": "Ask the statement" if one else "Ask the collection",
        "what": "the statement" if one else "the statements",
        "no_answer": (
            "The statement does not seem to answer this question."
            if one
            else "None of the statements seems to answer this question."
        ),
    }
    if len(documents) == 1:
        doc = documents[0]
        meta = doc.metadata
        header.update(
            title=doc.title,
            speaker=str(meta.get("speaker", "")),
            post=str(meta.get("post", "")),
            date=str(meta.get("date", "")),
            date_text=human_date(meta.get("date", "")),
            agenda=str(meta.get("agenda_item", "")),
            document=doc.id,
        )
    else:
        header["title"] = f"{len(documents)} statements"
    header["documents"] = len(documents)
    return header


@web.get("/")
def index() -> tuple[str, int]:
    """The form; with ``?q=`` it also shows the answers, rendered on the server."""
    settings = service().settings
    question = request.args.get("q", "")
    k_raw = request.args.get("k", "")
    result, error = None, None
    top_k = settings.default_top_k
    chosen = {name: request.args.get(name, "").strip() for name in FILTER_FIELDS}
    if question.strip():
        args = {"question": [question], "top_k": [k_raw] if k_raw else []}
        args.update({name: [value] for name, value in chosen.items() if value})
        try:
            parsed = parse_ask_args(args, settings.default_top_k, settings.max_top_k, settings.max_question_chars)
            top_k = parsed.top_k
            result = ask_with(service().retriever, parsed)
        except ApiError as exc:
            error = exc.message
    elif k_raw.strip().isdigit() and 1 <= int(k_raw) <= settings.max_top_k:
        top_k = int(k_raw)  # keep the chosen count on an empty form
    choices = [k for k in TOP_K_CHOICES if k <= settings.max_top_k]
    if top_k not in choices:
        choices = sorted({*choices, top_k})
    page = render_template(
        "index.html",
        corpus=corpus_header(),
        examples=page_examples(),
        question=question,
        top_k=top_k,
        top_k_choices=choices,
        max_chars=settings.max_question_chars,
        result=result,
        error=error,
        facets=_facets(),
        chosen=chosen,
        back_url=_page_url(request.args.items(multi=True)),
        thanks=_thanks(),
    )
    return page, 400 if error else 200


def page_examples() -> list[str]:
    """The example questions under the form: the corpus's own (``examples.json`` beside its documents,
    read again when it changes), else derived from the documents. A file that cannot be used is logged
    once and the derived examples are shown instead."""
    state = service()
    try:
        own = read_examples(state.settings.corpus_dir, state.settings.max_question_chars)
    except ValueError as exc:
        if str(exc) not in _warned:
            _warned.add(str(exc))
            log.warning("ignoring the corpus's example questions: %s", exc)
        own = None
    return own if own is not None else state.retriever.examples()


def _page_url(params) -> str:
    """The question page's URL with these parameters, less the thank-you ones."""
    kept = [(k, v) for k, v in params if k not in THANKS_PARAMS]
    return url_for("web.index") + ("?" + urlencode(kept) if kept else "")


def _thanks() -> dict | None:
    """The mark just recorded (after the plain form's redirect), to thank the reader for."""
    doc, number = request.args.get("fb_doc"), request.args.get("fb_p", "")
    if doc and number.isascii() and number.isdigit():
        return {"document": doc, "passage": int(number)}
    return None


@web.post("/feedback")
def feedback() -> Response:
    """The answer buttons without JavaScript: store the mark, then back to the same answers (303)."""
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        raise ApiError(403, "forbidden", "Feedback is only taken from this site's own pages.")
    state = service()
    parsed = parse_feedback_form(request.form, state.settings.max_question_chars)
    store_feedback(state.retriever, parsed, via="page")
    # Back only to the question page of this site, whatever the form says.
    back = urlsplit(request.form.get("back", ""))
    same_page = not (back.scheme or back.netloc) and back.path == url_for("web.index")
    params = [(k, v) for k, v in parse_qsl(back.query) if k not in THANKS_PARAMS] if same_page else []
    params += [("fb_doc", parsed.document), ("fb_p", str(parsed.passage))]
    return redirect(f"{url_for('web.index')}?{urlencode(params)}#feedback-notice", code=303)


def _facets() -> dict | None:
    """The corpus picker's choices (documents, countries, years), when there is more than one document."""
    facets = service().retriever.facets()
    if len(facets["documents"]) < 2:
        return None
    return {**facets, "documents": sorted(facets["documents"], key=lambda d: d["title"].casefold())}


@web.get("/documents/<path:doc_id>")
def document(doc_id: str) -> str:
    """The whole document as numbered passages; ``?p=N`` marks passage N (the link adds ``#p-N`` to scroll)."""
    found = service().retriever.document(doc_id)
    if found is None:
        abort(404)
    doc, passages = found
    marked = request.args.get("p", type=int)
    meta = doc.metadata
    return render_template(
        "document.html",
        doc=doc,
        meta=meta,
        date_text=human_date(meta.get("date", "")),
        passages=passages,
        marked=marked,
    )


@web.app_template_filter("country_text")
def country_text(answer) -> str:
    """An answer's country as people read it: "Kazakhstan (KAZ)", or the code alone without a name."""
    meta = answer.metadata or {}
    return country_label(country_of(meta), country_name_of(meta))


@web.app_template_filter("marked_parts")
def marked_parts(answer) -> list[tuple[bool, list[tuple[str, bool]]]]:
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
