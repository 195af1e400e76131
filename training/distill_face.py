"""Train wide FER2013 teachers and distil their ensemble into compact students, within fixed time budgets.

Meant for a CUDA GPU (bf16 autocast, data and augmentation on the device); it also runs, slowly, on the CPU, which
is how its smoke test runs::

    python -m training.distill_face --data train.npz --out DIR     # GPU: teachers, then students
    python -m training.distill_face --data train.npz --out DIR --subset 1500 --teachers 1 --teacher-budget 20

Every setting below was fixed before the run; the only thing chosen on the data is the number of epochs, from the
measured speed and the time budget (so that a cosine schedule ends inside the budget). The hold-out is the same
seeded 10% of ``train.npz`` as ``training/train_face.py`` (:func:`training.common.fer_split`): nothing trains on it,
and it is the only thing the students are compared on. ``test.npz`` is never read here.

Written to ``--out`` as each part finishes: ``teacher<i>.pt`` (fp16 weights), ``student_<name>.pt`` (float32) and
``summary.json`` (settings, epochs, speed, hold-out figures of every teacher, the ensemble and every student).
``training/train_face.py --from-student`` turns a student into a shipped model with its card.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual alias
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

from training.common import fer_split
from training.train_face import Config, FerCNN, augment, class_weights, cutmix, load_data, schedule

TEACHER = Config(widths=(64, 128, 256, 512), dropout=0.3, lr=3e-3, batch=256, schedule="cosine", cutmix=0.5)
"""Teachers: FerCNN four times as wide (about 4.7M parameters), otherwise the shipped recipe with CutMix."""
STUDENTS = {"s32": (32, 64, 128, 256), "s40": (40, 80, 160, 320)}
"""Student widths: ``s32`` costs what ``fer_cnn`` costs; ``s40`` about 1.6 times that."""
STUDENT = replace(TEACHER, dropout=0.2, pct_start=0.05)
MIN_EPOCHS = 40
"""Fewest epochs a teacher is worth training for; with less time, fewer teachers are trained."""


@dataclass
class Distil:
    """How the students learn from the teachers."""

    alpha: float = 0.8
    """Weight of the distillation term; the rest is cross-entropy on the labels."""
    temperature: float = 2.0


def budget_epochs(step_s: float, steps: int, budget_s: float, lo: int = 1, hi: int = 300) -> int:
    """Return how many epochs of ``steps`` steps fit in ``budget_s`` seconds (10% kept for evaluation)."""
    return int(min(hi, max(lo, budget_s * 0.9 // (step_s * steps))))


def evaluate(nets: list[torch.nn.Module], x: torch.Tensor, y: np.ndarray, tta: bool = True) -> dict[str, float]:
    """Return hold-out accuracy and macro-F1 of the mean softmax of ``nets`` on faces ``x`` (N, 1, 48, 48)."""
    probs = torch.zeros(len(x), 7, device=x.device)
    with torch.no_grad():
        for net in nets:
            net.eval()
            outs = []
            for i in range(0, len(x), 1024):
                xb = x[i : i + 1024]
                p = torch.softmax(net(xb).float(), 1)
                if tta:
                    p = (p + torch.softmax(net(torch.flip(xb, dims=[3])).float(), 1)) / 2
                outs.append(p)
            probs = probs + torch.cat(outs)
    pred = probs.argmax(1).cpu().numpy()
    return {"acc": float(accuracy_score(y, pred)), "f1": float(f1_score(y, pred, average="macro"))}


class Trainer:
    """Data on the device, a seeded generator there, and the shared training step of teachers and students."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, idx: np.ndarray, device: torch.device) -> None:
        self.device = device
        self.x = torch.from_numpy(images[idx]).to(device).unsqueeze(1)  # uint8 (N, 1, 48, 48)
        self.y = torch.from_numpy(labels[idx]).to(device)
        xf = self.x.float() / 255
        self.mean, self.std = float(xf.mean()), float(xf.std())
        self.weights = class_weights(labels[idx], TEACHER.class_weight_power).to(device)
        self.amp = device.type == "cuda"

    def batches(self, cfg: Config, gen: torch.Generator):  # noqa: ANN201 - a generator of (x, y)
        """Yield augmented, channels-last batches of one epoch."""
        order = torch.randperm(len(self.y), generator=gen, device=gen.device)
        for i in range(0, len(order) - cfg.batch + 1, cfg.batch):  # drop the last partial batch
            idx = order[i : i + cfg.batch].to(self.device)
            x = augment(self.x[idx].float() / 255, cfg, gen).contiguous(memory_format=torch.channels_last)
            yield x, self.y[idx]

    def steps(self, cfg: Config) -> int:
        """Steps in one epoch."""
        return len(self.y) // cfg.batch

    def loss(self, logits: torch.Tensor, y: torch.Tensor, y2: torch.Tensor, keep: float, cfg: Config) -> torch.Tensor:
        """Class-weighted, label-smoothed cross-entropy, mixed by area for a CutMix batch."""
        out = F.cross_entropy(logits, y, weight=self.weights, label_smoothing=cfg.label_smoothing)
        if keep < 1.0:
            out = keep * out + (1 - keep) * F.cross_entropy(
                logits, y2, weight=self.weights, label_smoothing=cfg.label_smoothing
            )
        return out

    def autocast(self) -> torch.autocast:
        """bf16 autocast on CUDA, a no-op elsewhere."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp)


def new_net(widths: tuple[int, ...], cfg: Config, trainer: Trainer) -> FerCNN:
    """A fresh FerCNN of ``widths`` on the trainer's device, standardised by the training faces."""
    return FerCNN(widths, cfg.dropout, trainer.mean, trainer.std).to(trainer.device, memory_format=torch.channels_last)


def step_time(trainer: Trainer, cfg: Config, widths: list[tuple[int, ...]], teachers: list[FerCNN]) -> float:
    """Seconds per training step of fresh nets of ``widths`` (with the teachers' forward pass), measured."""
    nets = [new_net(w, cfg, trainer) for w in widths]
    opts = [torch.optim.AdamW(n.parameters(), lr=1e-4) for n in nets]
    gen = torch.Generator(device=trainer.device).manual_seed(99)
    times = []
    for k, (x, y) in enumerate(trainer.batches(cfg, gen)):
        if k == 12:
            break
        t0 = time.perf_counter()
        with trainer.autocast():
            if teachers:
                with torch.no_grad():
                    sum(t(x).float() for t in teachers)
            for net, opt in zip(nets, opts):
                loss = F.cross_entropy(net(x).float(), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return float(np.median(times[2:] or times))


def train_teacher(
    trainer: Trainer, seed: int, epochs: int, hold: tuple[torch.Tensor, np.ndarray], log: list[str]
) -> tuple[FerCNN, dict[str, Any]]:
    """Train one teacher for ``epochs`` epochs on a cosine schedule."""
    torch.manual_seed(seed)
    cfg = replace(TEACHER, epochs=epochs, seed=seed)
    net = new_net(cfg.widths, cfg, trainer)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = schedule(opt, cfg, trainer.steps(cfg))
    gen = torch.Generator(device=trainer.device).manual_seed(seed)
    t0 = time.time()
    for epoch in range(epochs):
        net.train()
        for x, y in trainer.batches(cfg, gen):
            x, y2, keep = cutmix(x, y, cfg.cutmix, gen)
            with trainer.autocast():
                loss = trainer.loss(net(x).float(), y, y2, keep, cfg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        if (epoch + 1) % 10 == 0 or epoch + 1 == epochs:
            score = evaluate([net], *hold)
            log.append(f"teacher {seed} epoch {epoch + 1}/{epochs} {time.time() - t0:.0f} s hold-out {score}")
            print(log[-1], flush=True)
    return net.eval(), {"seed": seed, "epochs": epochs, "seconds": time.time() - t0, "hold_out": evaluate([net], *hold)}


def train_students(
    trainer: Trainer,
    teachers: list[FerCNN],
    budget_s: float,
    hold: tuple[torch.Tensor, np.ndarray],
    log: list[str],
    distil: Distil,
    chosen: dict[str, tuple[int, ...]],
    fixed_epochs: int = 0,
    out: Path | None = None,
) -> tuple[dict[str, FerCNN], dict[str, Any]]:
    """Train every student of :data:`STUDENTS` together, each batch distilled from the teachers' mean softmax."""
    torch.manual_seed(STUDENT.seed)
    widths = list(chosen.values())
    epochs = fixed_epochs or budget_epochs(
        step_time(trainer, STUDENT, widths, teachers), trainer.steps(STUDENT), budget_s
    )
    cfg = replace(STUDENT, epochs=epochs)
    nets = {name: new_net(w, cfg, trainer) for name, w in chosen.items()}
    opts = {n: torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay) for n, net in nets.items()}
    scheds = {n: schedule(opt, cfg, trainer.steps(cfg)) for n, opt in opts.items()}
    gen = torch.Generator(device=trainer.device).manual_seed(cfg.seed)
    temp = distil.temperature
    t0 = time.time()
    for epoch in range(epochs):
        for net in nets.values():
            net.train()
        for x, y in trainer.batches(cfg, gen):
            x, y2, keep = cutmix(x, y, cfg.cutmix, gen)
            with torch.no_grad(), trainer.autocast():
                soft = sum(torch.softmax(t(x).float() / temp, 1) for t in teachers) / len(teachers)
            for name, net in nets.items():
                with trainer.autocast():
                    logits = net(x).float()
                kd = F.kl_div(F.log_softmax(logits / temp, 1), soft, reduction="batchmean") * temp * temp
                loss = distil.alpha * kd + (1 - distil.alpha) * trainer.loss(logits, y, y2, keep, cfg)
                opts[name].zero_grad(set_to_none=True)
                loss.backward()
                opts[name].step()
                scheds[name].step()
        if (epoch + 1) % 10 == 0 or epoch + 1 == epochs:
            scores = {name: evaluate([net], *hold) for name, net in nets.items()}
            log.append(f"students epoch {epoch + 1}/{epochs} {time.time() - t0:.0f} s hold-out {scores}")
            print(log[-1], flush=True)
            for name, net in nets.items():
                if out is not None:
                    state = {k: v.float().cpu() for k, v in net.state_dict().items()}
                    torch.save({"widths": chosen[name], "state": state, "epoch": epoch + 1}, out / f"student_{name}.pt")
    record = {
        "config": asdict(cfg),
        "distil": asdict(distil),
        "epochs": epochs,
        "seconds": time.time() - t0,
        "hold_out": {name: evaluate([net], *hold) for name, net in nets.items()},
        "hold_out_no_tta": {name: evaluate([net], *hold, tta=False) for name, net in nets.items()},
    }
    return {n: net.eval() for n, net in nets.items()}, record


def main() -> None:
    """Train the teachers, then the students, writing weights and figures to ``--out`` as each finishes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="FER2013 train.npz")
    parser.add_argument("--out", type=Path, required=True, help="folder for weights, ONNX files and summary.json")
    parser.add_argument("--teachers", type=int, default=3)
    parser.add_argument("--teacher-budget", type=float, default=240, help="seconds for all teachers together")
    parser.add_argument("--student-budget", type=float, default=200, help="seconds for the students")
    parser.add_argument("--teachers-from", type=Path, default=None, help="load teacher<i>.pt from here instead")
    parser.add_argument("--student-epochs", type=int, default=0, help="fix the students' epochs (0: from the budget)")
    parser.add_argument("--students", nargs="*", default=list(STUDENTS), help="which students to train")
    parser.add_argument("--subset", type=int, default=0, help="train on this many faces only (smoke runs)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.benchmark = True
    images, labels = load_data(args.data)
    train_idx, hold_idx = fer_split(labels)
    if args.subset:
        train_idx, _ = train_test_split(train_idx, train_size=args.subset, stratify=labels[train_idx], random_state=0)
    trainer = Trainer(images, labels, train_idx, device)
    hold = (torch.from_numpy(images[hold_idx]).to(device).unsqueeze(1).float() / 255, labels[hold_idx])
    log: list[str] = []
    summary: dict[str, Any] = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "n_train": len(train_idx),
        "n_hold_out": len(hold_idx),
        "teacher_config": asdict(TEACHER),
        "teachers": [],
        "log": log,
    }

    def save() -> None:
        (args.out / "summary.json").write_text(json.dumps(summary, indent=1))

    if args.teachers_from:
        teachers = []
        for path in sorted(args.teachers_from.glob("teacher*.pt")):
            net = new_net(TEACHER.widths, TEACHER, trainer)
            net.load_state_dict({k: v.float() for k, v in torch.load(path, map_location=device).items()})
            teachers.append(net.eval())
    else:
        teachers = teach(args, trainer, hold, log, summary, save)
    summary["ensemble_hold_out"] = evaluate(teachers, *hold)
    print(f"teacher ensemble hold-out {summary['ensemble_hold_out']}", flush=True)
    save()
    chosen = {n: STUDENTS[n] for n in args.students}
    students, summary["students"] = train_students(
        trainer, teachers, args.student_budget, hold, log, Distil(), chosen, args.student_epochs, args.out
    )
    save()
    for name, net in students.items():
        net = net.float().cpu().to(memory_format=torch.contiguous_format)
        torch.save({"widths": STUDENTS[name], "state": net.state_dict()}, args.out / f"student_{name}.pt")
    print(json.dumps({k: v for k, v in summary.items() if k != "log"}, indent=1), flush=True)


def teach(
    args: argparse.Namespace,
    trainer: Trainer,
    hold: tuple[torch.Tensor, np.ndarray],
    log: list[str],
    summary: dict[str, Any],
    save: Callable[[], None],
) -> list[FerCNN]:
    """Train the teachers (fewer when the device is slow), saving each as it finishes."""
    step_s = step_time(trainer, TEACHER, [TEACHER.widths], [])
    count = args.teachers  # fewer, longer-trained teachers when the device is slow: 40 epochs each at least
    while count > 1 and budget_epochs(step_s, trainer.steps(TEACHER), args.teacher_budget / count) < MIN_EPOCHS:
        count -= 1
    epochs = budget_epochs(step_s, trainer.steps(TEACHER), args.teacher_budget / count)
    log.append(f"{summary['device']}: teacher step {step_s * 1000:.1f} ms, {count} teachers x {epochs} epochs")
    print(log[-1], flush=True)
    teachers = []
    for seed in range(count):
        net, rec = train_teacher(trainer, seed, epochs, hold, log)
        teachers.append(net)
        summary["teachers"].append(rec)
        torch.save({k: v.half() for k, v in net.state_dict().items()}, args.out / f"teacher{seed}.pt")
        save()
    return teachers


if __name__ == "__main__":
    main()
