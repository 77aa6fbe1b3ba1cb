"""Exporting the sentence-transformers model to ONNX (and int8) locally, once, into a cache folder.

Nothing is downloaded: the transformer is read from the model folder (the one QA_MODEL names) and
exported with torch's own ONNX exporter; for ``onnx-int8`` its graph is fused by ONNX Runtime's BERT
optimiser and quantised with dynamic int8 quantisation, per channel (per-tensor scales make the
embeddings drift). Only this module imports torch,
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
RECIPE = 2
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
            _quantize(model_dir, fp32, target)
        _write_info(folder, model_dir)
    return target


def _load_transformer(model_dir: Path, **options: object):
    """The model folder's transformer wrapped so that its only output is ``last_hidden_state``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    import transformers
    from transformers import AutoModel

    transformers.logging.disable_progress_bar()
    model = AutoModel.from_pretrained(str(model_dir), **options).eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner  # the attribute's name is part of the exported nodes' names

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    return LastHiddenState(model).eval(), model.config


def _export(model_dir: Path, target: Path) -> None:
    """Export the transformer with torch's dynamo exporter: the float32 model (``onnx``)."""
    import torch

    started = time.perf_counter()
    wrapped, _ = _load_transformer(model_dir)
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


def _quantize(model_dir: Path, fp32: Path, target: Path) -> None:
    """The int8 model (``onnx-int8``): ONNX Runtime's BERT fusions, then dynamic int8 per channel.

    The transformer is exported again with the TorchScript exporter (opset 17, eager attention), the form
    ONNX Runtime's BERT optimiser fuses into EmbedLayerNormalization, Attention, SkipLayerNormalization and
    BiasGelu; then MatMul and Attention get int8 weights, one scale per output channel, with activations
    quantised per run (the embedding tables stay float32). Measured with ``benchmarks/quantization.py``
    (docs/quantization.md): about twice as fast as float32 on one thread, recall within the float32
    reference's noise, closer to it than quantising the unfused graph. A model whose graph the optimiser
    cannot fuse falls back to quantising ``fp32`` as it is.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    started = time.perf_counter()
    tmp = temporary_name(target)
    fused = tmp.with_name(tmp.name + ".fused.onnx")
    try:
        source = fused if _fuse(model_dir, fused) else fp32
        with _quiet(""):  # the quantiser logs every tensor it skips on the root logger
            quantize_dynamic(
                str(source),
                str(tmp),
                op_types_to_quantize=["MatMul", "Attention"] if source == fused else None,
                weight_type=QuantType.QInt8,
                per_channel=True,
                # The fused contrib operators defeat ONNX shape inference; their tensors are float32.
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        fused.unlink(missing_ok=True)
    log.info("quantised %s to int8 in %.1f s", model_dir, time.perf_counter() - started)


def _fuse(model_dir: Path, target: Path) -> bool:
    """Write the transformer with ONNX Runtime's BERT fusions to ``target``; False when they do not apply."""
    import torch
    from onnxruntime.transformers import optimizer

    wrapped, config = _load_transformer(model_dir, attn_implementation="eager")
    legacy = target.with_name(target.name + ".legacy.onnx")
    ids = torch.ones((2, 16), dtype=torch.long)
    try:
        with torch.no_grad(), warnings.catch_warnings(), _quiet("torch.onnx", "onnxruntime", ""):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapped,
                (ids, torch.ones_like(ids), torch.zeros_like(ids)),
                str(legacy),
                input_names=list(INPUT_NAMES),
                output_names=["last_hidden_state"],
                dynamic_axes={name: {0: "batch", 1: "seq"} for name in (*INPUT_NAMES, "last_hidden_state")},
                opset_version=17,
                dynamo=False,
                do_constant_folding=True,
            )
            model = optimizer.optimize_model(
                str(legacy),
                model_type="bert",
                num_heads=int(getattr(config, "num_attention_heads", 0)),
                hidden_size=int(getattr(config, "hidden_size", 0)),
                opt_level=0,
            )
        stats = model.get_fused_operator_statistics()
        layers = int(getattr(config, "num_hidden_layers", 0))
        if stats.get("Attention") != layers or stats.get("EmbedLayerNormalization") != 1:
            log.warning("the BERT fusions do not apply to %s (%s): quantising the unfused graph", model_dir, stats)
            return False
        model.save_model_to_file(str(target))
        return True
    finally:
        legacy.unlink(missing_ok=True)


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
