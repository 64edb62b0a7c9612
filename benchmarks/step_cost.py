"""Cost of a guided training step relative to a plain synthesized-batch (CutMix) step.

For one model, batch and device, measures in the same run (modes interleaved round-robin, so
load from other processes hits all of them alike) the median wall time of

* ``plain``: CutMix -> forward -> weighted cross-entropy -> backward -> SGD step, and
* the same step plus the provenance guidance penalty in each mode,

and prints each as a ratio to the plain step, with peak memory: ``torch.cuda.max_memory_allocated``
on a GPU; on the CPU the peak growth of resident *anonymous* memory during the steps, sampled
every millisecond in a fresh subprocess per mode (``ru_maxrss`` turned out useless: it is set by
the file-backed pages of ``import torch``, which the kernel may reclaim, so a step's peak often
never exceeds it).

Lazy modes are timed over whole periods of ``every`` steps and reported per step (amortized).

Usage::

    python benchmarks/step_cost.py                       # CPU, resnet18, b16, 128x128
    python benchmarks/step_cost.py --repeats 3 --memory off   # quicker
    python benchmarks/step_cost.py --config gpu-resnet50-bf16   # needs CUDA
    python benchmarks/step_cost.py --list
    python benchmarks/step_cost.py --profile exact --threads 2   # where the exact step goes

Timings are wall-clock medians after warmup; on a shared machine quote the ratios, which are
more robust than absolute times, and rerun if the spread column is large.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pgg_zoo.guidance import ProvenanceGuidance, frozen_running_stats
from pgg_zoo.synthesizers import CutMix


@dataclass(frozen=True)
class Config:
    model: str
    batch: int
    size: int  # H = W
    frames: int = 0  # > 0: video (B, 3, T, H, W)
    device: str = "cpu"
    amp: str = "fp32"  # or "bf16"
    classes: int = 10


CONFIGS = {
    "cpu-resnet18": Config("resnet18", 16, 128, classes=10),
    "gpu-resnet50-fp32": Config("resnet50", 64, 224, device="cuda", classes=200),
    "gpu-resnet50-bf16": Config("resnet50", 64, 224, device="cuda", amp="bf16", classes=200),
    "gpu-vgg16cam-bf16": Config("vgg16_cam", 32, 224, device="cuda", amp="bf16", classes=200),
    "gpu-slowfast-bf16": Config("slowfast_r50", 8, 224, frames=32, device="cuda", amp="bf16",
                                classes=24),
}

# name -> (mode, mode_options, steps per timed unit)
MODES: dict[str, tuple[str, dict[str, Any], int]] = {
    "plain": ("", {}, 1),
    "exact": ("exact", {}, 1),
    "exact[batch_labels]": ("exact", {"batch_labels": True}, 1),
    "finite_difference": ("finite_difference", {}, 1),
    "one_label": ("one_label", {}, 1),
    "one_label[fd]": ("one_label", {"inner": "finite_difference"}, 1),
    "lazy4[exact]": ("lazy", {"every": 4, "inner": "exact"}, 4),
    "lazy4[one_label]": ("lazy", {"every": 4, "inner": "one_label"}, 4),
    "lazy4[one_label_fd]": ("lazy", {"every": 4, "inner": "one_label",
                                     "inner_options": {"inner": "finite_difference"}}, 4),
    "exact[composite_bn]": ("exact", {}, 1),
}
# modes whose model has its BatchNorm layers replaced by CompositeBN (same weights)
COMPOSITE_BN = {"exact[composite_bn]"}


class VGG16CAM(nn.Module):
    """VGG16 features without the last pool, conv 1024, GAP, linear (the WSOL CAM variant)."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        import torchvision

        self.features = torchvision.models.vgg16().features[:-1]
        self.extra = nn.Sequential(nn.Conv2d(512, 1024, 3, padding=1), nn.ReLU(inplace=True))
        self.fc = nn.Linear(1024, classes)

    def forward(self, x: Tensor) -> Tensor:  # (B, 3, H, W) -> (B, classes)
        return self.fc(self.extra(self.features(x)).mean((2, 3)))


class SlowFastOneTensor(nn.Module):
    """pytorchvideo SlowFast-R50 on one ``(B, 3, T, H, W)`` tensor (slow = every 4th frame).

    SlowFast's forward mutates its input list, so a fresh list is built per call."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        from pytorchvideo.models import create_slowfast

        self.net = create_slowfast(model_num_class=classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.net([x[:, :, ::4], x])


class CompositeBN(nn.Module):
    """Train-mode BatchNorm written with elementary ops, so that its double backward is built
    by autograd from those ops instead of ``NativeBatchNormBackwardBackward0``: one of the
    issue's candidates for a cheaper exact step (mode ``exact[composite_bn]``). Same outputs, running
    statistics and gradients as the wrapped BatchNorm (to float32 rounding)."""

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm) -> None:
        super().__init__()
        self.bn = bn

    def forward(self, x: Tensor) -> Tensor:
        bn = self.bn
        if not bn.training:
            return bn(x)
        dims = (0, *range(2, x.dim()))
        shape = (1, -1) + (1,) * (x.dim() - 2)
        mean = x.mean(dims, keepdim=True)
        xc = x - mean
        var = (xc * xc).mean(dims, keepdim=True)
        with torch.no_grad():
            n = x.numel() / x.shape[1]
            m = bn.momentum if bn.momentum is not None else 0.1
            bn.running_mean.mul_(1 - m).add_(mean.flatten() * m)
            bn.running_var.mul_(1 - m).add_(var.flatten() * (n / max(n - 1, 1)) * m)
            bn.num_batches_tracked += 1
        y = xc * torch.rsqrt(var + bn.eps)
        return y * bn.weight.view(shape) + bn.bias.view(shape)


def _composite_bn(module: nn.Module) -> nn.Module:
    for name, child in module.named_children():
        if isinstance(child, (nn.BatchNorm2d, nn.BatchNorm3d)) and child.affine:
            setattr(module, name, CompositeBN(child))
        else:
            _composite_bn(child)
    return module


def build_model(cfg: Config, name: str = "plain") -> nn.Module:
    """The configuration's model in train mode; mode ``name`` may change its BatchNorm."""
    if cfg.model == "vgg16_cam":
        model = VGG16CAM(cfg.classes)
    elif cfg.model == "slowfast_r50":
        model = SlowFastOneTensor(cfg.classes)
    else:
        import timm

        model = timm.create_model(cfg.model, num_classes=cfg.classes)
    if name in COMPOSITE_BN:
        model = _composite_bn(model)
    return model.to(cfg.device).train()


def make_batch(cfg: Config) -> dict[str, Tensor]:
    g = torch.Generator().manual_seed(0)
    grid = (cfg.frames, cfg.size, cfg.size) if cfg.frames else (cfg.size, cfg.size)
    x = torch.randn(cfg.batch, 3, *grid, generator=g)
    y = torch.randint(0, cfg.classes, (cfg.batch,), generator=g)
    return {"inputs": x.to(cfg.device), "labels": y.to(cfg.device)}


def make_step(cfg: Config, model: nn.Module, name: str) -> Callable[[], None]:
    """One training step of the given mode (``plain``: no penalty)."""
    mode, options, _ = MODES[name]
    guidance = ProvenanceGuidance(alpha=0.05, mode=mode, mode_options=options) if mode else None
    synth = CutMix(alpha=1.0)
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    data = make_batch(cfg)
    gen = torch.Generator().manual_seed(1)
    amp = cfg.amp == "bf16"

    def step() -> None:
        sb = synth(data, gen)
        prov = sb.provenance
        x = sb.inputs
        guided = guidance is not None and guidance.due
        if guided:
            x = x.detach().requires_grad_(True)
        with torch.autocast(cfg.device, dtype=torch.bfloat16, enabled=amp):
            out = model(x)
            logp = F.log_softmax(out.float(), dim=1)
            nll = -logp.gather(1, prov.labels)  # (B, L)
            loss = (nll * prov.weights * prov.valid).sum(1).mean()
        if guidance is not None:
            def forward_fn(z: Tensor) -> Tensor:
                with frozen_running_stats(model):  # re-runs must not move BN running stats
                    return model(z).gather(1, prov.labels)

            loss = loss + guidance(x, out.gather(1, prov.labels), prov, forward_fn=forward_fn)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def sync(cfg: Config) -> None:
    if cfg.device == "cuda":
        torch.cuda.synchronize()


def time_modes(cfg: Config, names: list[str], repeats: int, warmup: int) -> dict[str, list[float]]:
    """Per-step seconds of each mode, interleaved round-robin; each mode has its own model
    copy so the optimizer states do not interact."""
    torch.manual_seed(0)
    base = build_model(cfg)
    state = {k: v.clone() for k, v in base.state_dict().items()}
    steps, models = {}, {}
    for n in names:
        m = build_model(cfg)
        m.load_state_dict(state)
        if n in COMPOSITE_BN:  # after loading: CompositeBN nests the BatchNorm's parameters
            _composite_bn(m)
        models[n] = m
        steps[n] = make_step(cfg, m, n)
    del base
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(warmup + repeats):
        for n in names:
            k = MODES[n][2]
            sync(cfg)
            t0 = time.perf_counter()
            for _ in range(k):
                steps[n]()
            sync(cfg)
            dt = (time.perf_counter() - t0) / k
            if r >= warmup:
                times[n].append(dt)
    return times


def gpu_peak(cfg: Config, name: str) -> float:
    """Peak allocated GPU memory (MiB) of one step of ``name``, after one warmup step."""
    torch.manual_seed(0)
    model = build_model(cfg, name)
    step = make_step(cfg, model, name)
    for _ in range(MODES[name][2]):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    for _ in range(MODES[name][2]):
        step()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - before
    del model, step
    torch.cuda.empty_cache()
    return peak / 2**20


def profile_mode(cfg: Config, name: str, steps: int = 3, rows: int = 15) -> None:
    """torch.profiler table of ``steps`` steps of ``name`` (after one warmup step), and the
    share of the step spent in double-backward autograd nodes (``*BackwardBackward*``)."""
    from torch.profiler import ProfilerActivity, profile

    torch.manual_seed(0)
    model = build_model(cfg, name)
    step = make_step(cfg, model, name)
    for _ in range(MODES[name][2]):
        step()
    cuda = cfg.device == "cuda"
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=acts) as prof:
        for _ in range(steps * MODES[name][2]):
            step()
        sync(cfg)
    events = prof.key_averages()
    key = "self_cuda_time_total" if cuda else "self_cpu_time_total"
    print(events.table(sort_by=key, row_limit=rows))
    total = sum(getattr(e, key) for e in events)
    # the node's CPU total includes the ops it launched
    dbl = {e.key: e.cpu_time_total for e in events
           if "BackwardBackward" in e.key and not e.key.startswith("autograd::")}
    cpu_total = sum(e.self_cpu_time_total for e in events)
    for k, v in sorted(dbl.items(), key=lambda kv: -kv[1]):
        print(f"# {k}: {v / cpu_total:.1%} of CPU time")
    print(f"# profiled {steps * MODES[name][2]} steps of {name}; {key} {total / 1e3:.0f} ms")


def _anon_kib() -> int:
    """Resident anonymous memory (KiB): tensors live here; file-backed library pages, which
    dominate ``ru_maxrss`` after ``import torch`` and may be reclaimed at any time, do not."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise RuntimeError("no RssAnon in /proc/self/status (not Linux?)")


def cpu_peak_probe(cfg: Config, name: str) -> float:
    """In this (fresh) process: peak growth (MiB) of resident anonymous memory over the steps
    of ``name`` (one period for lazy modes), sampled every millisecond by a thread (torch ops
    release the GIL)."""
    import threading

    torch.manual_seed(0)
    model = build_model(cfg, name)
    step = make_step(cfg, model, name)
    before = _anon_kib()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _anon_kib())
            time.sleep(0.001)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    for _ in range(MODES[name][2]):  # a lazy mode's period includes its due step
        step()
    done.set()
    th.join()
    peak[0] = max(peak[0], _anon_kib())
    return (peak[0] - before) / 1024


def cpu_peak(cfg: Config, name: str, args: argparse.Namespace) -> float | None:
    cmd = [sys.executable, os.path.abspath(__file__), "--_probe", name,
           "--config", args.config, "--batch", str(cfg.batch), "--size", str(cfg.size),
           "--threads", str(args.threads)]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
        out = json.loads(res.stdout.strip().splitlines()[-1])["peak_mib"]
        return None if out is None else float(out)
    except (subprocess.SubprocessError, ValueError, KeyError, IndexError, TypeError) as exc:
        print(f"  memory probe for {name} failed: {exc}", file=sys.stderr)
        return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="cpu-resnet18", choices=sorted(CONFIGS))
    ap.add_argument("--modes", default=",".join(MODES),
                    help=f"comma-separated subset of: {', '.join(MODES)} (plain is always run)")
    ap.add_argument("--batch", type=int, help="override the config's batch size")
    ap.add_argument("--size", type=int, help="override the config's H = W")
    ap.add_argument("--repeats", type=int, default=5,
                    help="timed rounds (median over them); 0: memory only")
    ap.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    ap.add_argument("--memory", default="on", choices=["on", "off"])
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave)")
    ap.add_argument("--list", action="store_true", help="list configurations and modes")
    ap.add_argument("--profile", metavar="MODE",
                    help="print a torch.profiler table of MODE's step instead of timing")
    ap.add_argument("--_probe", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.list:
        for k, c in CONFIGS.items():
            print(f"{k:22s} {c}")
        print("modes:", ", ".join(MODES))
        return 0
    cfg = CONFIGS[args.config]
    overrides = {k: getattr(args, k) for k in ("batch", "size") if getattr(args, k)}
    cfg = Config(**{**cfg.__dict__, **overrides})
    if args.threads:
        torch.set_num_threads(args.threads)
    if args._probe:
        print(json.dumps({"peak_mib": cpu_peak_probe(cfg, args._probe)}))
        return 0
    if cfg.device == "cuda" and not torch.cuda.is_available():
        print(f"SKIPPED {args.config}: needs CUDA, and torch.cuda.is_available() is False "
              f"on this machine.")
        return 0
    if args.profile:
        if args.profile not in MODES:
            ap.error(f"unknown mode {args.profile!r}; choose from {list(MODES)}")
        profile_mode(cfg, args.profile)
        return 0
    names = ["plain"] + [n for n in args.modes.split(",") if n and n != "plain"]
    unknown = [n for n in names if n not in MODES]
    if unknown:
        ap.error(f"unknown modes {unknown}; choose from {list(MODES)}")

    dev = torch.cuda.get_device_name() if cfg.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    shape = (cfg.batch, 3, *((cfg.frames,) if cfg.frames else ()), cfg.size, cfg.size)
    print(f"# step cost: {cfg.model}, input {tuple(shape)}, {cfg.amp}, {dev}, "
          f"torch {torch.__version__}")
    print(f"# medians over {args.repeats} rounds after {args.warmup} warmup, modes interleaved")
    t0 = time.perf_counter()
    times = time_modes(cfg, names, args.repeats, args.warmup) if args.repeats > 0 else {}
    mem: dict[str, float | None] = {}
    if args.memory == "on":
        for n in names:
            mem[n] = gpu_peak(cfg, n) if cfg.device == "cuda" else cpu_peak(cfg, n, args)
    if not times:
        print("| mode | " + ("peak alloc" if cfg.device == "cuda" else "peak anon-RSS growth")
              + " MiB | mem ratio |\n|---|---|---|")
        for n in names:
            m, mp = mem.get(n), mem.get("plain")
            print(f"| {n} | {'n/a' if m is None else f'{m:.0f}'} | "
                  f"{'n/a' if m is None or not mp else f'{m / mp:.2f}x'} |")
        return 0
    med = {n: statistics.median(ts) for n, ts in times.items()}
    mem_kind = "peak alloc" if cfg.device == "cuda" else "peak anon-RSS growth"
    print(f"| mode | median ms | spread (max-min)/median | ratio | {mem_kind} MiB | mem ratio |")
    print("|---|---|---|---|---|---|")
    for n in names:
        spread = (max(times[n]) - min(times[n])) / med[n]
        m = mem.get(n)
        mp = mem.get("plain")
        mtxt = "n/a" if m is None else f"{m:.0f}"
        mr = "n/a" if m is None or not mp else f"{m / mp:.2f}x"
        print(f"| {n} | {med[n] * 1e3:.0f} | {spread:.0%} | {med[n] / med['plain']:.2f}x | "
              f"{mtxt} | {mr} |")
    print(f"# wall {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
