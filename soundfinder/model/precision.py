"""Which precision each CLAP tower runs at on this machine, decided once and checked.

Why: most users index on a laptop CPU, where the first indexing is their first impression.
bfloat16 halves the audio tower's time on CPUs that compute it natively (AVX512-BF16 or AMX:
47 vs 95 ms a window here) and moves embeddings by cosine ~1e-5; where the CPU only emulates
bf16 it is slower than float32, so `auto` takes it only where it is native.

A faster tower is adopted only after a self-check: a fixed probe batch (four synthesized
clips, four short texts) is embedded by the float32 tower and by the converted one, and every
item must agree to `THRESHOLDS[kind]` cosine. The outcome is remembered per machine, model
weights and library versions (`probe cache`), so later starts skip it. A tower that fails the
check, or cannot be converted, stays float32 and the reason is recorded: `Runtime` is what
`status --json` shows. Precision never changes the embedding space (the space id), so vectors
made at different precisions share one library; `tests/test_precision.py` checks that search
results agree.

Apple arm64: torch's macOS CPU kernels have no native bfloat16 matmul path worth taking (bf16
there is converted to float32 inside the kernels, so it is no faster), and `cpu_bf16_native`
answers False on arm64; `auto` stays float32 on an Apple CPU and MPS keeps its own path
(float32 by default, float16 with `fast`), untested here.
"""

from __future__ import annotations

import copy
import hashlib
import json
import platform
import time
from dataclasses import asdict, dataclass, field

import numpy as np

# Cosine every probe item must keep against float32 for a conversion to be adopted.
THRESHOLDS = {"bfloat16": 0.9999, "int8": 0.995}
# The submodules that make up each tower: converted together (the projection takes the
# tower's output dtype).
TOWERS = {"audio": ("audio_model", "audio_projection"), "text": ("text_model", "text_projection")}
PROBE_TEXTS = ("a punchy kick drum", "warm analog pad chord", "vinyl crackle noise",
               "a female vocal chop with reverb")
# int8 dynamic quantisation of the Linear layers: measured here (bench/precision.py) slower
# than bf16 where bf16 is native; on CPUs without it, see README "Speed". Off in `auto`
# until measured faster than float32 on such a CPU; selectable as precision=int8.
INT8_IN_AUTO = False


@dataclass
class TowerRun:
    """How one tower runs: its precision, the backend, and why a faster one was not taken."""

    precision: str = "float32"
    backend: str = "torch"
    checked: bool = False      # a probe compared it with float32 (now or in an earlier start)
    cosine: float | None = None  # worst probe cosine against float32
    fallback: str | None = None  # one line: why this tower runs slower than it could


@dataclass
class Runtime:
    """What `status --json` reports about the loaded model's precision."""

    requested: str
    device: str
    audio: TowerRun = field(default_factory=TowerRun)
    text: TowerRun = field(default_factory=TowerRun)
    probe_seconds: float | None = None
    cached: bool = False  # the probe's outcome came from the probe cache
    note: str | None = None  # why this precision was chosen, when it is not obvious
    text_onnx: str | None = None  # the ONNX Runtime text tower's state (model/text_backend.py)

    @property
    def fallback(self) -> str | None:
        reasons = [f"{name}: {t.fallback}" for name, t in (("audio", self.audio), ("text", self.text))
                   if t.fallback]
        return "; ".join(reasons) or None

    def to_json(self) -> dict:
        d = asdict(self)
        d["precision"] = self.audio.precision
        d["backend"] = self.audio.backend
        d["fallback"] = self.fallback
        return d


def cpu_features() -> dict:
    """torch's view of the CPU (cpuinfo: the same answer on Linux, Windows and macOS)."""
    try:
        import torch

        return dict(torch._C._cpu._get_cpu_capability())
    except Exception:  # an older or unusual torch build: fall back to /proc/cpuinfo
        return {}


def cpu_bf16_native() -> bool:
    """True where the CPU multiplies bfloat16 natively (AVX512-BF16 or AMX-BF16 on x86).

    Elsewhere torch emulates bfloat16 and it runs slower than float32. Apple arm64: False
    (see the module docstring).
    """
    caps = cpu_features()
    if caps:
        return bool(caps.get("avx512_bf16") or caps.get("amx_bf16"))
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return bool({"avx512_bf16", "amx_bf16"} & set(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return False


def candidate(device: str, requested: str, native_bf16: bool | None = None) -> str | None:
    """The faster precision to try for `requested` on `device` (None: load as asked, no probe)."""
    if device != "cpu" or requested not in ("auto", "fast", "int8"):
        return None
    if requested == "int8":
        return "int8"
    native = cpu_bf16_native() if native_bf16 is None else native_bf16
    if native:
        return "bfloat16"
    return "int8" if INT8_IN_AUTO else None


# -- the probe ---------------------------------------------------------------------------

def probe_clips(sample_rate: int, window: int) -> list[np.ndarray]:
    """Four fixed clips (a hit, noise, a full-window chord, a click train): the same every run."""
    rng = np.random.default_rng(20261129)
    t = np.arange(window, dtype=np.float64) / sample_rate
    hit = np.sin(2 * np.pi * 60 * t[: sample_rate // 2] * np.exp(-t[: sample_rate // 2] * 6))
    hit *= np.exp(-t[: sample_rate // 2] * 14)
    noise = rng.standard_normal(min(window, 3 * sample_rate)) * 0.3
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) / 3
    clicks = np.zeros(min(window, int(1.2 * sample_rate)))
    clicks[:: max(1, sample_rate // 8)] = 1.0
    return [(0.5 * c).astype(np.float32) for c in (hit, noise, chord, clicks)]


def _probe_inputs(embedder):
    import torch

    fe = embedder.feature_extractor
    clips = probe_clips(embedder.sample_rate, embedder.window_samples)
    feats = fe(clips, sampling_rate=embedder.sample_rate, return_tensors="np")["input_features"]
    tok = embedder.processor.tokenizer(list(PROBE_TEXTS), padding=True, truncation=True, max_length=77,
                                       return_tensors="pt")
    return torch.from_numpy(feats), dict(tok)


def _embed(model, kind: str, inputs, dtype):
    import torch

    with torch.inference_mode():
        if kind == "audio":
            out = model.get_audio_features(input_features=inputs.to(dtype))
        else:
            out = model.get_text_features(**inputs)
        return torch.nn.functional.normalize(out.pooler_output.float(), dim=-1)


def convert_tower(model, kind: str, precision: str):
    """A converted copy of one tower's modules: {attribute: module}. Raises if it cannot be."""
    import torch

    out = {}
    for attr in TOWERS[kind]:
        module = copy.deepcopy(getattr(model, attr))
        if precision == "bfloat16":
            module = module.to(torch.bfloat16)
        elif precision == "int8":
            import warnings

            with warnings.catch_warnings():  # torch.ao's eager API announces its move to torchao
                warnings.simplefilter("ignore")
                module = torch.ao.quantization.quantize_dynamic(module, {torch.nn.Linear}, dtype=torch.qint8)
        else:
            raise ValueError(f"no conversion to {precision!r}")
        out[attr] = module.eval()
    return out


def _swap(model, modules: dict) -> dict:
    old = {attr: getattr(model, attr) for attr in modules}
    for attr, module in modules.items():
        setattr(model, attr, module)
    return old


def probe_tower(model, kind: str, precision: str, inputs) -> tuple[bool, float, dict]:
    """Convert one tower, compare the probe batch with float32; (passed, worst cosine, modules).

    The float32 modules stay in place unless the caller swaps the converted ones in.
    """
    import torch

    ref = _embed(model, kind, inputs, torch.float32)
    converted = convert_tower(model, kind, precision)
    old = _swap(model, converted)
    try:
        dt = torch.bfloat16 if precision == "bfloat16" else torch.float32
        got = _embed(model, kind, inputs, dt)
    finally:
        _swap(model, old)
    cos = float((got * ref).sum(-1).min())
    ok = bool(np.isfinite(cos) and cos >= THRESHOLDS[precision])
    return ok, cos, converted


# -- the probe cache ---------------------------------------------------------------------

def cache_key(weights: str, precision: str) -> str:
    import torch
    import transformers

    caps = cpu_features()
    flags = sorted(k for k, v in caps.items() if v is True)
    parts = [weights, precision, torch.__version__, transformers.__version__, platform.machine(),
             str(caps.get("cpu_name", platform.processor())), ",".join(flags)]
    return hashlib.blake2b("|".join(parts).encode(), digest_size=12).hexdigest()


def _cache_path():
    from soundfinder import config

    return config.cache_dir() / "precision-checks.json"


class ProbeCache:
    """Probe outcomes by `cache_key`: {"audio": [ok, cosine], "text": [ok, cosine]}.

    An unreadable file is a `CacheError`: the caller runs float32 this start (never trusting
    a half-written verdict) and says so; the file is replaced by the next good probe.
    """

    def __init__(self, path=None):
        self.path = path or _cache_path()

    def read(self) -> dict:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as e:
            raise CacheError(f"probe cache {self.path} unreadable ({e.strerror})") from e
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise ValueError("not an object")
            return data
        except ValueError as e:
            raise CacheError(f"probe cache {self.path} is corrupt ({e})") from e

    def write(self, key: str, entry: dict) -> None:
        from soundfinder.library.atomic import atomic_write_text

        try:
            data = self.read()
        except CacheError:
            data = {}
        data[key] = entry
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, json.dumps(data, indent=1, sort_keys=True))
        except OSError:
            pass  # a read-only cache costs a probe per start, nothing else


class CacheError(Exception):
    """The probe cache could not be read."""


# -- putting it together -----------------------------------------------------------------

def settle(embedder, requested: str, cache: ProbeCache | None = None) -> Runtime:
    """Run each tower of a float32 `embedder` at `candidate(...)` precision where it passes the
    probe; record the outcome on `embedder.runtime` (and return it)."""
    import torch

    dev = embedder.device
    rt = Runtime(requested=requested, device=dev)
    current = str(embedder.dtype).replace("torch.", "")
    rt.audio.precision = rt.text.precision = current
    want = candidate(dev, requested)
    if want is None:
        if requested in ("auto", "fast") and dev == "cpu":
            rt.note = "this CPU has no native bfloat16: float32 is its fastest exact path"
        elif requested not in ("auto", "fast"):
            rt.note = f"{requested} as requested (not self-checked)"
        return _done(embedder, rt)
    cache = cache or ProbeCache()
    key = cache_key(embedder.space.weights, want)
    try:
        known = cache.read().get(key)
    except CacheError as e:
        rt.audio.fallback = rt.text.fallback = f"{e}; float32 this time, checked again next start"
        _forget(cache)
        return _done(embedder, rt)
    t0 = time.perf_counter()
    inputs = None
    entry = dict(known or {})
    probed = False
    for kind in ("audio", "text"):
        tower = getattr(rt, kind)
        try:
            if known and kind in known:
                ok, cos = bool(known[kind][0]), float(known[kind][1])
                modules = convert_tower(embedder.model, kind, want) if ok else None
                rt.cached = True
            else:
                if inputs is None:
                    inputs = _probe_inputs(embedder)
                ok, cos, modules = probe_tower(embedder.model, kind, want, inputs[0] if kind == "audio" else inputs[1])
                entry[kind] = [ok, cos]
                probed = True
        except Exception as e:  # a model that cannot be converted: stay exact
            tower.fallback = f"{want} conversion failed ({type(e).__name__}: {str(e).splitlines()[0][:120]}); float32"
            continue
        tower.checked, tower.cosine = True, round(cos, 6)
        if not ok:
            tower.fallback = (f"{want} failed the self-check (probe cosine {cos:.5f} < {THRESHOLDS[want]}); "
                              "running float32")
            continue
        _swap(embedder.model, modules)
        tower.precision = "int8" if want == "int8" else want
        tower.backend = "torch-dynamic-int8" if want == "int8" else "torch"
        if kind == "audio" and want == "bfloat16":
            _set_audio_dtype(embedder, torch.bfloat16)
    if probed:
        rt.probe_seconds = round(time.perf_counter() - t0, 3)
        cache.write(key, entry)
    return _done(embedder, rt)


def _done(embedder, rt: Runtime) -> Runtime:
    from soundfinder.model.runtime import record

    embedder.runtime = rt
    record(rt.to_json(), embedder.space.id)
    return rt


def _set_audio_dtype(embedder, dtype) -> None:
    """The audio tower's inputs follow its dtype (the text tower takes token ids)."""
    embedder.dtype = dtype
    if getattr(embedder, "_front_end", None) is not None:
        embedder._front_end.dtype = dtype


def _forget(cache: ProbeCache) -> None:
    try:
        cache.path.unlink()
    except OSError:
        pass
