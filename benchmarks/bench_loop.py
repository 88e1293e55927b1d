"""Framework overhead: SmpSegmenter.fit + predict_proba vs the same steps in plain PyTorch.

    python benchmarks/bench_loop.py [--images 64 --hw 128 --epochs 2 --reps 5]
    python benchmarks/bench_loop.py --images 8 --hw 256x448 --epochs 1   # DAVIS-like frames

Both sides build the same smp model (Unet on the mapped EfficientNet-Lite0 encoder, same
seed), train it on the same uint8 data with the same batch size, epochs and AdamW settings,
then predict softmax probabilities for every image. The plain side is the idiomatic loop:
the whole set converted to one normalised float tensor, a DataLoader over a TensorDataset,
CrossEntropyLoss(ignore_index=255). Repetitions alternate which side runs first and the
medians are compared, because the machine is shared and noisy. Results go to stdout and to
benchmarks/results/bench_loop.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from al_loop.data.base import IGNORE  # noqa: E402
from al_loop.models.pretrained import LITE0_ENCODER, LITE0_MEAN, LITE0_STD, load_lite0_into_encoder  # noqa: E402
from al_loop.models.segmenter import SmpSegmenter  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "bench_loop.json"


def parse_hw(text: str) -> tuple[int, int]:
    h, _, w = text.lower().partition("x")
    return int(h), int(w or h)


def make_data(
    n: int, hw: tuple[int, int], classes: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Random images; labels with ~30 % IGNORE pixels, like partially labelled units."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, *hw, 3), dtype=np.uint8)
    labels = rng.integers(0, classes, size=(n, *hw), dtype=np.uint8)
    labels[rng.random((n, *hw)) < 0.3] = IGNORE
    return images, labels


# ---------------------------------------------------------------- the two contenders


def run_framework(args, images, labels) -> dict[str, float]:
    seg = SmpSegmenter(
        num_classes=args.classes,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        augment=False,
        warm_start=False,
    )
    t0 = time.perf_counter()
    report = seg.fit(images, labels, seed=args.seed)  # includes the cold-start reset
    t1 = time.perf_counter()
    probs = seg.predict_proba(images, batch_size=args.batch_size)
    t2 = time.perf_counter()
    return {
        "fit_s": t1 - t0,
        "predict_s": t2 - t1,
        "loss": report["loss"],
        "probs_sum": float(probs.sum()),
    }


def build_plain_model(args) -> torch.nn.Module:
    import segmentation_models_pytorch as smp

    torch.manual_seed(args.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        model = smp.Unet(LITE0_ENCODER, encoder_weights=None, classes=args.classes)
    load_lite0_into_encoder(model.encoder)
    return model.to(memory_format=torch.channels_last)  # same memory format as the framework


def run_plain(args, images, labels) -> dict[str, float]:
    t0 = time.perf_counter()
    model = build_plain_model(args)
    mean = torch.tensor(LITE0_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(LITE0_STD).view(1, 3, 1, 1)
    x_all = (torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255 - mean) / std
    y_all = torch.from_numpy(labels).long()
    loader = DataLoader(
        TensorDataset(x_all, y_all),
        batch_size=args.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(args.seed),
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    criterion = torch.nn.CrossEntropyLoss(ignore_index=IGNORE)
    model.train()
    for _ in range(args.epochs):
        losses = []
        for x, y in loader:
            optimizer.zero_grad()
            loss = criterion(model(x.contiguous(memory_format=torch.channels_last)), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    t1 = time.perf_counter()
    model.eval()
    with torch.inference_mode():
        probs = torch.cat(
            [
                model(x_all[i : i + args.batch_size]).softmax(1)
                for i in range(0, len(x_all), args.batch_size)
            ]
        ).numpy()
    t2 = time.perf_counter()
    return {
        "fit_s": t1 - t0,
        "predict_s": t2 - t1,
        "loss": float(np.mean(losses)),
        "probs_sum": float(probs.sum()),
    }


# ---------------------------------------------------------------- measuring


def interleaved(args, images, labels) -> dict[str, list[dict]]:
    runs: dict[str, list[dict]] = {"framework": [], "plain": []}
    contenders = {"framework": run_framework, "plain": run_plain}
    run_plain(args, images[: args.batch_size], labels[: args.batch_size])  # warm up allocators
    for rep in range(args.reps):
        order = ["framework", "plain"] if rep % 2 == 0 else ["plain", "framework"]
        for name in order:
            runs[name].append(contenders[name](args, images, labels))
            last = runs[name][-1]
            print(
                f"  rep {rep + 1}/{args.reps} {name:9s} fit {last['fit_s']:7.2f} s  predict {last['predict_s']:6.2f} s",
                flush=True,
            )
    return runs


def summarise(args, runs: dict[str, list[dict]]) -> dict:
    steps_per_epoch = -(-args.images // args.batch_size)
    summary = {}
    for name, reps in runs.items():
        fit = statistics.median(r["fit_s"] for r in reps)
        predict = statistics.median(r["predict_s"] for r in reps)
        summary[name] = {
            "fit_s": fit,
            "predict_s": predict,
            "total_s": statistics.median(r["fit_s"] + r["predict_s"] for r in reps),
            "epoch_s": fit / args.epochs,
            "step_ms": 1000 * fit / (args.epochs * steps_per_epoch),
            "final_loss": statistics.median(r["loss"] for r in reps),
        }
    paired = [
        (f["fit_s"] + f["predict_s"]) / (p["fit_s"] + p["predict_s"])
        for f, p in zip(runs["framework"], runs["plain"], strict=True)
    ]
    summary["overhead_ratio"] = summary["framework"]["total_s"] / summary["plain"]["total_s"]
    summary["paired_ratio_median"] = statistics.median(paired)
    summary["fit_ratio"] = summary["framework"]["fit_s"] / summary["plain"]["fit_s"]
    summary["predict_ratio"] = summary["framework"]["predict_s"] / summary["plain"]["predict_s"]
    return summary


def print_table(args, summary: dict) -> None:
    print()
    print(
        f"{args.images} images {args.hw[0]}x{args.hw[1]}, {args.epochs} epochs, batch {args.batch_size}, "
        f"{torch.get_num_threads()} thread(s), medians of {args.reps} interleaved reps"
    )
    print(
        f"{'':10s} {'fit s':>8s} {'epoch s':>8s} {'step ms':>8s} {'predict s':>10s} {'total s':>8s} {'loss':>7s}"
    )
    for name in ("framework", "plain"):
        s = summary[name]
        print(
            f"{name:10s} {s['fit_s']:8.2f} {s['epoch_s']:8.2f} {s['step_ms']:8.0f} {s['predict_s']:10.2f} "
            f"{s['total_s']:8.2f} {s['final_loss']:7.3f}"
        )
    print(
        f"overhead ratio framework/plain: total {summary['overhead_ratio']:.3f} "
        f"(paired median {summary['paired_ratio_median']:.3f}), fit {summary['fit_ratio']:.3f}, "
        f"predict {summary['predict_ratio']:.3f}  [target <= 1.10]"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--hw", type=parse_hw, default=(128, 128), help="128 or 256x448")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: on a busy shared 2-core box, 2 threads can be 10-40x slower)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    images, labels = make_data(args.images, args.hw, args.classes, args.seed)
    runs = interleaved(args, images, labels)
    summary = summarise(args, runs)
    print_table(args, summary)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "config": {
            k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items() if k != "out"
        },
        "machine": {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "cpus": os.cpu_count(),
            "loadavg_at_end": os.getloadavg(),
            "python": platform.python_version(),
        },
        "summary": summary,
        "runs": runs,
    }
    args.out.write_text(json.dumps(record, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
