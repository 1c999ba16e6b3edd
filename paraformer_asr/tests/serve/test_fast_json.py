"""src/serve/fast_json.py: the pydantic-core fast path equals json.loads, and errors stay the stdlib's."""

from __future__ import annotations

import json
import math
import random

import pytest

from src.serve import fast_json
from src.serve.fast_json import loads


def _same(a, b) -> bool:
    """Structural equality that also compares types (1 vs 1.0) and treats NaN as equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return a == b


def _random_matrix_body(seed: int) -> bytes:
    rng = random.Random(seed)
    rows = [[rng.gauss(0, 1) * 10 ** rng.randint(-8, 8) for _ in range(80)] for _ in range(20)]
    rows.append([rng.randint(-(10**30), 10**30) for _ in range(80)])  # ints of any size stay ints
    return json.dumps({"features": rows, "decode_method": "beam", "beam_size": 4}).encode()


@pytest.mark.parametrize("seed", range(5))
def test_float_matrices_parse_bit_identically(seed):
    body = _random_matrix_body(seed)
    assert _same(loads(body), json.loads(body))


@pytest.mark.parametrize(
    "text",
    [
        '{"a": NaN, "b": Infinity, "c": -Infinity}',  # Python's json accepts these; the service answers 422
        '{"a": 1e400, "b": -1e400, "c": 5e-324, "d": 0.1, "e": -0.0}',
        '{"a": 1' + "0" * 400 + "}",
        '{"k": 1, "k": 2}',  # duplicate keys: the last wins in both
        '{"s": "caf\\u00e9 \\ud83d\\ude00 \\n\\t\\"", "t": true, "f": false, "n": null}',
        '  [1, 2.5, [], {}, [[]]]  ',
    ],
)
def test_edge_cases_equal_the_stdlib(text):
    for body in (text, text.encode()):
        assert _same(loads(body), json.loads(body))


def test_text_only_the_stdlib_accepts_falls_back_to_it():
    text = '{"s": "\\ud800"}'  # a lone surrogate escape: pydantic-core refuses it, json.loads does not
    assert loads(text) == json.loads(text)


@pytest.mark.parametrize("text", ['{"features": [[0.1, 0.2,', "{'single': 1}", "[1, 2] extra", ""])
def test_invalid_json_raises_the_stdlib_error(text):
    with pytest.raises(json.JSONDecodeError) as ours:
        loads(text)
    with pytest.raises(json.JSONDecodeError) as ref:
        json.loads(text)
    assert (ours.value.msg, ours.value.pos) == (ref.value.msg, ref.value.pos)  # FastAPI reports these


def test_fast_path_is_used(monkeypatch):
    """The parser in use really is pydantic-core's (else the speed-up in docs/SERVICE.md is not this code's)."""
    assert fast_json._rust_loads is not None
    calls = []
    real = fast_json._rust_loads
    monkeypatch.setattr(fast_json, "_rust_loads", lambda b: calls.append(len(b)) or real(b))
    assert loads(b'{"x": [1.5]}') == {"x": [1.5]} and calls == [12]
