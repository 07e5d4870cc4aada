"""The Kendall tau harness: models x protocol x train sizes x seeds, same splits for every model.

Used by ``gnnnas bench`` and the scripts in ``benchmarks/``. Every record names the protocol,
seed, train size, test-set size and wall times, so each number in a report can be traced.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gnnnas import metrics
from gnnnas.data.benchmark import Benchmark
from gnnnas.data.paths import atomic_write
from gnnnas.progress import Progress, ProgressMode
from gnnnas.protocols import Protocol

__all__ = ["ModelSpec", "Record", "default_models", "markdown_table", "run_protocol", "run_task", "summarise",
           "write_results"]

#: ``factory(space_name, seed) -> estimator`` with ``fit(archs, y)`` and ``predict(archs)``.
Factory = Callable[[str, int], Any]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    factory: Factory
    description: str = ""


@dataclass
class Record:
    protocol: str
    model: str
    train_size: int
    seed: int
    test_size: int
    kendall_tau: float
    spearman: float
    precision_at_5pct: float
    fit_seconds: float
    predict_seconds: float
    threads: int | None = None  # CPU threads the model was fitted with (its ``threads_used_``)
    encoder_start: str | None = None  # a Predictor's ``encoder_start_`` (e.g. "shipped:nb201"); None for models without one
    restored: int | None = None  # members the fit restored to an earlier epoch (a Predictor's ``restored_``); None: not told


def run_protocol(
    protocol: Protocol,
    models: Sequence[ModelSpec],
    seeds: Iterable[int] = range(5),
    train_sizes: Sequence[int] | None = None,
    data_dir: str | os.PathLike | None = None,
    bench: Benchmark | None = None,
    on_record: Callable[[Record], None] | None = None,
    skip: Callable[[str, int, int], bool] | None = None,
    progress: ProgressMode = False,
    backend: str = "local",
    address: str | None = None,
    cpus_per_task: float = 1,
    gpus_per_task: float = 0,
) -> list[Record]:
    """Fit and score every model on every (train size, seed) split of ``protocol``.

    ``skip(model, train_size, seed)`` -> True leaves that run out (e.g. already measured).
    ``progress``: report each (model, train size, seed) task as it ends - its Kendall tau,
    the elapsed and the estimated remaining time - on stderr (:mod:`gnnnas.progress`; ``True``
    / ``"auto"``: a bar on a terminal, one line per task otherwise; default: quiet).
    ``backend``: ``"local"`` runs the tasks one after another in this process; ``"ray"`` runs
    each (model, train size, seed) task as a Ray task (:mod:`gnnnas.scaleout`) asking for
    ``cpus_per_task`` CPUs and ``gpus_per_task`` GPUs, on the cluster at ``address`` (default:
    a local one on this machine). Records reach ``on_record`` as tasks finish; the returned list
    is in the local backend's order, and each record's numbers are the local backend's (tasks
    are seeded and fit with their own thread count).

    Raises:
        ValueError: an unknown ``backend``.
        ImportError: ``backend="ray"`` without Ray installed (``pip install "gnnnas[ray]"``).
    """
    if backend not in ("local", "ray"):
        raise ValueError(f"backend must be 'local' or 'ray', got {backend!r}")
    bench = protocol.distinct(bench) if bench is not None else protocol.load(data_dir)
    truth = protocol.truth(bench)
    sizes = tuple(train_sizes) if train_sizes else protocol.resolve_sizes(len(bench))
    tasks = [(size, seed, spec) for size in sizes for seed in seeds for spec in models
             if skip is None or not skip(spec.name, size, seed)]
    records: list[Record | None] = [None] * len(tasks)
    with Progress(len(tasks), "bench", mode=progress, unit="task") as report:
        if backend == "local":
            done = ((i, run_task(protocol, spec, bench, truth, size, seed, report))
                    for i, (size, seed, spec) in enumerate(tasks))
        else:
            from gnnnas.scaleout import ray_map

            done = ray_map(run_task, [(protocol, spec, bench, truth, size, seed) for size, seed, spec in tasks],
                           shared=(2, 3), address=address, num_cpus=cpus_per_task, num_gpus=gpus_per_task)
        for i, record in done:
            records[i] = record
            if on_record is not None:
                on_record(record)
            report.advance(status=f"{record.model} N={record.train_size} seed {record.seed} "
                                  f"tau={record.kendall_tau:.3f}")
    return records


def run_task(protocol: Protocol, spec: ModelSpec, bench: Benchmark, truth: np.ndarray, size: int, seed: int,
             report: Progress | None = None) -> Record:
    """One (model, train size, seed) task of :func:`run_protocol`: fit on the protocol's split of
    ``seed``, score its test archs against ``truth``."""
    split = protocol.split(len(bench), size, seed)
    if report is not None:
        report.set_status(f"{spec.name} N={size} seed {seed}")
    model = spec.factory(bench.space.name, seed)
    start = time.perf_counter()
    model.fit([bench.archs[i] for i in split.train], bench.y[split.train])
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    pred = model.predict([bench.archs[i] for i in split.test])
    predict_s = time.perf_counter() - start
    y_test = truth[split.test]
    return Record(
        protocol=protocol.name,
        model=spec.name,
        train_size=size,
        seed=seed,
        test_size=len(split.test),
        kendall_tau=metrics.kendall_tau(y_test, pred),
        spearman=metrics.spearman(y_test, pred),
        precision_at_5pct=metrics.precision_at_k(y_test, pred, 0.05),
        fit_seconds=fit_s,
        predict_seconds=predict_s,
        threads=getattr(model, "threads_used_", None),
        encoder_start=getattr(model, "encoder_start_", None),
        restored=_restored_members(model),
    )


def _restored_members(model) -> int | None:
    """How many members of a fitted Predictor were restored to an earlier epoch (collapsed, or
    gave back most of what they learned); None for models that do not say."""
    restored = getattr(model, "restored_", None)
    return None if restored is None else sum(r is not None for r in restored)


def summarise(records: Sequence[Record]) -> list[dict[str, Any]]:
    """Mean and std over seeds per (protocol, model, train size)."""
    groups: dict[tuple[str, str, int], list[Record]] = {}
    for r in records:
        groups.setdefault((r.protocol, r.model, r.train_size), []).append(r)
    out = []
    for (protocol, model, size), rs in groups.items():
        tau = np.array([r.kendall_tau for r in rs])
        out.append(
            {
                "protocol": protocol,
                "model": model,
                "train_size": size,
                "seeds": [r.seed for r in rs],
                "test_size": rs[0].test_size,
                "kendall_tau_mean": float(tau.mean()),
                "kendall_tau_std": float(tau.std()),
                "spearman_mean": float(np.mean([r.spearman for r in rs])),
                "precision_at_5pct_mean": float(np.mean([r.precision_at_5pct for r in rs])),
                "fit_seconds_mean": float(np.mean([r.fit_seconds for r in rs])),
                "predict_seconds_mean": float(np.mean([r.predict_seconds for r in rs])),
                "threads": _distinct(rs, "threads"),
                "encoder_start": _distinct(rs, "encoder_start"),
                "restored": _restored_total(rs),
            }
        )
    return out


def _restored_total(records: Sequence[Record]) -> int | str | None:
    """Members restored to an earlier epoch over a group's runs (all seeds): their sum; ">= k"
    where some runs did not record it (results written before the count existed); None if none did."""
    known = [r.restored for r in records if r.restored is not None]
    if not known:
        return None
    return sum(known) if len(known) == len(records) else f">= {sum(known)}"


def _distinct(records: Sequence[Record], field: str) -> Any:
    """One field over a group of runs (CPU threads, encoder start): its value if all recorded
    ones agree, the distinct values joined by '/' if not (a mixed group shows as such), or None
    (not recorded)."""
    values = sorted({getattr(r, field) for r in records if getattr(r, field) is not None}, key=str)
    if not values:
        return None
    return values[0] if len(values) == 1 else "/".join(map(str, values))


def markdown_table(summary: Sequence[dict[str, Any]]) -> str:
    """Kendall tau (mean ± std over seeds) with models as rows and train sizes as columns."""
    lines = []
    for protocol in dict.fromkeys(s["protocol"] for s in summary):
        rows = [s for s in summary if s["protocol"] == protocol]
        sizes = sorted({s["train_size"] for s in rows})
        models = list(dict.fromkeys(s["model"] for s in rows))
        lines.append(f"**{protocol}** (Kendall tau-b, mean ± std over seeds; test-set size in brackets)\n")
        lines.append("| model | " + " | ".join(str(n) for n in sizes) + " |")
        lines.append("| --- |" + " --- |" * len(sizes))
        for model in models:
            cells = []
            for n in sizes:
                match = [s for s in rows if s["model"] == model and s["train_size"] == n]
                if match:
                    s = match[0]
                    cells.append(f"{s['kendall_tau_mean']:.3f} ± {s['kendall_tau_std']:.3f} ({s['test_size']})")
                else:
                    cells.append("")
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
        lines.append("")
        lines.append("| model | N | seeds | Spearman | P@5% | fit s | predict s | CPU threads | encoder start "
                     "| restored members (all seeds) |")
        lines.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for s in rows:
            threads, start, restored = s.get("threads"), s.get("encoder_start"), s.get("restored")
            lines.append(
                f"| {s['model']} | {s['train_size']} | {len(s['seeds'])} | {s['spearman_mean']:.3f} | "
                f"{s['precision_at_5pct_mean']:.3f} | {s['fit_seconds_mean']:.2f} | {s['predict_seconds_mean']:.2f} | "
                f"{'-' if threads is None else threads} | {'-' if start is None else start} | "
                f"{'-' if restored is None else restored} |"
            )
        lines.append("")
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    import torch

    import gnnnas

    return {
        "gnnnas": gnnnas.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "date": time.strftime("%Y-%m-%d"),
    }


def write_results(
    path_stem: str | os.PathLike,
    protocol: Protocol,
    records: Sequence[Record],
    models: Sequence[ModelSpec],
    extra: dict[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Write ``<stem>.json`` (every record + summary + environment) and ``<stem>.md``."""
    stem = Path(path_stem)
    summary = summarise(records)
    payload = {
        "protocol": asdict(protocol) | {"train_sizes": list(protocol.train_sizes)},
        "models": {m.name: m.description for m in models},
        "environment": environment(),
        "summary": summary,
        "records": [asdict(r) for r in records],
    }
    if extra:
        payload.update(extra)
    json_path = stem.with_suffix(".json")
    md_path = stem.with_suffix(".md")
    with atomic_write(json_path, "w") as handle:
        json.dump(payload, handle, indent=1, default=_plain)
    header = [
        f"# {protocol.name}: {protocol.description}",
        "",
        _split_rule(protocol) + f" Environment: {payload['environment']}.",
        "",
        "Models:",
        *[f"- **{m.name}**: {m.description}" for m in models],
        "",
    ]
    with atomic_write(md_path, "w") as handle:
        handle.write("\n".join(header) + "\n" + markdown_table(summary) + "\n")
    return json_path, md_path


def _split_rule(protocol: Protocol) -> str:
    if protocol.train_pool is not None:
        return (f"Split: train = RandomState(seed).permutation({protocol.train_pool})[:N] (the first "
                f"{protocol.train_pool} rows are the pool); test = the other rows.")
    return f"Split: numpy RandomState(seed).permutation, first N train; test on {protocol.test_on}."


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {value!r}")


def default_models(names: Sequence[str] | None = None, epochs: int | None = None,
                   num_threads: int | None = 1) -> list[ModelSpec]:
    """Our predictor, its ablations and the baselines, by name.

    ``epochs`` overrides the GNN models' training epochs; ``num_threads`` their torch CPU threads
    (:class:`gnnnas.Predictor`'s rule: a count, -1 for every CPU, None for torch's setting). The
    scikit-learn baselines use one thread.
    """
    from gnnnas import baselines
    from gnnnas.nn.convs import CONVS
    from gnnnas.params import CONV_NAMES
    from gnnnas.predictor import Predictor

    over = {"num_threads": num_threads} if epochs is None else {"epochs": epochs, "num_threads": num_threads}

    def ours(**kw):
        # every variant starts from random weights unless it says otherwise, so that an ablation
        # that changes the encoder's shape (which the shipped encoder then no longer fits) is
        # compared with gnnnas-scratch from the same start
        kw = {"pretrained": None, **kw}
        return lambda space, seed: Predictor(space=space, seed=seed, **{**over, **kw})

    specs = [
        ModelSpec("gnnnas", ours(pretrained="auto"),
                  "our predictor, default hyperparameters (NB201: starts from the shipped encoder)"),
        ModelSpec("gnnnas-scratch", ours(),
                  "our predictor from random weights (pretrained=None; the default before 'auto'), the reference "
                  "of the ablations and variants below, which all start from random weights"),
        ModelSpec("gnnnas-no-global", ours(use_global_node=False, readout="mean+sum"), "ablation: no global macro node"),
        ModelSpec("gnnnas-macro", ours(macro_features=True), "variant: macro features (params, FLOPs, depth...) on the global node"),
        *(ModelSpec(f"gnnnas-{name}", ours(conv=name), f"variant: encoder conv {name!r} ({spec.source})")
          for name, spec in ((n, CONVS[n]) for n in CONV_NAMES) if name != "gcn"),
        *(ModelSpec(f"gnnnas-pretrain-{name}", ours(pretrain=spec),
                    f"+ self-supervised pre-training ({spec}) on the space's unlabelled archs, then fine-tuning")
          for name, spec in (("costs", "costs"), ("masked", "masked"), ("both", "costs+masked"),
                             ("zero_cost", "zero_cost"), ("flow", "flow"), ("costs-zero_cost", "costs+zero_cost"),
                             ("hypernetwork", "hypernetwork"), ("costs-hypernetwork", "costs+hypernetwork"),
                             ("all", "costs+zero_cost+flow+masked"))),
        *(ModelSpec(f"gnnnas-pretrain-{name}-enclr0.1", ours(pretrain=spec, encoder_lr_scale=0.1),
                    f"+ pre-training ({spec}), then fine-tuning with the encoder at lr x 0.1 (discriminative fine-tuning)")
          for name, spec in (("costs", "costs"), ("hypernetwork", "hypernetwork"))),
        ModelSpec("gnnnas-enclr0.1", ours(pretrained="auto", encoder_lr_scale=0.1),
                  "the default start (NB201: the shipped encoder), its encoder fine-tuned at lr x 0.1"),
        ModelSpec("gnnnas-pretrained", ours(pretrained="default"),
                  "starts from the encoder gnnnas ships for the space (gnnnas/pretrained/), then fine-tuning"),
        ModelSpec("gnnnas-no-context", ours(cell_context=False), "ablation: no HyperNAS cell-to-cell context"),
        ModelSpec("gnnnas-no-prune", ours(prune=False, contract_identities=False), "ablation: raw graphs (no pruning)"),
        ModelSpec("gnnnas-hyper", ours(hypernetwork=True),
                  "+ hypernetwork task (digits, width 8, 1,000 unlabelled archs, dynamic adaptive loss q=1.5)"),
        ModelSpec("gnnnas-hyper-labelled", ours(hypernetwork=True, unlabelled_archs=0),
                  "+ hypernetwork task on the labelled archs only"),
        ModelSpec("gnnnas-hyper-uncertainty", ours(hypernetwork=True, task_weighting="uncertainty"),
                  "+ hypernetwork task, Kendall uncertainty weighting"),
        ModelSpec("gnnnas-hyper-fixed", ours(hypernetwork=True, task_weighting="fixed"),
                  "+ hypernetwork task, fixed weights 1 + 1"),
        ModelSpec("gnnnas-hyper-fixed10", ours(hypernetwork=True, task_weighting="fixed", hyper_loss_weight=10.0),
                  "+ hypernetwork task, fixed weights 1 + 10 (encoder gradients of both tasks of one size)"),
        ModelSpec("gnnnas-hyper-proxyrank", ours(hypernetwork=True, proxy_rank_weight=0.5),
                  "+ hypernetwork task, and the ranking head also orders drawn archs by their generated networks' proxy loss (weight 0.5)"),
        ModelSpec("np-gcn", lambda space, seed: baselines.np_gcn(space, seed, **over),
                  "Wen et al. neural predictor: two-direction GCN, raw graphs, no global node, MSE"),
        ModelSpec("np-gcn-hyper", lambda space, seed: baselines.np_gcn(space, seed, hypernetwork=True, **over),
                  "NP-GCN + the hypernetwork task (does the task help a weaker encoder?)"),
        ModelSpec("random-forest", baselines.random_forest, "scikit-learn random forest (200 trees) on one-hot ops + adjacency"),
        ModelSpec("random-forest-macro", lambda space, seed: baselines.random_forest(space, seed, include_macro=True),
                  "random forest on one-hot ops + adjacency + the global node's macro features (params, FLOPs, depth...)"),
        ModelSpec("gradient-boosting", baselines.gradient_boosting,
                  "scikit-learn gradient boosting (300 trees, depth 3) on one-hot ops + adjacency"),
    ]
    if names is None:
        return specs
    known = {s.name: s for s in specs}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown models {unknown}; known: {list(known)}")
    return [known[n] for n in names]
