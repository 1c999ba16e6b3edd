"""Build a token n-gram LM (interpolated Kneser-Ney) for shallow fusion into the CTC beam search.

    python scripts/train_lm.py --checkpoint runs/robust_ctc/checkpoints/best.pt \\
        --manifest data/speech/train.jsonl --dev data/speech/dev.jsonl --order 6 --out runs/robust_ctc/lm6.json
    python scripts/eval.py --checkpoint runs/robust_ctc/checkpoints/best.pt --decode-method ctc_beam \\
        --lm runs/robust_ctc/lm6.json --manifest data/speech_ood/ood.jsonl

The LM's tokens are the checkpoint's (characters or BPE pieces), so it is built for one
tokenizer and refuses another. Train it on training text only: ``--manifest`` takes the
transcripts of a manifest, ``--text-file`` one sentence per line, and ``--fortunes-train-pool``
every sentence of the speech corpus's training pool (src/data/tts/sentences.py), which never
shares a sentence with dev, test or the OOD set. ``--dev`` reports the perplexity on held-out text.
See src/decode/ngram_lm.py for the smoothing and docs/ABLATIONS.md for measured weights.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python scripts/train_lm.py` from the project folder

from src.data.manifest import ManifestError, normalize_text, read_manifest  # noqa: E402
from src.data.vocab import tokenizer_from_json  # noqa: E402
from src.decode.ngram_lm import NgramLM  # noqa: E402
from src.utils.checkpoint import CheckpointError, load_checkpoint  # noqa: E402
from src.utils.logging import resolve_run_path  # noqa: E402


def read_texts(args: argparse.Namespace) -> list[str]:
    texts: list[str] = []
    for path in args.manifest:
        texts += [e.text for e in read_manifest(path, check_files=False)]
    for path in args.text_file:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"--text-file {p} does not exist")
        texts += [t for t in (normalize_text(line) for line in p.read_text(encoding="utf-8").splitlines()) if t]
    if args.fortunes_train_pool:
        from src.data.tts.sentences import load_sentences, sentence_pools

        texts += sentence_pools(load_sentences())["train"]
    return texts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="the model the LM is for (its tokenizer)")
    parser.add_argument("--manifest", action="append", default=[], help="training transcripts (JSONL manifest; repeatable)")
    parser.add_argument("--text-file", action="append", default=[], help="one training sentence per line (repeatable)")
    parser.add_argument("--fortunes-train-pool", action="store_true",
                        help="add the speech corpus's training sentence pool (Debian's fortunes package)")
    parser.add_argument("--dev", action="append", default=[], help="held-out manifest: report the LM's perplexity on it")
    parser.add_argument("--order", type=int, default=6, help="n of the n-gram (default 6: 5 tokens of history)")
    parser.add_argument("--discount", type=float, default=0.75, help="Kneser-Ney absolute discount D, in (0, 1)")
    parser.add_argument("--out", required=True, help="the LM file (JSON), e.g. runs/robust_ctc/lm6.json")
    args = parser.parse_args()
    if args.order < 1:
        parser.error(f"--order {args.order}: use 1 or more")
    if not (args.manifest or args.text_file or args.fortunes_train_pool):
        parser.error("no training text: give --manifest, --text-file or --fortunes-train-pool")
    try:
        state = load_checkpoint(resolve_run_path(args.checkpoint))
        if "tokenizer" not in state:
            raise CheckpointError(f"{args.checkpoint} has no 'tokenizer' entry; pass a checkpoint written by scripts/train.py")
        tokenizer = tokenizer_from_json(state["tokenizer"])
        texts = read_texts(args)
        dev = [e.text for path in args.dev for e in read_manifest(path, check_files=False)]
    except (CheckpointError, ManifestError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    lm = NgramLM.train((tokenizer.encode(t) for t in texts), order=args.order, vocab_size=tokenizer.vocab_size,
                       discount=args.discount, tokenizer_json=tokenizer.to_json())  # fmt: skip
    lm.save(args.out)
    print(f"wrote {args.out}: order {args.order}, {len(texts)} sentences, {len(lm.counts)} distinct {args.order}-grams")
    if dev:
        overlap = len(set(dev) & set(texts))
        note = f" ({overlap} of them also in the training text)" if overlap else ""
        print(f"perplexity per token on {len(dev)} held-out sentences{note}: {lm.perplexity(tokenizer.encode(t) for t in dev):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
