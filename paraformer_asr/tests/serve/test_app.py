"""POST /transcribe and GET /health through TestClient: answers and every bad-input case."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from tests.serve.stub_model import FEAT_DIM, offline_decode


OK_FEATS = [[0.0] * FEAT_DIM] * 8  # a valid body: 8 frames (>= 7 for x4 subsampling) of F values


def _feats(t: int = 20, seed: int = 0) -> torch.Tensor:
    return torch.randn(t, FEAT_DIM, generator=torch.Generator().manual_seed(seed))  # (T, F)


def _post_raw(client, text: str, **kw):
    return client.post("/transcribe", content=text, headers={"content-type": "application/json"}, **kw)


def test_health_reports_model_and_limits(client):
    r = client.get("/health")
    assert r.status_code == 200
    h = r.json()
    assert h["status"] == "ok" and h["model_name"] == "paraformer" and h["device"] == "cpu"
    assert h["vocab_size"] == 31 and h["feature_dim"] == FEAT_DIM
    assert h["audio_supported"] is False  # toy config, no CMVN
    assert (h["min_frames"], h["max_frames"], h["max_body_bytes"], h["max_batch_size"], h["batching"]) == (7, 50, 20_000, 4, True)


def test_transcribe_matches_offline_decoding(client, stub):
    model, tok, _ = stub
    feats = _feats(23)
    r = client.post("/transcribe", json={"features": feats.tolist()})
    assert r.status_code == 200, r.text
    body = r.json()
    ref = offline_decode(model, feats)
    assert body["token_ids"] == ref.tokens and len(ref.tokens) > 0
    assert body["text"] == tok.decode(ref.tokens)
    assert "".join(body["tokens"]) == body["text"]
    # seconds = subsampled frame * subsampling (4) * frame shift (10 ms)
    assert body["timestamps"] == pytest.approx([f * 0.04 for f in ref.token_frames])
    assert body["num_frames"] == 23 and body["latency_ms"] > 0
    assert body["decode_method"] == "greedy" and body["beam_size"] is None


def test_beam_method_and_size_reach_the_model(client, stub):
    model, _, _ = stub
    feats = _feats(16, seed=3)
    r = client.post("/transcribe", json={"features": feats.tolist(), "decode_method": "beam", "beam_size": 3})
    assert r.status_code == 200, r.text
    assert r.json()["token_ids"] == offline_decode(model, feats, "beam", 3).tokens
    assert r.json()["beam_size"] == 3
    assert ("beam", 3, 1) in model.calls


def test_integer_features_are_numbers(client):
    r = client.post("/transcribe", json={"features": [[1] * FEAT_DIM] * 7})  # 7 = the fewest frames for x4 subsampling
    assert r.status_code == 200, r.text


# --------------------------------------------------------------------------- #
# Bad input: 4xx with a message naming the problem and the expectation          #
# --------------------------------------------------------------------------- #
def test_seed_three_column_example_gets_clear_422(client):
    # The curl example in seed 004, verbatim.
    r = client.post("/transcribe", json={"features": [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert f"expects F={FEAT_DIM}" in detail and "features[0] has 3 values" in detail


@pytest.mark.parametrize(
    "features, status, needle",
    [
        ([], 422, "features is empty (0 frames)"),
        ([[0.0] * FEAT_DIM, [0.0] * (FEAT_DIM - 1)], 422, f"features[1] has {FEAT_DIM - 1} values but the model expects F={FEAT_DIM}"),
        ([[]], 422, f"features[0] has 0 values but the model expects F={FEAT_DIM}"),
        ([[0.0] * (FEAT_DIM - 1) + ["abc"]], 422, f"features[0][{FEAT_DIM - 1}] is 'abc' (str), not a number"),
        ([[0.0] * FEAT_DIM, [True] + [0.0] * (FEAT_DIM - 1)], 422, "features[1][0] is True (bool), not a number"),
        ([[None] * FEAT_DIM], 422, "features[0][0] is None (NoneType), not a number"),
        ([[0.0] * FEAT_DIM, [0.0] * 3 + [1e39] + [0.0] * 4], 422, "features[1][3] is 1e+39 (outside float32 range)"),
        ([[10**400] + [0] * (FEAT_DIM - 1)], 422, "features[0][0] is an integer of 401 digits (outside float32 range)"),
        ([[0.0] * FEAT_DIM, 5], 422, "features[1] is a int, not a list"),
        ("abc", 422, "features must be a list of frames, got str"),
        ([[0.0] * FEAT_DIM] * 51, 413, "51 frames, more than the limit of max_frames=50"),
        ([[0.0] * FEAT_DIM] * 6, 422, "features has 6 frames but the model needs at least 7 (its subsampling front end)"),
    ],
)
def test_bad_features(client, features, status, needle):
    r = client.post("/transcribe", json={"features": features})
    assert r.status_code == status, r.text
    assert needle in r.json()["detail"]
    if status == 422:
        assert f"list of {FEAT_DIM} numbers" in r.json()["detail"] or "finite" in r.json()["detail"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_json_literals_are_422(client, literal):
    # JSON has no NaN, but Python's json module (and so FastAPI) accepts these literals.
    row = ", ".join(["0.5"] * (FEAT_DIM - 1) + [literal])
    r = _post_raw(client, f'{{"features": [[{", ".join(["0.1"] * FEAT_DIM)}], [{row}]]}}')
    assert r.status_code == 422, r.text
    value = {"NaN": "nan", "Infinity": "inf", "-Infinity": "-inf"}[literal]
    assert f"features[1][{FEAT_DIM - 1}] is {value}; all values must be finite numbers" in r.json()["detail"]


@pytest.mark.parametrize(
    "payload, needle",
    [
        ({"features": OK_FEATS, "decode_method": "viterbi"}, "decode_method: Input should be 'greedy', 'beam', 'ctc_greedy' or 'ctc_beam' (got 'viterbi')"),
        ({"features": OK_FEATS, "beam_size": 0}, "beam_size: Input should be greater than or equal to 1 (got 0)"),
        ({"features": OK_FEATS, "decode_method": "beam", "beam_size": 17}, "beam_size=17 is out of range; expected 1..16"),
        ({"features": OK_FEATS, "beam_size": "wide"}, "beam_size: Input should be a valid integer"),
        ({"feats": OK_FEATS}, "features: field required"),
        ({"features": OK_FEATS, "langauge": "en"}, "langauge: Extra inputs are not permitted"),
    ],
)
def test_bad_parameters_are_422(client, payload, needle):
    r = client.post("/transcribe", json=payload)
    assert r.status_code == 422, r.text
    assert needle in r.json()["detail"]


def test_validation_messages_show_the_expected_body(client):
    r = client.post("/transcribe", json={"feats": []})
    assert r.status_code == 422
    assert f'expected a JSON object like {{"features": [[f1, ..., f{FEAT_DIM}], ...]' in r.json()["detail"]


def test_invalid_json_is_422(client):
    r = _post_raw(client, '{"features": [[0.1, 0.2,')
    assert r.status_code == 422
    assert "the body is not valid JSON" in r.json()["detail"]


def test_non_json_content_type_is_422(client):
    r = client.post("/transcribe", content=b"0.1 0.2", headers={"content-type": "text/plain"})
    assert r.status_code == 422
    assert "Input should be a valid dictionary" in r.json()["detail"] and "expected a JSON object" in r.json()["detail"]


def test_body_over_content_length_limit_is_413(client):
    r = _post_raw(client, json.dumps({"features": [[0.123456789] * FEAT_DIM] * 300}))  # ~30 kB > 20 kB
    assert r.status_code == 413
    assert r.json()["detail"].startswith("request body is larger than the limit of max_body_bytes=20000 bytes")


def test_chunked_body_over_limit_is_413(client):
    # No Content-Length header: the limit must come from counting the bytes received.
    chunk = json.dumps([[0.123456789] * FEAT_DIM] * 10).encode()

    def body():
        yield b'{"features": ['
        for _ in range(30):
            yield chunk[1:-1] + b","
        yield b"[0,0,0,0,0,0,0,0]]}"

    r = client.post("/transcribe", content=body(), headers={"content-type": "application/json"})
    assert r.status_code == 413, r.text
    assert "max_body_bytes=20000" in r.json()["detail"]


def test_unknown_route_and_wrong_verb(client):
    assert client.get("/transcribe").status_code == 405
    assert client.get("/nope").status_code == 404


def test_openapi_documents_every_field(client):
    schema = client.get("/openapi.json").json()
    comps = schema["components"]["schemas"]
    for name in ("TranscribeRequest", "TranscribeResponse", "HealthResponse", "ErrorResponse"):
        for field, spec in comps[name]["properties"].items():
            assert spec.get("description"), f"{name}.{field} has no description"
    assert set(comps["TranscribeResponse"]["properties"]) >= {"text", "tokens", "timestamps", "num_frames", "latency_ms"}
    audio_body = schema["paths"]["/transcribe/audio"]["post"]["requestBody"]["content"]
    assert set(audio_body) == {"multipart/form-data", "audio/wav"}
    assert client.get("/docs").status_code == 200


def test_one_log_line_per_request_with_latency(client, caplog):
    with caplog.at_level(logging.INFO, logger="paraformer_asr.serve"):
        client.post("/transcribe", json={"features": [[0.0] * 3]})
        client.get("/health")
    lines = [r.getMessage() for r in caplog.records if r.name == "paraformer_asr.serve"]
    assert len(lines) == 2
    assert lines[0].startswith("POST /transcribe 422 ") and "ms" in lines[0]
    assert lines[1].startswith("GET /health 200 ")


@pytest.mark.parametrize("field, value", [("max_frames", 0), ("max_batch_size", -1), ("batch_window_ms", -5.0)])
def test_bad_serve_settings_fail_at_startup(stub, field, value):
    from src.serve.app import create_app

    model, tok, cfg = stub
    setattr(cfg.serve, field, value)
    with pytest.raises(ValueError, match=f"serve.{field}={value}"):
        create_app(model, tok, cfg, "cpu")


def test_model_errors_are_json_500_naming_no_internals(stub):
    from src.serve.app import create_app
    from fastapi.testclient import TestClient

    model, tok, cfg = stub

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    model.decode = broken
    with TestClient(create_app(model, tok, cfg, "cpu"), raise_server_exceptions=False) as c:
        r = c.post("/transcribe", json={"features": [[0.0] * FEAT_DIM] * 8})
    assert r.status_code == 500
    assert r.json() == {"detail": "internal error (RuntimeError); see the server log"}


def test_full_server_answers_503_with_retry_after(client):
    batcher = client.app.state.batcher
    assert batcher.max_pending == client.get("/health").json()["max_pending"]
    batcher.pending = batcher.max_pending  # as if that many requests were queued or decoding
    try:
        r = client.post("/transcribe", json={"features": OK_FEATS})
    finally:
        batcher.pending = 0
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert f"serve.max_pending={batcher.max_pending}); retry shortly" in r.json()["detail"]
    assert client.post("/transcribe", json={"features": OK_FEATS}).status_code == 200  # room again


def test_json_bodies_go_through_the_fast_parser(client, monkeypatch):
    from src.serve import fast_json

    seen = []
    real = fast_json._rust_loads
    monkeypatch.setattr(fast_json, "_rust_loads", lambda body: seen.append(len(body)) or real(body))
    body = json.dumps({"features": _feats().tolist()})
    r = _post_raw(client, body)
    assert r.status_code == 200 and seen == [len(body.encode())]
