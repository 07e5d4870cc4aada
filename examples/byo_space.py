"""Bring your own search space: register a new space, fit a predictor on a CSV, rank candidates.

Nothing in the package is edited. The example

1. defines and registers ``"tinycell"``: a 3-op cell whose native encoding is a string such as
   ``"conv3-pool-skip"`` (op 1 reads the input, op 2 reads the input and op 1, op 3 reads ops 1
   and 2, the output sums ops 2 and 3; 5 ops per slot, so 125 cells);
2. writes a CSV of ``(arch, accuracy)`` pairs (or reads yours with ``--csv``); the accuracies
   written here are synthetic, computed from the cell's live structure plus seeded noise, so the
   example runs anywhere without a benchmark;
3. fits ``gnnnas.Predictor(space="tinycell")`` on part of the CSV, ranks the held-out cells and
   reports Kendall tau against their labels;
4. with ``--pretrain costs`` (``costs``, ``masked`` or both: the pretexts that read only the
   graph; ``zero_cost``, ``flow`` and ``hypernetwork`` run each cell's network and need an
   executor registered for the space, which this example does not define), first pre-trains the
   encoder on all 125 unlabelled cells, and saves it to ``<out-dir>/encoder.safetensors``, the
   file ``Predictor(space="tinycell", pretrained=...)`` starts from.

Needs: the default install (``pip install gnnnas``); no data directory, no download. About 10 s
CPU per run.

Run::

    python examples/byo_space.py --out-dir tinycell
    python examples/byo_space.py --csv tinycell/tinycell_labels.csv --epochs 100   # or your CSV: arch,accuracy
    python examples/byo_space.py --out-dir tinycell --pretrain costs+masked      # pre-train on all 125 cells first
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

import gnnnas
from gnnnas import ArchGraph, OpVocabulary
from gnnnas.spaces import as_rng

OPS: tuple[str, ...] = ("conv3", "conv1", "pool", "skip", "zero")
VOCAB = OpVocabulary(ops=OPS, identity={"skip"}, zero={"zero"}, parametric={"conv3", "conv1"})
# Node 0 is the input, nodes 1-3 the three ops, node 4 the output.
EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (1, 3), (2, 3), (2, 4), (3, 4))


# overwrite=True: importing this file twice (e.g. by path from a test) re-registers a new class
# object under the same name, which the registry otherwise refuses.
@gnnnas.register_space("tinycell", overwrite=True)
class TinyCell(gnnnas.SearchSpace):
    """Three op nodes in a fixed DAG; native encoding ``"op1-op2-op3"``."""

    name = "tinycell"
    vocab = VOCAB
    size = len(OPS) ** 3

    def parse(self, encoding: str | Sequence[str] | ArchGraph) -> ArchGraph:
        if isinstance(encoding, ArchGraph):
            return self.check(encoding)
        if isinstance(encoding, str):
            ops = tuple(encoding.strip().split("-"))
        elif isinstance(encoding, Sequence) and all(isinstance(o, str) for o in encoding):
            ops = tuple(encoding)
        else:
            raise ValueError(f"tinycell encoding must be 'op-op-op' or 3 op names, got {encoding!r}")
        if len(ops) != 3:
            raise ValueError(f"tinycell encoding needs 3 ops, got {len(ops)} in {encoding!r}")
        for op in ops:
            if op not in OPS:
                raise ValueError(f"unknown tinycell op {op!r}; known: {list(OPS)}")
        return ArchGraph(
            ops=("input", *ops, "output"),
            edges=EDGES,
            vocab=VOCAB,
            space=self.name,
            macro={"parametric_ops": sum(op in VOCAB.parametric for op in ops)},
        )

    def format(self, arch: ArchGraph) -> str:
        self.check(arch)
        if arch.num_nodes != 5:
            raise ValueError(f"a tinycell ArchGraph has 5 nodes (a pruned graph cannot be formatted), "
                             f"got {arch.num_nodes}")
        return "-".join(arch.ops[1:4])

    def sample(self, rng: np.random.Generator | int | None = None) -> ArchGraph:
        rng = as_rng(rng)
        return self.parse([OPS[i] for i in rng.integers(len(OPS), size=3)])

    def mutate(self, arch: ArchGraph, rng: np.random.Generator | int | None = None) -> ArchGraph:
        rng = as_rng(rng)
        ops = self.format(arch).split("-")
        slot = int(rng.integers(3))
        choices = [o for o in OPS if o != ops[slot]]
        ops[slot] = choices[int(rng.integers(len(choices)))]
        return self.parse(ops)

    def enumerate(self) -> Iterator[ArchGraph]:
        for ops in itertools.product(OPS, repeat=3):
            yield self.parse(ops)


# ---------------------------------------------------------------------- synthetic labels
GAIN = {"conv3": 6.0, "conv1": 4.0, "pool": 1.5, "skip": 0.0, "zero": 0.0}


def synthetic_accuracy(arch: ArchGraph, rng: np.random.Generator, noise: float = 0.5) -> float:
    """A plausible accuracy: live convs help, a second live path into the output helps, + noise."""
    live = arch.live_nodes()
    gain = sum(GAIN[op] for op, ok in zip(arch.ops, live) if ok and op in GAIN)
    paths_to_output = sum(live[p] for p in arch.predecessors()[arch.outputs[0]])
    if not live[arch.outputs[0]]:
        return float(10.0 + rng.normal(0, noise))  # nothing reaches the output: chance level
    return float(60.0 + gain + 3.0 * (paths_to_output == 2) + rng.normal(0, noise))


def write_csv(path: Path, rows: Sequence[tuple[str, float]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["arch", "accuracy"])
        writer.writerows((arch, f"{acc:.4f}") for arch, acc in rows)


def read_csv(path: Path) -> list[tuple[str, float]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"arch", "accuracy"} <= set(reader.fieldnames):
            raise ValueError(f"{path} needs the columns 'arch' and 'accuracy', got {reader.fieldnames}")
        return [(row["arch"], float(row["accuracy"])) for row in reader]


# ---------------------------------------------------------------------- main
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=None,
                        help="CSV of arch,accuracy pairs to read (default: synthesise one in --out-dir)")
    parser.add_argument("--out-dir", type=Path, default=Path("byo_space_out"),
                        help="where the synthetic CSV and the predictions go")
    parser.add_argument("--epochs", type=int, default=60, help="predictor training epochs")
    parser.add_argument("--seed", type=int, default=0, help="seed for labels, split and predictor")
    parser.add_argument("--n-train", type=int, default=40, help="labelled pairs to fit on; the rest are held out")
    parser.add_argument("--pretrain", default=None,
                        help="pretext tasks to pre-train the encoder on every cell first, e.g. costs or costs+masked")
    parser.add_argument("--pretrain-epochs", type=int, default=10, help="passes over the 125 unlabelled cells")
    parser.add_argument("--top", type=int, default=5, help="how many top-ranked candidates to print")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    space = gnnnas.get_space("tinycell")
    args.out_dir.mkdir(parents=True, exist_ok=True)

    csv_path = args.csv
    if csv_path is None:
        rng = np.random.default_rng(args.seed)
        rows = [(space.format(a), synthetic_accuracy(a, rng)) for a in space.enumerate()]
        csv_path = args.out_dir / "tinycell_labels.csv"
        write_csv(csv_path, rows)
        print(f"wrote {len(rows)} synthetic (arch, accuracy) pairs to {csv_path}")
    pairs = read_csv(csv_path)
    if len(pairs) < args.n_train + 2:
        print(f"error: {csv_path} has {len(pairs)} rows; need more than --n-train={args.n_train} + 1",
              file=sys.stderr)
        return 2

    order = np.random.default_rng(args.seed + 1).permutation(len(pairs))
    train = [pairs[i] for i in order[: args.n_train]]
    held_out = [pairs[i] for i in order[args.n_train:]]

    predictor = gnnnas.Predictor(space="tinycell", hidden_dim=32, num_layers=2, epochs=args.epochs,
                                 batch_size=16, device="cpu", seed=args.seed, pretrain=args.pretrain,
                                 pretrain_epochs=args.pretrain_epochs, pretrain_batch_size=32)
    predictor.fit([a for a, _ in train], [y for _, y in train])  # with pretrain: every cell enumerate() yields
    if args.pretrain:
        encoder_path = args.out_dir / "encoder.safetensors"
        predictor.save_encoder(encoder_path)  # for Predictor(space="tinycell", pretrained=encoder_path)
        print(f"pre-trained the encoder on {predictor.pretrained_encoder_.pretrain['archs']} cells "
              f"({args.pretrain}); saved to {encoder_path}")

    candidates = [a for a, _ in held_out]
    truth = np.array([y for _, y in held_out])
    scores = predictor.predict(candidates)  # higher = better; a ranking score, not calibrated accuracy
    tau = gnnnas.metrics.kendall_tau(truth, scores)

    ranked = np.argsort(-scores, kind="stable")
    with open(args.out_dir / "predictions.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["rank", "arch", "score", "accuracy"])
        for rank, i in enumerate(ranked, start=1):
            writer.writerow([rank, candidates[i], f"{scores[i]:.4f}", f"{truth[i]:.4f}"])
    summary = {"csv": str(csv_path), "n_train": len(train), "n_held_out": len(held_out),
               "kendall_tau": tau, "fit_seconds": predictor.fit_seconds_}
    (args.out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

    print(f"fitted on {len(train)} pairs in {predictor.fit_seconds_:.1f} s; "
          f"top {min(args.top, len(candidates))} of {len(candidates)} held-out candidates:")
    for rank, i in enumerate(ranked[: args.top], start=1):
        print(f"  {rank}. {candidates[i]:<20} score {scores[i]:8.2f}   label {truth[i]:6.2f}")
    print(f"Kendall tau on held-out pairs: {tau:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
