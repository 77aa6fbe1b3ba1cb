"""What a running app holds: its settings and its retriever, reachable from any request."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from .retriever import Retriever
from .settings import Settings

EXTENSION_KEY = "qa_service"


@dataclass(frozen=True)
class ServiceState:
    """The settings and the loaded retriever of one app."""

    settings: Settings
    retriever: Retriever


def service() -> ServiceState:
    """The state of the app handling the current request."""
    return current_app.extensions[EXTENSION_KEY]
