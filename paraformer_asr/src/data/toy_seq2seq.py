"""Built-in toy speech task: text -> fbank-like frames, fully synthetic.

Each character (a-z, space, apostrophe) owns a fixed random 80-dim "acoustic
prototype". An utterance is 1-4 common English words; every character is held
for a random number of frames, neighbours cross-fade over a frame or two, and
Gaussian noise is added. Nothing is downloaded and every sample is a pure
function of ``(seed, split, index)``, so train/val/test never change between runs.

The splits are disjoint in text, as the speech corpus's are: every possible text
belongs to exactly one split, by a fixed hash of the text (:func:`text_split`,
1/20 of all texts each for val and test, the rest for train), and a split draws
word sequences until it gets one of its own. Without this, a quarter of the
val/test texts (mostly one- and two-word ones) also occurred verbatim in train,
so validation partly measured memorisation.

Why the task is learnable with ``S``x subsampling (S = model.subsampling):
- every character lasts at least ``min_frames_per_char >= S`` frames, so no
  subsampled frame has to carry more than one token (CIF fires at most once per
  frame, CTC emits at most one label per frame);
- repeated letters ("hello") would otherwise be one long run of the same
  prototype, which no model could split in two. We insert a short silence dip of
  ``repeat_gap_frames >= S`` frames between identical neighbours. A dip (rather
  than jittering the second prototype) gives CTC a frame to emit its obligatory
  blank between repeats and gives CIF a visible low-alpha boundary, which is
  what a stop closure or a syllable boundary does in real speech;
- ``silence_frames`` of silence at both ends absorb the frames the conv front
  end loses at the edges, so T' >= L + (number of repeats) always holds.

Run ``python -m src.data.toy_seq2seq --debug [--out f.png]`` to see a sample.
"""

from __future__ import annotations

import argparse
import zlib

import numpy as np
import torch
from torch.utils.data import Dataset

from src.data.tokenizer import DEFAULT_ALPHABET, CharTokenizer
from src.utils.config import DataConfig

SPLITS = {"train": 0, "val": 1, "test": 2}
TEXT_BUCKETS = 20  # texts hashing to bucket 0 are val, 1 are test, 2..19 train
MAX_TEXT_DRAWS = 10_000  # a split draws at most this many word sequences for one sample


def text_split(text: str) -> str:
    """The one split a toy text belongs to (crc32 of its UTF-8 bytes: stable across runs and machines)."""
    bucket = zlib.crc32(text.encode("utf-8")) % TEXT_BUCKETS
    return "val" if bucket == 0 else "test" if bucket == 1 else "train"

# A few hundred common English words; several contain doubled letters on purpose.
WORDS = """
the be to of and a in that have it for not on with he as you do at this but his by
from they we say her she or an will my one all would there their what so up out if
about who get which go me when make can like time no just him know take people into
year your good some could them see other than then now look only come its over think
also back after use two how our work first well way even new want because any these
give day most us is are was were been has had did said each tell does set three
hello world speech model train test data sound voice letter word small large big
little long short high low open close start stop run walk talk read write play keep
help call show hear feel need seem leave put mean let begin bring hold turn move live
believe happen sit stand lose pay meet include continue learn change lead understand
watch follow create spend grow offer remember love consider appear buy wait serve die
send expect build stay fall cut reach kill remain suggest raise pass sell require
report decide pull green red blue black white yellow apple coffee tree book door room
street school house water food money night morning week month family friend mother
father child woman man city country state story fact point place home hand eye head
face side line end part name team group problem question number system program
minute hour moment air light river sea moon sun star island hill bell ball wall
dinner summer winter spring happy sorry pretty funny silly merry jolly bottle kettle
little middle puzzle cookie balloon pepper carrot butter glass grass class pass miss
boss moss kiss dress press free tree bee see agree seen sleep deep keep sweet street
cool pool fool moon soon spoon noon food good wood look book took cook foot too zoo
quick quiet quite queen zero jazz fizz buzz fox box six mix next text exam
don't can't it's i'm you're we'll that's isn't wasn't won't let's
""".split()
WORDS = sorted(set(WORDS))


class ToySeq2Seq(Dataset):
    """One split of the toy task; ``ds[i]`` is ``(features (T, F), tokens (L,), T, L, text)``.

    ``generate_sample(i)`` returns the first four (the contract every dataset
    shares); the text is appended for logging and metrics.
    """

    def __init__(self, data_cfg: DataConfig, *, split: str, tokenizer: CharTokenizer, subsampling: int) -> None:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; use one of {list(SPLITS)}")
        check_toy_config(data_cfg, subsampling)
        self.cfg = data_cfg
        self.split = split
        self.tokenizer = tokenizer
        self.size = {"train": data_cfg.train_size, "val": data_cfg.val_size, "test": data_cfg.test_size}[split]
        self.prototypes = make_prototypes(data_cfg.seed, data_cfg.feat_dim)

    def __len__(self) -> int:
        return self.size

    def _rng(self, index: int) -> np.random.Generator:
        if not 0 <= index < self.size:
            raise IndexError(f"index {index} out of range for the {self.split} split of size {self.size}")
        return np.random.default_rng([self.cfg.seed, SPLITS[self.split], index])

    def sample_text(self, rng: np.random.Generator) -> str:
        """Draw word sequences until one belongs to this split (see :func:`text_split`)."""
        for _ in range(MAX_TEXT_DRAWS):
            n = int(rng.integers(self.cfg.min_words, self.cfg.max_words + 1))
            text = " ".join(WORDS[int(i)] for i in rng.integers(0, len(WORDS), size=n))
            if text_split(text) == self.split:
                return text
        raise ValueError(
            f"no {self.split} text found in {MAX_TEXT_DRAWS} draws with data.min_words={self.cfg.min_words}, "
            f"data.max_words={self.cfg.max_words}; allow more words per utterance"
        )

    def text(self, index: int) -> str:
        return self.sample_text(self._rng(index))

    def num_frames(self, index: int) -> int:
        """T of sample ``index`` without synthesising it (used for length bucketing)."""
        rng = self._rng(index)
        text = self.sample_text(rng)
        durations, gaps = plan_frames(text, rng, self.cfg)
        return int(durations.sum() + gaps.sum()) + 2 * self.cfg.silence_frames

    def generate_sample(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int, int]:
        rng = self._rng(index)
        text = self.sample_text(rng)
        feats = self.synthesize(text, rng)  # (T, F)
        tokens = torch.tensor(self.tokenizer.encode(text), dtype=torch.int64)  # (L,)
        return feats, tokens, feats.shape[0], tokens.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int, int, str]:
        return (*self.generate_sample(index), self.text(index))

    def synthesize(self, text: str, rng: np.random.Generator) -> torch.Tensor:
        """Features (T, F) float32 for ``text`` (already normalised: see :func:`normalize_text`)."""
        return synthesize(text, rng, self.cfg, self.prototypes)

    def char_boundaries(self, index: int) -> tuple[str, list[int]]:
        """Text and the first frame of each character (for plots and tests)."""
        rng = self._rng(index)
        text = self.sample_text(rng)
        durations, gaps = plan_frames(text, rng, self.cfg)
        starts, t = [], self.cfg.silence_frames
        for d, g in zip(durations, gaps):
            t += int(g)
            starts.append(t)
            t += int(d)
        return text, starts


def check_toy_config(cfg: DataConfig, subsampling: int) -> None:
    """Fail early, naming the knob, when the task would need > 1 token per subsampled frame."""
    if cfg.min_frames_per_char < subsampling:
        raise ValueError(
            f"data.min_frames_per_char={cfg.min_frames_per_char} < model.subsampling={subsampling}: a subsampled "
            f"frame could hold two characters; set data.min_frames_per_char >= {subsampling}"
        )
    if cfg.repeat_gap_frames < subsampling:
        raise ValueError(
            f"data.repeat_gap_frames={cfg.repeat_gap_frames} < model.subsampling={subsampling}: repeated letters "
            f"would merge after subsampling; set data.repeat_gap_frames >= {subsampling}"
        )
    if cfg.max_frames_per_char < cfg.min_frames_per_char:
        raise ValueError("data.max_frames_per_char must be >= data.min_frames_per_char")
    if not 0 <= cfg.blend_frames < cfg.min_frames_per_char:
        raise ValueError(
            f"data.blend_frames={cfg.blend_frames} must be in [0, data.min_frames_per_char) so that every character "
            "keeps at least one unblended frame"
        )
    if not 1 <= cfg.min_words <= cfg.max_words:
        raise ValueError(f"need 1 <= data.min_words <= data.max_words, got {cfg.min_words}, {cfg.max_words}")


def make_prototypes(seed: int, feat_dim: int) -> dict[str, np.ndarray]:
    """Per-character prototype (F,) from ``seed`` alone; silence is the all-zero vector."""
    rng = np.random.default_rng([seed, 1_000_003])
    protos = {c: rng.standard_normal(feat_dim).astype(np.float32) for c in DEFAULT_ALPHABET}
    protos["<sil>"] = np.zeros(feat_dim, dtype=np.float32)
    return protos


def normalize_text(text: str) -> str:
    """Lower-case, keep only the toy alphabet, squeeze spaces (for ``infer.py --text``)."""
    kept = "".join(c for c in text.lower() if c in DEFAULT_ALPHABET)
    return " ".join(kept.split())


def plan_frames(text: str, rng: np.random.Generator, cfg: DataConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per-character duration and the silence gap inserted before it (non-zero only for repeats)."""
    durations = rng.integers(cfg.min_frames_per_char, cfg.max_frames_per_char + 1, size=len(text))
    gaps = np.array([cfg.repeat_gap_frames if i > 0 and text[i] == text[i - 1] else 0 for i in range(len(text))])
    return durations, gaps.astype(np.int64)


def synthesize(text: str, rng: np.random.Generator, cfg: DataConfig, prototypes: dict[str, np.ndarray]) -> torch.Tensor:
    """Features (T, F): prototypes held for their durations, cross-faded, plus noise."""
    if not text:
        raise ValueError("cannot synthesise an empty text; give at least one character of a-z, space or apostrophe")
    bad = sorted(set(text) - set(DEFAULT_ALPHABET))
    if bad:
        raise ValueError(f"characters {bad} are not in the toy alphabet; pass the text through normalize_text() first")
    durations, gaps = plan_frames(text, rng, cfg)
    sil = prototypes["<sil>"]
    frames = [np.repeat(sil[None], cfg.silence_frames, axis=0)]
    for c, d, g in zip(text, durations, gaps):
        if g:
            frames.append(np.repeat(sil[None], g, axis=0))
        frames.append(np.repeat(prototypes[c][None], d, axis=0))
    frames.append(np.repeat(sil[None], cfg.silence_frames, axis=0))
    hard = np.concatenate(frames, axis=0)  # (T, F)
    # A moving average of width blend_frames + 1 turns each step between two
    # prototypes into a linear ramp of blend_frames frames (coarticulation);
    # inside a run of one prototype it changes nothing.
    k = cfg.blend_frames + 1
    if k > 1:
        padded = np.concatenate([np.repeat(hard[:1], k // 2, 0), hard, np.repeat(hard[-1:], (k - 1) // 2, 0)], 0)
        csum = np.cumsum(np.concatenate([np.zeros_like(hard[:1]), padded], 0), axis=0)
        hard = (csum[k:] - csum[:-k]) / k  # (T, F)
    noisy = hard + cfg.noise_std * rng.standard_normal(hard.shape)
    return torch.from_numpy(noisy.astype(np.float32))


def _debug_plot(out: str, index: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = DataConfig()
    ds = ToySeq2Seq(cfg, split="train", tokenizer=CharTokenizer.from_alphabet(), subsampling=4)
    feats, tokens, T, L = ds.generate_sample(index)
    text, starts = ds.char_boundaries(index)
    fig, ax = plt.subplots(figsize=(max(6, T / 12), 4))
    ax.imshow(feats.T.numpy(), aspect="auto", origin="lower", cmap="viridis")
    for s, c in zip(starts, text):
        ax.axvline(s - 0.5, color="white", lw=0.8)
        ax.text(s, cfg.feat_dim + 1, "_" if c == " " else c, fontsize=9, va="bottom")
    ax.set_xlabel("frame")
    ax.set_ylabel("feature dim")
    ax.set_title(f"train[{index}]: {text!r}  (T={T}, L={L})", pad=18)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    print(f"text={text!r} T={T} L={L} char starts={starts}\nwrote {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Plot one toy sample with its character boundaries.")
    parser.add_argument("--debug", action="store_true", help="plot a sample and exit")
    parser.add_argument("--out", default="toy_sample.png", help="where to write the plot")
    parser.add_argument("--index", type=int, default=0, help="which training sample")
    args = parser.parse_args()
    if not args.debug:
        parser.error("nothing to do; pass --debug")
    _debug_plot(args.out, args.index)
