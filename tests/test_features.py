"""MelFrontEnd must reproduce ClapFeatureExtractor (unfused settings) closely enough that the
embeddings do not move. The reference is the extractor itself, run on the same clips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from soundfinder.model.features import MelFrontEnd, pad_batch
from soundfinder.model.tiny import build_tiny_model, unfused_feature_extractor

SR = 48_000
LENGTHS = [1, 2_400, 9_600, 62_400, 240_000, 480_000]  # 1 sample, 0.05 s, 0.2 s, 1.3 s, 5 s, 10 s
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

# float64: measured 4e-6 dB (the extractor rounds its FFT to complex64 and its output to float32).
TOL_F64_DB = 1e-4
# float32: the FFT's rounding error is relative to the frame's energy, so bands far below the
# frame's loudest one (sine leakage near the -100 dB floor) move most. Measured on CPU: 1.7e-3 dB
# within 60 dB of the loudest band, 0.046 dB anywhere.
TOL_F32_DB_NEAR = 5e-3
TOL_F32_DB_ANY = 0.1


def _sine(n: int, rng: np.random.Generator) -> np.ndarray:
    return 0.5 * np.sin(2 * np.pi * 440.0 * np.arange(n) / SR)


def _noise(n: int, rng: np.random.Generator) -> np.ndarray:
    return 0.3 * rng.standard_normal(n)


def _silence(n: int, rng: np.random.Generator) -> np.ndarray:
    return np.zeros(n)


def _hit(n: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / SR
    return 0.8 * np.exp(-30 * t) * (np.sin(2 * np.pi * 60 * t) + 0.5 * rng.standard_normal(n))


SIGNALS = [_sine, _noise, _silence, _hit]


@pytest.fixture(scope="module")
def extractor():
    return unfused_feature_extractor()


@pytest.fixture(scope="module")
def clips() -> list[np.ndarray]:
    rng = np.random.default_rng(1234)
    return [sig(n, rng).astype(np.float32) for n in LENGTHS for sig in SIGNALS]


@pytest.fixture(scope="module")
def reference(extractor, clips) -> np.ndarray:
    return extractor(clips, sampling_rate=SR, return_tensors="np")["input_features"]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    from transformers import ClapModel

    path = build_tiny_model(tmp_path_factory.mktemp("tiny_clap"))
    return ClapModel.from_pretrained(str(path)).eval()


@pytest.mark.parametrize("padding", ["repeatpad", "repeat", "pad"])
def test_pad_batch_is_the_extractors_padding(extractor, padding):
    seen: list[np.ndarray] = []

    def capture(waveform, mel_filters=None):
        seen.append(np.array(waveform))
        return np.zeros((1001, 64))

    extractor = unfused_feature_extractor()
    extractor._np_extract_fbank_features = capture
    rng = np.random.default_rng(0)
    clips = [rng.standard_normal(n).astype(np.float32) for n in [1, 7, 2_400, 250_001, 479_999, 480_000]]
    extractor(clips, sampling_rate=SR, padding=padding)
    ours = pad_batch(clips, padding=padding)
    assert ours.shape == (len(clips), 480_000) and ours.dtype == np.float32
    np.testing.assert_array_equal(ours, np.stack(seen))


@pytest.mark.parametrize("device", DEVICES)
def test_float64_matches_extractor(extractor, clips, reference, device):
    out = MelFrontEnd(extractor, device, torch.float64)(clips)
    assert out.shape == reference.shape == (len(clips), 1, 1001, 64)
    assert out.device.type == device and out.dtype == torch.float64
    diff = np.abs(out.cpu().numpy() - reference)
    assert diff.max() <= TOL_F64_DB, diff.max()


@pytest.mark.parametrize("device", DEVICES)
def test_float32_matches_extractor(extractor, clips, reference, device):
    out = MelFrontEnd(extractor, device, torch.float32)(clips)
    assert out.dtype == torch.float32 and out.device.type == device
    diff = np.abs(out.cpu().numpy().astype(np.float64) - reference)
    near = reference >= reference.max(axis=-1, keepdims=True) - 60.0
    assert diff[near].max() <= TOL_F32_DB_NEAR, diff[near].max()
    assert diff.max() <= TOL_F32_DB_ANY, diff.max()


@pytest.mark.parametrize("chunk", [1, 3, 64])
def test_chunking_does_not_change_result(extractor, clips, chunk):
    base = MelFrontEnd(extractor, "cpu", torch.float64)(clips[:7])
    other = MelFrontEnd(extractor, "cpu", torch.float64, chunk=chunk)(clips[:7])
    torch.testing.assert_close(base, other, rtol=0, atol=1e-9)


@pytest.mark.parametrize("device", DEVICES)
def test_embeddings_match_reference_path(extractor, clips, reference, tiny_model, device):
    model = tiny_model.to(device)
    with torch.inference_mode():
        ref = model.get_audio_features(input_features=torch.from_numpy(reference).to(device)).pooler_output
        ours = model.get_audio_features(input_features=MelFrontEnd(extractor, device)(clips)).pooler_output
    cos = torch.nn.functional.cosine_similarity(ref.double(), ours.double(), dim=-1)
    assert cos.min().item() >= 0.9999, cos.min().item()
    # The tiny random model maps all clips close together (cosine 0.98-0.99 between different
    # clips), so also bound the raw difference: measured 3e-6 on CPU.
    assert (ref - ours).abs().max().item() <= 1e-4


def test_output_dtype_is_cast_after_float32_compute(extractor, clips, reference):
    out = MelFrontEnd(extractor, "cpu", torch.bfloat16)(clips[:4])
    assert out.dtype == torch.bfloat16
    # bfloat16 keeps 8 bits of mantissa: ~0.4 dB at -100 dB.
    np.testing.assert_allclose(out.float().numpy(), reference[:4], atol=0.5, rtol=0)


def test_empty_batch_and_is_longer(extractor):
    fe = MelFrontEnd(extractor)
    assert fe([]).shape == (0, 1, 1001, 64)
    assert fe.is_longer(3).tolist() == [[False]] * 3


def test_rejects_what_it_cannot_reproduce(extractor):
    fe = MelFrontEnd(extractor)
    with pytest.raises(ValueError, match="longer"):
        fe([np.zeros(480_001, np.float32)])
    with pytest.raises(ValueError, match="empty"):
        fe([np.zeros(0, np.float32)])
    fusion = unfused_feature_extractor()
    fusion.truncation = "fusion"
    with pytest.raises(ValueError, match="rand_trunc"):
        MelFrontEnd(fusion)
