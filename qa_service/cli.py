"""The ``qa-service`` command: build the index, ask from the terminal, serve over HTTP, evaluate, and
sum up or export readers' feedback."""

from __future__ import annotations

import errno
import json
import multiprocessing
import sys
import textwrap
from pathlib import Path

import click

from .settings import Settings, SettingsError


def _settings(**overrides: object) -> Settings:
    try:
        return Settings.from_env(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc


class _Commands(click.Group):
    """The commands, with the failures a person can act on (a damaged or unwritable index, a full disk)
    reported as one line and exit status 1 instead of a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        from .index import IndexProblem

        try:
            return super().invoke(ctx)
        except IndexProblem as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            where = f" while writing {exc.filename}" if exc.filename else ""
            raise click.ClickException(f"no space left on device{where}: free space and try again") from None


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Semantic question answering over a corpus of statements."""


@main.command()
@click.option("--force", is_flag=True, help="Rebuild from scratch, embedding everything again.")
def build(force: bool) -> None:
    """Build or update the index of the corpus (only new text is embedded), with a progress bar."""
    _update_index(_settings(rebuild="auto"), force=force)


def _update_index(settings: Settings, force: bool = False) -> None:
    """Bring the index up to date with the corpus folder and say what it holds."""
    from .index import build_encoder, ensure_index
    from .index.progress import BuildProgress

    _log_to_stderr(settings)
    encoder = build_encoder(settings)
    progress = BuildProgress()
    data = ensure_index(settings, encoder, progress, force=force)
    progress.close()
    if data.vectors is not None:
        data.vectors.close()
    m = data.manifest
    click.echo(
        f"index ready in {settings.index_dir}: {m.documents} documents, {m.passages} passages, "
        f"{m.windows} windows, {m.sentences} sentences; {m.vector_store.get('kind')} "
        f"{m.vector_store.get('plan', {}).get('kind')} index (built {m.built_at}, embedded {m.embedded} texts "
        f"in {m.build_seconds:.1f} s)"
    )


def _print_report(report, verb: str) -> None:
    click.echo(f"{verb} {len(report.written)} document(s); {len(report.unchanged)} unchanged")
    for name, reason in report.skipped:
        click.secho(f"skipped {name}: {reason}", fg="yellow", err=True)


@main.command(name="import-ungd")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Corpus folder to write (default QA_CORPUS_DIR).",
)
@click.option("--country", "countries", multiple=True, help="Only this ISO code (repeatable).")
@click.option("--session", "sessions", multiple=True, type=int, help="Only this session (repeatable).")
@click.option("--limit", type=click.IntRange(1, None), default=None, help="At most this many statements.")
@click.option("--build/--no-build", "build_after", default=True, help="Update the index afterwards (default: yes).")
def import_ungd_command(
    source: Path,
    out: Path | None,
    countries: tuple[str, ...],
    sessions: tuple[int, ...],
    limit: int | None,
    build_after: bool,
) -> None:
    """Import UN General Debate statements from SOURCE (manifest.tsv, txt/, Speakers_by_session.xlsx)
    into the corpus folder, with title, country, session, year, speaker and post as metadata."""
    from .corpus.importers import ImportProblem, import_ungd

    settings = _settings(corpus_dir=out)
    try:
        report = import_ungd(source, settings.corpus_dir, countries or None, sessions or None, limit)
    except ImportProblem as exc:
        raise click.UsageError(str(exc)) from exc
    _print_report(report, f"imported into {settings.corpus_dir}:")
    if build_after:
        _update_index(settings.replace(rebuild="auto"))


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--build/--no-build", "build_after", default=True, help="Update the index afterwards (default: yes).")
def add(paths: tuple[Path, ...], build_after: bool) -> None:
    """Add documents (.txt/.md, with a <name>.meta.json sidecar when present) to the corpus and index
    them: only their passages are embedded."""
    from .corpus.importers import add_documents

    settings = _settings(rebuild="auto")
    report = add_documents(paths, settings.corpus_dir)
    _print_report(report, f"added to {settings.corpus_dir}:")
    if report.skipped and not report.written and not report.unchanged:
        sys.exit(1)
    if build_after:
        _update_index(settings)


@main.command()
@click.argument("ids", nargs=-1, required=True)
@click.option("--build/--no-build", "build_after", default=True, help="Update the index afterwards (default: yes).")
def remove(ids: tuple[str, ...], build_after: bool) -> None:
    """Remove documents (by id) from the corpus folder and their vectors from the index (no rebuild)."""
    from .corpus.importers import remove_documents

    settings = _settings(rebuild="auto")
    report = remove_documents(ids, settings.corpus_dir)
    _print_report(report, f"removed from {settings.corpus_dir}:")
    if report.skipped and not report.written:
        sys.exit(1)
    if build_after:
        _update_index(settings)


@main.command()
@click.argument("question")
@click.option("--top-k", "-k", type=click.IntRange(1, None), default=None, help="How many answers (default 3).")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON instead of text.")
@click.option("--document", "documents", multiple=True, help="Only this document id (repeatable).")
@click.option("--country", "countries", multiple=True, help="Only documents of this country code (repeatable).")
@click.option("--year-from", type=int, default=None, help="Only documents of this year or later.")
@click.option("--year-to", type=int, default=None, help="Only documents of this year or earlier.")
@click.option("--group", is_flag=True, help="One answer per document.")
def ask(
    question: str,
    top_k: int | None,
    as_json: bool,
    documents: tuple[str, ...],
    countries: tuple[str, ...],
    year_from: int | None,
    year_to: int | None,
    group: bool,
) -> None:
    """Answer QUESTION from the index and print the answers (optionally filtered, as in the API)."""
    from .errors import ApiError
    from .http.api import ask_with, result_to_json
    from .http.app import build_retriever
    from .http.validation import parse_ask_json
    from .index import IndexProblem

    settings = _settings()
    body: dict[str, object] = {
        "question": question,
        "top_k": top_k or settings.default_top_k,
        "group_by_document": group,
    }
    body.update({k: v for k, v in (("document", list(documents)), ("country", list(countries))) if v})
    body.update({k: v for k, v in (("year_from", year_from), ("year_to", year_to)) if v is not None})
    try:
        request_ = parse_ask_json(body, settings.default_top_k, settings.max_top_k, settings.max_question_chars)
        result = ask_with(build_retriever(settings), request_)
    except ApiError as exc:
        raise click.UsageError(exc.message) from exc
    except IndexProblem as exc:
        raise click.ClickException(f"the index cannot be used: {exc}") from exc
    if as_json:
        click.echo(json.dumps(result_to_json(result), indent=2, ensure_ascii=False))
        return
    if result.no_answer:
        click.secho("The corpus does not seem to answer this question; closest passages:", fg="yellow")
    for a in result.answers:
        p = a.passage
        click.secho(
            f"\n#{a.rank}  score {a.score:.3f}  ·  {p.doc_id}, passage {p.number}, lines {p.first_line}-{p.last_line}",
            bold=True,
        )
        if a.short_answer:
            click.secho(f"Answer: {a.short_answer.text}", bold=True, fg="cyan")
        click.echo(textwrap.fill(p.text, 100, break_on_hyphens=False) if p.kind != "block" else p.text)
        click.secho("→ " + a.highlight.text, fg="green")
    click.echo(f"\n({result.took_ms:.0f} ms)")


@main.command()
@click.option("--host", default=None, help="Address to bind (default QA_HOST or 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to bind (default QA_PORT or 8000).")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Worker processes (default QA_WORKERS).")
@click.option(
    "--threads",
    type=click.IntRange(1, 256),
    default=None,
    help="Requests each worker answers at once (default QA_THREADS).",
)
def serve(host: str | None, port: int | None, workers: int | None, threads: int | None) -> None:
    """Serve the API and the page with gunicorn (builds the index first when needed)."""
    settings = _settings(host=host, port=port, workers=workers, threads=threads)
    if not _index_ready(settings):
        # Build in a separate process so that the server's master never loads torch before forking.
        ctx = multiprocessing.get_context("spawn")
        child = ctx.Process(target=_prepare_index, args=(settings,))
        child.start()
        child.join()
        if child.exitcode != 0:
            click.secho("the index could not be prepared; see the messages above", fg="red", err=True)
            sys.exit(1)
    from .http.server import run

    run(settings)


def _log_to_stderr(settings: Settings) -> None:
    import logging

    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _index_ready(settings: Settings) -> bool:
    """Whether the encoder's files are in place and the index is intact and fresh, so that serving can
    start without a preparation step (this loads neither the model nor torch)."""
    from .encoders import make_encoder
    from .index import load_fresh_index

    try:
        encoder = make_encoder(settings, cache_size=0)
        if not encoder.is_prepared():
            return False
        data = load_fresh_index(settings, encoder)
        # Closed at once: the workers open their own (a Milvus Lite file admits one process at a time).
        data.vectors.close()
        return True
    except Exception:  # anything wrong: the preparation step finds it and reports it
        return False


def _prepare_index(settings: Settings) -> None:
    import logging

    from .index import IndexProblem, build_encoder, ensure_index
    from .index.progress import BuildProgress

    _log_to_stderr(settings)
    try:
        progress = BuildProgress()
        data = ensure_index(settings, build_encoder(settings), progress)
        progress.close()
        if data.vectors is not None:
            data.vectors.close()  # the server's workers open their own
    except IndexProblem as exc:
        logging.getLogger("qa_service").error("cannot start: %s", exc)
        sys.exit(2)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        logging.getLogger("qa_service").error("cannot start: no space left on device while writing %s", exc.filename)
        sys.exit(2)


@main.command(name="eval")
@click.argument("sets", nargs=-1)
@click.option(
    "--out-of-scope",
    "out_of_scope",
    type=click.Path(exists=True, dir_okay=False),
    multiple=True,
    help="JSONL of out-of-scope questions for the JSONL set(s) (repeatable: the files are pooled).",
)
@click.option(
    "--limit", type=click.IntRange(1, None), default=None, help="Sample at most N questions per set (seeded)."
)
@click.option(
    "--mode",
    "modes",
    multiple=True,
    metavar="RANKING",
    help="A ranking to measure: full, fusion, fusion@WEIGHT, dense, bm25 (repeatable; default: full, "
    "fusion@0.5, fusion@0.7, dense, bm25). The first one's no_answer is reported.",
)
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="Override a ranking parameter.")
@click.option(
    "--json", "json_path", default=None, metavar="PATH", help="Also write the figures as JSON ('-' = stdout)."
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False),
    default=".eval-cache",
    show_default=True,
    help="Where the indexes of evaluated sets are kept between runs.",
)
@click.option(
    "--misses",
    type=click.IntRange(0, None),
    default=0,
    help="Print up to N questions missed at rank 1, and the questions no_answer got wrong (tune splits only).",
)
@click.option(
    "--held-out-misses",
    is_flag=True,
    help="With --misses, print the held-out questions' misses too (for reporting, not for choosing).",
)
@click.option(
    "--titles/--no-titles",
    "titles",
    default=None,
    help="Embed passages with their document title (default: ClapNQ yes, others as QA_EMBED_CONTEXT).",
)
@click.option(
    "--corpus",
    "corpus",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="The corpus folder the JSONL set(s) are asked of (default QA_CORPUS_DIR), e.g. the 415 imported UN "
    "statements for tests/data/ungd_questions.jsonl.",
)
@click.option(
    "--calibrate",
    is_flag=True,
    help="Fit the no-answer rule on each set's answerable and out-of-scope questions, with cross-validation.",
)
def eval_(
    sets: tuple[str, ...],
    out_of_scope: tuple[str, ...],
    limit: int | None,
    modes: tuple[str, ...],
    params: tuple[str, ...],
    json_path: str | None,
    cache_dir: str,
    misses: int,
    held_out_misses: bool,
    titles: bool | None,
    corpus: Path | None,
    calibrate: bool,
) -> None:
    """Measure the ranking and no_answer on question sets (SETS: JSONL files, a SQuAD file, a ClapNQ folder).

    Without SETS: the statement question sets under tests/data.
    """
    from pathlib import Path

    from .evaluation.runner import run_cli

    settings = _settings(corpus_dir=corpus)
    try:
        report_text, data = run_cli(
            settings,
            sets,
            out_of_scope,
            limit,
            modes,
            params,
            Path(cache_dir),
            misses,
            calibrate,
            titles,
            held_out_misses,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(report_text)
    if json_path == "-":
        click.echo(json.dumps(data, indent=2))
    elif json_path:
        Path(json_path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


@main.group()
def feedback() -> None:
    """Readers' marks of answers (helpful or not), stored by the service in QA_DATA_DIR."""


def _feedback_store(settings: Settings):
    from .feedback import FEEDBACK_FILE, FeedbackStore

    path = settings.data_dir / FEEDBACK_FILE
    if not path.is_file():
        raise click.UsageError(f"no feedback yet: {path} does not exist (the service makes it; see QA_DATA_DIR)")
    return FeedbackStore(path)


@feedback.command(name="stats")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def feedback_stats_command(as_json: bool) -> None:
    """Marks per question and passage: helpful, not helpful, share helpful."""
    from .feedback import feedback_stats

    rows = feedback_stats(_feedback_store(_settings()).marks())
    if as_json:
        data = [
            {
                "question": r.question,
                "document": r.document,
                "passage": r.passage,
                "helpful": r.helpful,
                "unhelpful": r.unhelpful,
                "share_helpful": round(r.share_helpful, 4),
            }
            for r in rows
        ]
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    marks = sum(r.total for r in rows)
    helpful = sum(r.helpful for r in rows)
    questions = len({r.question.casefold() for r in rows})
    share = f"{helpful / marks:.0%}" if marks else "-"
    click.echo(f"{marks} marks on {questions} questions, {share} helpful")
    if rows:
        click.echo(f"\n{'helpful':>7} {'not':>5} {'share':>6}  passage  question")
    for r in rows:
        question = r.question if len(r.question) <= 70 else r.question[:69] + "…"
        click.echo(f"{r.helpful:>7} {r.unhelpful:>5} {r.share_helpful:>6.0%}  {r.document} #{r.passage}  {question}")


@feedback.command(name="export")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--review",
    "review_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the questions every mark called unhelpful (default: PATH with .review.jsonl).",
)
def feedback_export_command(path: Path, review_path: Path | None) -> None:
    """Write the marks as a question set for `qa-service eval PATH`: a passage marked helpful is gold.

    Questions whose every mark was "not helpful" go to a review file (out-of-scope format), to be read by
    a person before `qa-service eval --out-of-scope` uses them.
    """
    from .feedback import export_question_set
    from .files import write_atomic
    from .index import IndexProblem, describe_problem, load_index

    settings = _settings()
    store = _feedback_store(settings)
    try:
        passages = load_index(settings.index_dir).passages
    except IndexProblem as exc:
        raise click.UsageError(
            f"the index is needed to name gold passages: {describe_problem(exc, settings.index_dir)}"
        ) from exc
    result = export_question_set(store.marks(), passages)
    review_path = review_path or path.with_name(path.name.removesuffix(".jsonl") + ".review.jsonl")
    for target, rows in ((path, result.questions), (review_path, result.review)):
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    click.echo(f"{len(result.questions)} questions with gold passages written to {path}")
    click.echo(f"{len(result.review)} questions marked unhelpful throughout written to {review_path} (to review)")
    for reason in result.skipped:
        click.secho(f"skipped: {reason}", fg="yellow", err=True)


if __name__ == "__main__":
    main()
