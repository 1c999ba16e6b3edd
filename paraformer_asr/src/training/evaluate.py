"""Decode a dataloader and score it: shared by validation, ``eval.py`` and the ablation script."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import torch
from torch.utils.data import DataLoader

from src.data.tokenizer import CharTokenizer
from src.decode.methods import GREEDY_METHODS, check_decode_method, runs_ctc_beam
from src.decode.ngram_lm import load_lm
from src.decode.vtln import VTLNSearch, parse_warps
from src.metrics.asr_metrics import ASRMetrics
from src.utils.config import ExperimentConfig


def decode_options(cfg: ExperimentConfig, method: str, beam_size: int, tokenizer: Any = None) -> dict[str, Any]:
    """Keyword arguments for ``model.decode``: the method, the beam size and every other ``decode.*`` knob.

    Each model reads the knobs it understands (length_penalty for AR beam, ctc_weight for
    Paraformer rescoring, ...), so a new knob in DecodeConfig reaches the models without edits here.
    ``decode.lm_path`` becomes ``lm``, the loaded NgramLM, checked against ``tokenizer`` (the
    model's); a greedy method does not search, so it gets no LM.
    """
    knobs = {k: v for k, v in dataclasses.asdict(cfg.decode).items() if k not in ("method", "beam_size", "lm_path")}
    opts = {"method": method, "beam_size": beam_size, **knobs}
    if cfg.decode.lm_path and method not in GREEDY_METHODS:
        if tokenizer is None:
            raise ValueError("decode.lm_path is set: decode_options needs the model's tokenizer to check the LM against")
        lm = load_lm(cfg.decode.lm_path)
        lm.check_tokenizer(tokenizer.to_json())
        opts["lm"] = lm
    return opts


def add_lm_arguments(parser: Any) -> None:
    """--lm / --lm-weight / --lm-bonus for eval.py and infer.py (they set decode.lm_*)."""
    parser.add_argument("--lm", metavar="LM.json",
                        help="fuse this token n-gram LM (scripts/train_lm.py) into the CTC prefix beam search: "
                             "--decode-method ctc_beam, or beam of the CTC model (default: decode.lm_path of the checkpoint)")
    parser.add_argument("--lm-weight", type=float, help="LM weight (default: decode.lm_weight of the checkpoint)")
    parser.add_argument("--lm-bonus", type=float, help="per-token bonus (default: decode.lm_bonus of the checkpoint)")


def add_vtln_arguments(parser: Any) -> None:
    """--vtln-warps for eval.py and infer.py (audio checkpoints of the CTC model; src/decode/vtln.py)."""
    parser.add_argument("--vtln-warps", type=parse_warps, metavar="A1,A2,...",
                        help="test-time VTLN: decode each utterance under the spectral warp factor whose CTC best path "
                             "scores highest, e.g. 0.8,0.85,0.9,0.95,1.0,1.05,1.1 (one encoder pass per factor)")


def vtln_option(cfg: ExperimentConfig, warps: list[float] | None, cmvn_state: dict | None) -> dict[str, Any]:
    """``{"vtln": VTLNSearch}`` for model.decode's options, or ``{}`` without --vtln-warps; ValueError names the fix."""
    if not warps:
        return {}
    return {"vtln": VTLNSearch.for_checkpoint(warps, model_name=cfg.model.name, cmvn_state=cmvn_state, features=cfg.features)}


def set_lm_config(cfg: ExperimentConfig, args: Any) -> None:
    """decode.lm_path / lm_weight / lm_bonus from --lm / --lm-weight / --lm-bonus, where given."""
    if args.lm is not None:
        cfg.decode.lm_path = args.lm
    if args.lm_weight is not None:
        cfg.decode.lm_weight = args.lm_weight
    if args.lm_bonus is not None:
        cfg.decode.lm_bonus = args.lm_bonus


def cli_decode_options(cfg: ExperimentConfig, args: Any, model: torch.nn.Module, method: str, beam_size: int,
                       tokenizer: Any) -> dict[str, Any]:  # fmt: skip
    """``decode_options`` for eval.py / infer.py / serve.py after their --lm flags; ValueError or
    FileNotFoundError names the fix (an unknown method, a missing CTC head, an LM for a method
    that cannot use it, a missing LM file or one built for another tokenizer)."""
    set_lm_config(cfg, args)
    check_decode_method(model, method)
    if args.lm is not None and not runs_ctc_beam(model, method):
        also = " or beam" if runs_ctc_beam(model, "beam") else ""
        raise ValueError(f"--lm is fused into the CTC prefix beam search: use --decode-method ctc_beam{also}, not {method!r}")
    opts = decode_options(cfg, method, beam_size, tokenizer)
    check_decode_method(model, method, lm=opts.get("lm"))
    return opts


def lm_summary(cfg: ExperimentConfig, opts: dict[str, Any]) -> dict[str, Any] | None:
    """What the JSON outputs record about the fused LM (None without one)."""
    if "lm" not in opts:
        return None
    return {"path": cfg.decode.lm_path, "order": opts["lm"].order, "weight": cfg.decode.lm_weight, "bonus": cfg.decode.lm_bonus}


@torch.no_grad()
def decode_texts(
    model: torch.nn.Module,
    tokenizer: CharTokenizer,
    feats: torch.Tensor,
    feat_lens: torch.Tensor,
    **decode_opts: Any,
) -> list[str]:
    """Transcribe a padded batch: feats (B, T, F), feat_lens (B,) -> B strings."""
    hyps = model.decode(feats, feat_lens, **decode_opts)
    return [tokenizer.decode(h.tokens) for h in hyps]


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    loader: DataLoader,
    tokenizer: CharTokenizer,
    device: torch.device,
    *,
    decode_opts: dict[str, Any],
    compute_loss: bool = False,
    detailed: bool = False,
    max_batches: int = 0,
) -> dict[str, Any]:
    """Decode every batch of ``loader`` and return corpus metrics.

    Returns ``cer, wer, token_accuracy, sequence_accuracy, num_utterances,
    decode_seconds`` (wall time spent inside ``model.decode``), plus
    ``val_<term>`` mean losses when ``compute_loss`` and an ``utterances`` list
    of ``{ref, hyp, cer, errors}`` when ``detailed``.
    """
    was_training = model.training
    model.eval()
    metrics = ASRMetrics()
    loss_sums: dict[str, float] = {}
    num_batches = 0
    decode_seconds = 0.0
    utterances = []
    for i, batch in enumerate(loader):
        if max_batches and i >= max_batches:
            break
        feats = batch["feats"].to(device)  # (B, T, F)
        feat_lens = batch["feat_lens"].to(device)  # (B,)
        if compute_loss:
            losses = model(feats, feat_lens, batch["tokens"].to(device), batch["token_lens"].to(device))
            for k, v in losses.items():
                loss_sums[k] = loss_sums.get(k, 0.0) + float(v)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        hyps = decode_texts(model, tokenizer, feats, feat_lens, **decode_opts)
        if device.type == "cuda":
            torch.cuda.synchronize()
        decode_seconds += time.perf_counter() - start
        num_batches += 1
        for ref, hyp in zip(batch["texts"], hyps):
            c = metrics.update(ref, hyp)
            if detailed:
                utterances.append({"ref": ref, "hyp": hyp, "errors": c.errors, "cer": c.errors / max(c.ref_len, 1)})
    model.train(was_training)
    out: dict[str, Any] = metrics.compute()
    out["decode_seconds"] = decode_seconds
    for k, v in loss_sums.items():
        out[f"val_{k}"] = v / max(num_batches, 1)
    if detailed:
        out["utterances"] = utterances
        out["worst"] = sorted(utterances, key=lambda u: (-u["cer"], -u["errors"]))[:10]
    return out


def manifest_loader(
    cfg: ExperimentConfig,
    tokenizer: CharTokenizer,
    manifest: str,
    *,
    cmvn_state: dict | None,
    max_utterances: int = 0,
    max_audio_seconds: float = 0.0,
) -> tuple[DataLoader, float]:
    """A length-sorted eval loader over any manifest with the checkpoint's features and CMVN, and its audio seconds.

    Files longer than ``max_audio_seconds`` (> 0) are refused up front, from their headers.
    """
    # Imported here: the toy task needs none of the audio front end.
    from src.data.batching import BucketBatchSampler, collate
    from src.data.cmvn import GlobalCMVN
    from src.data.manifest import build_manifest_dataset

    cmvn = GlobalCMVN.from_dict(cmvn_state) if cmvn_state and cfg.features.apply_cmvn else None
    ds = build_manifest_dataset(cfg, tokenizer, manifest, training=False, cmvn=cmvn)
    if max_utterances:
        ds.entries, ds.tokens, ds.lengths = ds.entries[:max_utterances], ds.tokens[:max_utterances], ds.lengths[:max_utterances]
    audio_seconds = manifest_audio_seconds(ds, max_audio_seconds)
    sampler = BucketBatchSampler(ds.lengths, cfg.training.batch_size, shuffle=False, seed=cfg.training.seed,
                                 bucket_size_multiplier=1, drop_last=False)
    return DataLoader(ds, batch_sampler=sampler, collate_fn=collate, num_workers=cfg.data.num_workers), audio_seconds


def manifest_audio_seconds(dataset: Any, max_audio_seconds: float = 0.0) -> float:
    """Total seconds of a ManifestDataset's audio, from the WAV headers; refuses a file over the limit (> 0)."""
    from src.training.transcribe import check_duration, header_seconds

    total = 0.0
    for e in dataset.entries:
        seconds = header_seconds(e.audio_path)
        seconds = e.duration if seconds is None else seconds  # the manifest's value where the header cannot say
        check_duration(e.audio_path, seconds, max_audio_seconds)
        total += seconds
    return total


def group_by_fields(result: dict[str, Any], loader: DataLoader, specs: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    """Per-group scores for each ``--group-by`` spec (see src/metrics/grouped.py).

    ``result`` must come from ``evaluate(..., detailed=True)`` over ``loader``, an unshuffled
    manifest loader: its batch sampler gives the dataset index of every scored utterance.
    """
    from src.metrics.grouped import group_labels, grouped_scores, parse_group_spec

    dataset = loader.dataset
    if not hasattr(dataset, "entries"):
        raise ValueError("--group-by needs manifest data (a JSONL manifest with the field); the toy task has no fields")
    order = [i for batch in loader.batch_sampler for i in batch]
    utts = result["utterances"]
    if len(order) != len(utts):
        raise RuntimeError(f"{len(utts)} scored utterances but the sampler lists {len(order)}")
    refs, hyps = [u["ref"] for u in utts], [u["hyp"] for u in utts]
    out = {}
    for spec in specs:
        key, edges = parse_group_spec(spec)
        values = [dataset.entries[i].extra.get(key) for i in order]
        if all(v is None for v in values):
            fields = sorted({k for i in order for k in dataset.entries[i].extra})
            raise ValueError(f"--group-by {key}: no utterance of the manifest has this field; its fields are: "
                             f"{', '.join(fields) or 'none beyond audio_filepath, duration, text'}")
        out[key] = grouped_scores(refs, hyps, group_labels(values, key, edges))
    return out
