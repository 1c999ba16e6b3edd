"""src/data/tts/plan.py and ood.py: held-out voices and sentences, the unseen engine, the OOD conditions."""

from __future__ import annotations

import pytest

from src.data.tts import ood, plan
from src.data.tts.plan import VOICES, corpus_splits, plan_corpus
from src.data.tts.sentences import POOL_SHARES

ENGINES = ["espeak-ng", "flite", "festival"]


def fake_pools(per_pool: int = 400) -> dict[str, list[str]]:
    """Disjoint made-up sentences per pool (3-8 words), so the plan is tested without the fortunes package."""
    return {
        name: [" ".join([name.replace("_", " "), "says"] + ["word"] * (i % 6) + [f"x{'y' * (i % 50)}", str(i // 50)]) for i in range(per_pool)]
        for name, _ in POOL_SHARES
    }


def test_splits_hold_out_voices_sentences_and_the_engine():
    p = plan_corpus(200, 0, engines=ENGINES, pools=fake_pools(), noise=True, silence=True)
    by_split = {s: [u for u in p if u.split == s] for s in ("train", "dev", "test", "test_unseen_engine")}
    assert [len(by_split[s]) for s in by_split] == [160, 20, 20, 20]
    assert [u.index for u in p] == list(range(len(p)))
    voices = {s: {(u.engine, u.voice) for u in us} for s, us in by_split.items()}
    for s in ("dev", "test", "test_unseen_engine"):
        assert voices[s].isdisjoint(voices["train"]), s
        assert {u.text for u in by_split[s]}.isdisjoint(u.text for u in by_split["train"])
    assert {e for e, _ in voices["train"]} == {"espeak-ng", "flite"}  # both engines are drawn at n=200
    assert {e for e, _ in voices["test_unseen_engine"]} == {"festival"}
    assert all(e != "festival" for s in ("train", "dev", "test") for e, _ in voices[s])
    # Same speaker, other engine: flite's kal/slt never train, so festival's kal/slt are unseen speakers too.
    assert not {"kal", "kal16", "slt"} & {v for e, v in voices["train"] if e == "flite"}
    assert len({u.text for u in p}) == len(p)
    for u in p:
        assert 15 <= u.snr_db <= 35 and 0.05 <= u.lead_silence_s <= 0.5 and -10.5 <= u.peak_dbfs <= -1
        assert (u.pitch is None) == (u.engine != "espeak-ng")
        assert u.speed == 1.0 if u.voice == "cmu_us_slt_arctic_hts" else 0.75 < u.speed < 1.2


def test_plan_is_a_function_of_the_seed():
    pools = fake_pools()
    a = plan_corpus(60, 0, engines=ENGINES, pools=pools, noise=False, silence=False)
    assert a == plan_corpus(60, 0, engines=ENGINES, pools=pools, noise=False, silence=False)
    assert a != plan_corpus(60, 1, engines=ENGINES, pools=pools, noise=False, silence=False)
    assert all(u.snr_db is None and u.lead_silence_s == 0 for u in a)


def test_held_out_splits_do_not_depend_on_the_training_voices(monkeypatch):
    """Changing who speaks train must leave dev, test and test_unseen_engine (and every result on them) unchanged."""
    pools = fake_pools()
    before = [u for u in plan_corpus(100, 0, engines=ENGINES, pools=pools, noise=True, silence=True) if u.split != "train"]
    monkeypatch.setitem(VOICES["flite"], "train", ("awb",))
    monkeypatch.setitem(VOICES["espeak-ng"], "train", ("en-us+m1",))
    after = plan_corpus(100, 0, engines=ENGINES, pools=pools, noise=True, silence=True)
    assert [u for u in after if u.split != "train"] == before
    assert {u.voice for u in after if u.split == "train"} <= {"awb", "en-us+m1"}


def test_engine_subsets():
    pools = fake_pools()
    assert corpus_splits(["espeak-ng"]) == ["test", "dev", "train"]
    only_espeak = plan_corpus(30, 0, engines=["espeak-ng"], pools=pools, noise=False, silence=False)
    assert {u.engine for u in only_espeak} == {"espeak-ng"}
    only_flite = plan_corpus(30, 0, engines=["flite"], pools=pools, noise=False, silence=False)
    assert {u.engine for u in only_flite} == {"flite"}
    with pytest.raises(ValueError, match="needs espeak-ng or flite"):
        plan_corpus(30, 0, engines=["festival"], pools=pools, noise=False, silence=False)
    with pytest.raises(ValueError, match="smaller --n"):
        plan_corpus(1000, 0, engines=["espeak-ng"], pools=fake_pools(50), noise=False, silence=False)


def test_words_range_filters_the_pool():
    p = plan_corpus(40, 0, engines=["espeak-ng"], pools=fake_pools(), noise=False, silence=False, words=(3, 4))
    assert all(3 <= len(u.text.split()) <= 4 for u in p)


def test_ood_plan_matches_the_issue():
    pools = fake_pools(600)
    p = ood.plan_ood(500, 0, pool=pools["ood"])
    corpus_voices = {v for vs in VOICES["espeak-ng"].values() for v in vs}
    assert all(u.engine == "espeak-ng" and u.voice not in corpus_voices for u in p)
    assert {u.voice.split("+")[0] for u in p} <= set(ood.OOD_BASE_VOICES)
    assert len({u.voice for u in p}) > 20
    wpm = [round(u.speed * 175) for u in p]
    assert min(wpm) >= 130 and max(wpm) <= 200 and max(wpm) - min(wpm) > 50
    assert all(30 <= u.pitch <= 70 for u in p)
    assert all(0 <= u.lead_silence_s <= 0.5 and 0 <= u.trail_silence_s <= 0.5 for u in p)
    noisy = [u.snr_db for u in p if u.snr_db is not None]
    assert 0.53 < len(noisy) / len(p) < 0.67 and min(noisy) >= 20 and max(noisy) <= 40
    assert all(-12 <= u.peak_dbfs <= -1 for u in p)
    assert {u.text for u in p} <= set(pools["ood"])
    assert p == ood.plan_ood(500, 0, pool=pools["ood"]) and p != ood.plan_ood(500, 1, pool=pools["ood"])
    with pytest.raises(ValueError, match="larger than"):
        ood.plan_ood(601, 0, pool=pools["ood"])


def test_flite_share_in_training():
    p = plan_corpus(1000, 0, engines=ENGINES, pools=fake_pools(1000), noise=False, silence=False)
    train = [u for u in p if u.split == "train"]
    share = sum(u.engine == "flite" for u in train) / len(train)
    assert abs(share - plan.FLITE_SHARE) < 0.05


def test_n_train_grows_train_and_leaves_dev_and_test_as_they_were():
    pools = fake_pools()
    base = plan_corpus(100, 0, engines=ENGINES, pools=pools, noise=True, silence=True)
    big = plan_corpus(100, 0, engines=ENGINES, pools=pools, noise=True, silence=True, n_train=300)
    count = lambda p, s: sum(u.split == s for u in p)  # noqa: E731
    assert [count(big, s) for s in ("train", "dev", "test", "test_unseen_engine")] == [300, 10, 10, 10]
    assert [u for u in big if u.split in ("dev", "test")] == [u for u in base if u.split in ("dev", "test")]
    # test_unseen_engine comes after train in the plan: same sentences and voices, later indices.
    strip = lambda p: [(u.text, u.voice, u.speed, u.pitch) for u in p if u.split == "test_unseen_engine"]  # noqa: E731
    assert strip(big) == strip(base)
    assert len({u.text for u in big}) == len(big)
    with pytest.raises(ValueError, match="pool has 400"):
        plan_corpus(100, 0, engines=ENGINES, pools=pools, noise=False, silence=False, n_train=401)
    with pytest.raises(ValueError, match="at least one"):
        plan_corpus(100, 0, engines=ENGINES, pools=pools, noise=False, silence=False, n_train=0)
