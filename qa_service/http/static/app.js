// statement-qa: the question page, upgraded. Without this file the page is a plain GET form that the
// server answers; with it, questions go to the JSON API and the answers replace the old ones in place.
// The URL stays the form's own (/?q=...&k=...), pushed to the history, so that an answer can be shared
// and back/forward work. Text from the API only ever enters the page as text nodes (never as HTML).
"use strict";

(function () {
  const form = document.getElementById("ask");
  const results = document.getElementById("results");
  const status = document.getElementById("status");
  if (!form || !results || !status || !window.fetch || !window.history || !window.history.pushState) {
    return;
  }
  const input = form.elements.namedItem("q");
  const select = form.elements.namedItem("k");
  const button = form.querySelector("button[type=submit]");
  const buttonLabel = button.querySelector(".label");
  const examples = document.getElementById("examples");
  const baseTitle = document.title.replace(/^.* · /, "");
  // Page parameters and their names in the API; any other form field (a future filter) keeps its name.
  const API_NAMES = { q: "question", k: "top_k" };
  const API_URL = "/api/v1/ask";
  const FEEDBACK_URL = "/api/v1/feedback";
  const THANKS = "Thank you: your feedback was recorded.";
  const answered = new Map(); // page URL -> API result, so that back/forward need no request
  // The question whose answers are on the page (the server may have rendered some).
  let shown = results.querySelector(".answers") ? input.value.trim() : "";
  let asking = 0; // number of the latest request; an older one that ends late is ignored
  let controller = null;

  // -- building elements ------------------------------------------------------------------------------

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined) el.setAttribute(name, String(value));
    }
    el.append(...children); // strings become text nodes
    return el;
  }

  // Word tokens with their spans, as qa_service/lexical.py's words(): hyphenated words and their parts.
  const TOKEN = /[\p{L}\p{N}_]+(?:[-'’][\p{L}\p{N}_]+)*/gu;

  function words(text) {
    const out = [];
    for (const m of text.matchAll(TOKEN)) {
      const token = m[0];
      out.push({ word: token, start: m.index, end: m.index + token.length });
      if (token.includes("-")) {
        let offset = m.index;
        for (const part of token.split("-")) {
          if (part) out.push({ word: part, start: offset, end: offset + part.length });
          offset += part.length + 1;
        }
      }
    }
    return out;
  }

  // The API counts characters as Python does (code points); JavaScript strings count UTF-16 units.
  function utf16Index(text, codePoints) {
    let i = 0;
    for (let n = 0; n < codePoints && i < text.length; n++) {
      i += text.codePointAt(i) > 0xffff ? 2 : 1;
    }
    return i;
  }

  function passageText(answer) {
    const text = answer.text;
    const hl = answer.highlight || { start: 0, end: 0 };
    const start = utf16Index(text, hl.start);
    const end = utf16Index(text, hl.end);
    const wanted = new Set((answer.matched_terms || []).map((t) => t.toLowerCase()));
    const matches = words(text).filter((w) => wanted.has(w.word.toLowerCase()));
    const p = h("p", { class: "text" });
    for (const [segStart, segEnd, isHighlight] of [[0, start, false], [start, end, true], [end, text.length, false]]) {
      if (segStart >= segEnd) continue;
      const parent = isHighlight ? h("mark") : p;
      let pos = segStart;
      for (const m of matches) {
        const a = Math.max(m.start, segStart);
        const b = Math.min(m.end, segEnd);
        if (a < pos || a >= b) continue;
        if (a > pos) parent.append(text.slice(pos, a));
        parent.append(h("b", null, text.slice(a, b)));
        pos = b;
      }
      if (pos < segEnd) parent.append(text.slice(pos, segEnd));
      if (isHighlight) p.append(parent);
    }
    return p;
  }

  function documentHref(source) {
    const id = String(source.document).split("/").map(encodeURIComponent).join("/");
    const n = Number(source.passage);
    return `/documents/${id}?p=${n}#p-${n}`;
  }

  function answerItem(answer, question) {
    const source = answer.source;
    const [first, last] = source.lines;
    const scores = answer.scores || {};
    const detail =
      `score ${answer.score.toFixed(3)}` +
      (scores.dense !== undefined ? ` (semantic ${scores.dense.toFixed(3)}, lexical ${scores.lexical.toFixed(2)})` : "");
    const meter = h("meter", { min: 0, max: 1, value: answer.score, "aria-hidden": "true" },
      answer.score.toFixed(2));
    return h(
      "li",
      { class: "answer" },
      h(
        "div",
        { class: "meta" },
        h("span", { class: "rank" }, `#${answer.rank}`),
        " ",
        h("span", { class: "score", title: detail }, h("span", { class: "label" }, "score"), " ", meter, " ",
          h("span", { class: "num" }, answer.score.toFixed(2))),
        " ",
        h("a", { class: "where", href: documentHref(source) },
          `Passage ${source.passage}, ` +
            (source.kind === "metadata" ? "from the document's details"
              : first === last ? `line ${first}` : `lines ${first}–${last}`)),
      ),
      sourceLine(source),
      ...(answer.answer ? [h("p", { class: "short-answer" }, h("strong", null, answer.answer.text))] : []),
      passageText(answer),
      moreList(answer.more),
      feedbackBlock(answer, question),
    );
  }

  // The "Helpful" / "Not helpful" buttons, as _feedback.html renders them (a plain form underneath).
  function feedbackBlock(answer, question) {
    const source = answer.source;
    const labelId = `fb-${answer.rank}`;
    const hidden = (name, value) => h("input", { type: "hidden", name, value });
    const back = new URLSearchParams(location.search);
    back.delete("fb_doc");
    back.delete("fb_p");
    const backUrl = location.pathname + (back.toString() ? `?${back.toString()}` : "");
    return h("div", { class: "feedback" },
      h("form", { class: "feedback-form", method: "post", action: "/feedback" },
        hidden("question", question),
        hidden("document", source.document),
        hidden("passage", source.passage),
        hidden("back", backUrl),
        h("div", { class: "feedback-row", role: "group", "aria-labelledby": labelId },
          h("span", { class: "feedback-ask", id: labelId }, `Did passage ${source.passage} answer the question?`),
          h("button", { type: "submit", name: "helpful", value: "true" }, "Helpful"),
          h("button", { type: "submit", name: "helpful", value: "false" }, "Not helpful"))),
      h("p", { class: "feedback-status", role: "status", "aria-live": "polite", tabindex: "-1" }));
  }

  // A mark sent through the API: no reload; the buttons give way to a thank-you, which takes the focus.
  async function sendFeedback(form, helpful) {
    const block = form.closest(".feedback");
    const said = block.querySelector(".feedback-status");
    const buttons = [...form.querySelectorAll("button")];
    const field = (name) => form.elements.namedItem(name).value;
    buttons.forEach((b) => { b.disabled = true; });
    said.textContent = "Sending your feedback…";
    try {
      const response = await fetch(FEEDBACK_URL, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({
          question: field("question"),
          document: field("document"),
          passage: Number(field("passage")),
          helpful,
        }),
      });
      if (response.status === 201) {
        form.remove();
        said.textContent = THANKS;
        said.focus();
        return;
      }
      const body = await response.json().catch(() => null);
      const message = body && body.error && body.error.message;
      said.textContent = message || `The service answered with status ${response.status}; try again.`;
    } catch (error) {
      said.textContent = "The service could not be reached; check the connection and try again.";
    }
    buttons.forEach((b) => { b.disabled = false; });
  }

  results.addEventListener("submit", (event) => {
    const form = event.target.closest && event.target.closest("form.feedback-form");
    if (!form) return;
    event.preventDefault();
    const choice = event.submitter;
    if (!choice || choice.name !== "helpful") return;
    sendFeedback(form, choice.value === "true");
  });

  // With several documents (the page has a corpus picker): which statement an answer comes from, and,
  // with answers grouped by statement, the statement's next best passages (as _answer_*.html).
  const manyDocuments = Boolean(form.querySelector(".filters"));

  function sourceLine(source) {
    if (!manyDocuments) return "";
    const m = source.metadata || {};
    const id = String(source.document).split("/").map(encodeURIComponent).join("/");
    const who = m.speaker ? ` · ${m.speaker}${m.post ? `, ${m.post}` : ""}` : "";
    const country = source.country ? [" · ", h("span", { class: "country" }, source.country.label)] : [];
    return h("p", { class: "source-doc" }, h("a", { href: `/documents/${id}` }, source.title), ...country, who);
  }

  function moreList(more) {
    if (!more || !more.length) return "";
    return h("details", { class: "more" },
      h("summary", null, `${more.length} more passage${more.length === 1 ? "" : "s"} from this statement`),
      h("ul", null, ...more.map((m) => h("li", null,
        h("a", { href: documentHref(m.source) }, `Passage ${m.source.passage}`), `: ${m.highlight.text}`))));
  }

  function plural(n, word) {
    return `${n} ${word}${n === 1 ? "" : "s"}`;
  }

  // -- showing states ---------------------------------------------------------------------------------

  function showResult(result) {
    const n = result.answers.length;
    const parts = [];
    if (result.no_answer) {
      parts.push(h("p", { class: "no-answer" },
        h("strong", null, results.dataset.noAnswer || "The statement does not seem to answer this question."),
        " The closest passages are shown below, muted, in case they help."));
    }
    parts.push(h("ol", { class: result.no_answer ? "answers muted" : "answers" },
      ...result.answers.map((answer) => answerItem(answer, result.question))));
    parts.push(h("p", { class: "took" }, `Answered in ${Math.round(result.took_ms)} ms.`));
    results.replaceChildren(...parts);
    clearNotice();
    status.textContent = result.no_answer
      ? `No answer found; ${plural(n, "closest passage")} below.`
      : `${plural(n, "answer")}, best first.`;
    document.title = `${result.question} · ${baseTitle}`;
    shown = result.question;
  }

  function showError(message) {
    results.replaceChildren(h("p", { class: "error", role: "alert" }, message));
    status.textContent = "";
    shown = "";
  }

  // The thank-you of a plain form's mark belongs to the page it came back to, not to the next answers.
  function clearNotice() {
    const notice = document.getElementById("feedback-notice");
    if (notice) notice.remove();
  }

  function showNothing() {
    clearNotice();
    results.replaceChildren();
    status.textContent = "";
    document.title = baseTitle;
    shown = "";
  }

  function setLoading(on) {
    form.classList.toggle("is-loading", on);
    results.setAttribute("aria-busy", on ? "true" : "false");
    buttonLabel.textContent = on ? "Asking…" : "Ask";
    if (on) status.textContent = "Looking for answers…";
  }

  // -- asking -----------------------------------------------------------------------------------------

  function formParams() {
    const params = new URLSearchParams();
    for (const [name, value] of new FormData(form)) params.append(name, String(value));
    return params;
  }

  function pageUrl(params) {
    return `${form.getAttribute("action") || "/"}?${params.toString()}`;
  }

  function apiUrl(params) {
    const api = new URLSearchParams();
    // An empty filter field (no country chosen, no year typed) means no filter: it is left out.
    for (const [name, value] of params) if (value !== "" || name in API_NAMES) api.append(API_NAMES[name] || name, value);
    return `${API_URL}?${api.toString()}`;
  }

  function fillForm(params) {
    input.value = params.get("q") || "";
    const k = params.get("k");
    if (k && [...select.options].some((o) => o.value === k)) select.value = k;
    syncExamples();
  }

  async function ask(params, how) {
    const url = pageUrl(params);
    if (how === "push" && url !== location.pathname + location.search) {
      history.pushState({ url }, "", url);
    } else if (how === "push") {
      history.replaceState({ url }, "", url);
    }
    const number = ++asking;
    if (controller) controller.abort();
    if (answered.has(url)) {
      setLoading(false);
      showResult(answered.get(url));
      return;
    }
    controller = new AbortController();
    setLoading(true);
    try {
      const response = await fetch(apiUrl(params), {
        headers: { Accept: "application/json" },
        signal: controller.signal,
      });
      const body = await response.json().catch(() => null);
      if (number !== asking) return;
      if (response.ok && body && Array.isArray(body.answers)) {
        answered.set(url, body);
        showResult(body);
      } else {
        const message = body && body.error && body.error.message;
        showError(message || `The service answered with status ${response.status}; try again.`);
      }
    } catch (error) {
      if (number !== asking || (error && error.name === "AbortError")) return;
      showError("The service could not be reached; check the connection and try again.");
    } finally {
      if (number === asking) setLoading(false);
    }
  }

  function syncExamples() {
    if (!examples) return;
    const hidden = examples.elements.namedItem("k");
    if (hidden) hidden.value = select.value;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    ask(formParams(), "push");
  });

  if (examples) {
    examples.addEventListener("submit", (event) => {
      const choice = event.submitter;
      if (!choice || choice.name !== "q") return; // let the browser submit the plain form
      event.preventDefault();
      input.value = choice.value;
      ask(formParams(), "push");
    });
  }

  select.addEventListener("change", () => {
    syncExamples();
    // A new count for the answers on the page: ask again. A new question still waits for Enter.
    if (shown && input.value.trim() === shown) ask(formParams(), "push");
  });

  window.addEventListener("popstate", () => {
    const params = new URLSearchParams(location.search);
    fillForm(params);
    if ((params.get("q") || "").trim()) {
      ask(params, "none");
    } else {
      if (controller) controller.abort();
      asking++;
      setLoading(false);
      showNothing();
    }
  });

  // The first page: remember the server-rendered state so that coming back to it works the same.
  history.replaceState({ url: location.pathname + location.search }, "", location.pathname + location.search);
  syncExamples();
})();
