"""statement-qa: semantic question answering over a corpus of statements."""
