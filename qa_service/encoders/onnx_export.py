"""Exporting the sentence-transformers model to ONNX (and int8) locally, once, into a cache folder.

Nothing is downloaded: the transformer is read from the model folder (the one QA_MODEL names), exported
with torch's own ONNX exporter and, for ``onnx-int8``, quantised with ONNX Runtime's dynamic int8
quantisation (per channel: per-tensor scales make the embeddings drift). Only this module imports torch,
and only when an export is actually needed, so a server whose model is already exported never loads it.

The exported files live in ``<cache>/<model label>-<model hash>-r<RECIPE>/``; a file is written under a
temporary name and renamed, so a crash never leaves a half-written model in place.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..files import exclusive_lock, temporary_name, write_atomic
from .base import model_label

log = logging.getLogger(__name__)

#: Bump when the export or quantisation recipe changes: the cached files and indexes built with them
#: are then stale (the recipe is part of the encoder's identity).
RECIPE = 1
FP32_FILE = "model.onnx"
INT8_FILE = "model-int8.onnx"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


def export_folder(cache_dir: Path, model_dir: Path, fingerprint: str) -> Path:
    """The cache folder for one model (its label and content hash) and this recipe."""
    return cache_dir / f"{model_label(model_dir)}-{fingerprint}-r{RECIPE}"


def model_file(quantized: bool) -> str:
    """The file name of the float32 or the int8 model inside an export folder."""
    return INT8_FILE if quantized else FP32_FILE


def ensure_onnx_model(model_dir: Path, folder: Path, quantized: bool) -> Path:
    """The path of the exported (and, if asked, quantised) model, exporting it first when missing.

    Safe to call from several processes at once: one exports while the others wait for its lock.
    """
    target = folder / model_file(quantized)
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(folder):
        if target.is_file():
            return target
        fp32 = folder / FP32_FILE
        if not fp32.is_file():
            _export(model_dir, fp32)
        if quantized:
            _quantize(fp32, target)
        _write_info(folder, model_dir)
    return target


def _export(model_dir: Path, target: Path) -> None:
    """Export the transformer (without pooling) so that its only output is ``last_hidden_state``."""
    started = time.perf_counter()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    import transformers
    from transformers import AutoModel

    transformers.logging.disable_progress_bar()
    model = AutoModel.from_pretrained(str(model_dir))
    model.eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    wrapped = LastHiddenState(model).eval()
    ids = torch.ones((2, 16), dtype=torch.long)
    args = (ids, torch.ones_like(ids), torch.zeros_like(ids))
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq")
    tmp = temporary_name(target)
    try:
        with torch.no_grad(), warnings.catch_warnings(), _quiet("torch.onnx", "torch.export", "onnxscript", "onnx_ir"):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapped,
                args,
                str(tmp),
                input_names=list(INPUT_NAMES),
                output_names=["last_hidden_state"],
                dynamic_shapes={name: {0: batch, 1: seq} for name in INPUT_NAMES},
                opset_version=18,
                dynamo=True,
                external_data=False,
                verbose=False,
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("exported %s to ONNX in %.1f s", model_dir, time.perf_counter() - started)


def _quantize(source: Path, target: Path) -> None:
    """Dynamic int8 quantisation of the weights, one scale per output channel."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    started = time.perf_counter()
    tmp = temporary_name(target)
    try:
        with _quiet(""):  # the quantiser logs every tensor it skips on the root logger
            quantize_dynamic(str(source), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("quantised %s to int8 in %.1f s", source.name, time.perf_counter() - started)


def _write_info(folder: Path, model_dir: Path) -> None:
    """A note of what the folder holds and which libraries made it (for people, not checked)."""
    from importlib import metadata

    versions = {}
    for package in ("torch", "transformers", "onnx", "onnxscript", "onnxruntime"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    info = {
        "source": str(model_dir),
        "recipe": RECIPE,
        "versions": versions,
        "files": sorted(p.name for p in folder.glob("*.onnx")),
    }
    write_atomic(folder / "export.json", json.dumps(info, indent=2))


@contextmanager
def _quiet(*names: str) -> Iterator[None]:
    """Raise the named loggers (``""`` is the root) to ERROR for the duration."""
    loggers = [logging.getLogger(name) if name else logging.getLogger() for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
