"""The ``gnnnas`` command: the only module that parses arguments or prints results.

Progress lines come from :mod:`gnnnas.progress`, on stderr, when a command asks for them.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
import time
from collections.abc import Sequence

import gnnnas
from gnnnas.params import CONV_NAMES, NUMERIC_PARAMS, Range

# Only argparse and gnnnas.params (no torch, numpy or data modules) at import: `gnnnas --help`
# answers in a fraction of a second; each command imports what it needs.


def _in(allowed: Range, many: bool = False):
    """An argparse ``type``: a number (``many``: comma-separated numbers) within ``allowed``.

    Anything else exits with status 2 and ``argument --option: must be ..., got '...'``.
    """
    convert = int if allowed.integer else float
    what = f"{'comma-separated values, each ' if many else ''}{allowed}"

    def parse(text: str):
        try:
            values = [convert(part) for part in text.split(",")] if many else [convert(text)]
            for value in values:
                allowed.check("value", value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        return values if many else values[0]

    return parse


_POSITIVE = _in(Range(1, integer=True))
_SEED = _in(dataclasses.replace(NUMERIC_PARAMS["seed"], optional=False))

#: Default benchmark of each space for ``gnnnas info``.
_BENCHMARK_OF_SPACE = {
    "nb201": "nb201",
    "nb101": "nb101",
    "darts": "darts",
    "vit": "vit",
    "nasbench_graph": "nasbench_graph",
}


def _cmd_info(args: argparse.Namespace) -> int:
    import numpy as np

    from gnnnas.data.paths import MissingDataError

    space = gnnnas.get_space(args.space)
    print(f"space          {space.name}")
    print(f"operations     {', '.join(space.vocab.ops)}")
    print(f"size           {space.size if space.size is not None else 'not countable'}")
    example = space.sample(np.random.default_rng(0))
    print(f"example        {_plain_encoding(space.format(example))}")  # as a CSV takes it: JSON
    print(f"example graph  {example.num_nodes} nodes, {len(example.edges)} edges + global node")
    print("macro features " + ", ".join(f"{k}={v:g}" for k, v in example.macro.items()))
    if args.enumerate and space.size is not None and space.size <= 100_000:
        start = time.perf_counter()
        archs = list(space.enumerate())
        networks = len({a.canonical_hash() for a in archs})
        print(
            f"enumerated     {len(archs)} archs, {networks} distinct networks (canonical_hash) "
            f"({time.perf_counter() - start:.1f} s)"
        )
    name = args.benchmark or _BENCHMARK_OF_SPACE.get(space.name)
    if name is None:
        return 0
    try:
        start = time.perf_counter()
        bench = gnnnas.load_benchmark(name, metric=args.metric, data_dir=args.data_dir)
        seconds = time.perf_counter() - start
    except (MissingDataError, ImportError) as error:
        print(f"benchmark      {name}: not available here ({error})")
        return 0
    y = bench.y
    best = int(np.nanargmax(y))
    print(f"benchmark      {bench.name}, metric {bench.metric}, {len(bench)} archs (loaded in {seconds:.2f} s)")
    print(
        f"labels         min {np.nanmin(y):.3f}  median {np.nanmedian(y):.3f}  "
        f"max {np.nanmax(y):.3f}  mean {np.nanmean(y):.3f}"
    )
    print(f"best           {_plain_encoding(bench.encodings[best])}")
    print(f"extra columns  {', '.join(sorted(bench.extra)) or '-'}")
    print(f"metrics        {', '.join(bench.metrics)}")
    return 0


def _cmd_spaces(args: argparse.Namespace) -> int:
    for name in gnnnas.list_spaces():
        space = gnnnas.get_space(name)
        size = space.size if space.size is not None else "-"
        print(f"{name:16s} size {size!s:>24}  ops: {', '.join(space.vocab.ops)}")
    print("benchmarks: " + ", ".join(gnnnas.list_benchmarks()))
    return 0


def _read_archs_csv(path: str, arch_column: str, label_column: str | None, space):
    """The architectures of a CSV, parsed by ``space`` from their native encodings (strings;
    JSON for structured encodings), and their labels.

    Every fault of the file is a ``ValueError`` naming the file and, for a row, its line (a row
    too short to hold the column, an encoding the space rejects, a label that is no number).
    """
    import csv
    import json

    import numpy as np

    rows = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:  # utf-8-sig: a BOM is not part of the header
            reader = csv.DictReader(handle)
            if reader.fieldnames is not None:
                reader.fieldnames = [name.strip() for name in reader.fieldnames]
            if reader.fieldnames is None or arch_column not in reader.fieldnames:
                raise ValueError(f"{path}: no column {arch_column!r} (columns: {reader.fieldnames})")
            if label_column is not None and label_column not in reader.fieldnames:
                raise ValueError(f"{path}: no column {label_column!r} (columns: {reader.fieldnames})")
            for row in reader:
                rows.append((reader.line_num, row))
    except (csv.Error, UnicodeDecodeError) as error:  # a field over csv's size limit, bytes that are not UTF-8
        raise ValueError(f"{path}: not a readable UTF-8 CSV file ({error})") from None
    if not rows:
        raise ValueError(f"{path}: no rows")
    archs, labels = [], []
    for line, row in rows:
        text = row[arch_column]
        if text is None:  # a row with fewer fields than the header
            raise ValueError(f"{path}, line {line}: no value in column {arch_column!r}")
        text = text.strip()
        if text[:1] in ("[", "{"):
            try:
                text = json.loads(text)
            except (json.JSONDecodeError, RecursionError):
                pass  # e.g. DARTS keys with tuples: the space parses the string itself
        try:
            archs.append(space.parse(text))
            if label_column is not None:
                labels.append(float(row[label_column] if row[label_column] is not None else ""))
        except (ValueError, TypeError) as error:
            column = label_column if len(archs) > len(labels) and label_column is not None else arch_column
            raise ValueError(f"{path}, line {line}, column {column!r}: {error}") from None
    return archs, (np.array(labels) if label_column is not None else None)


def _training_data(args: argparse.Namespace):
    import numpy as np

    space = gnnnas.get_space(args.space)
    if args.csv:
        archs, y = _read_archs_csv(args.csv, args.arch_column, args.label_column, space)
        return space, archs, y
    bench = gnnnas.load_benchmark(args.benchmark or _BENCHMARK_OF_SPACE[space.name], metric=args.metric, data_dir=args.data_dir)
    n = len(bench) if args.train_size is None else args.train_size
    if not 2 <= n <= len(bench):
        raise ValueError(f"--train-size must be in [2, {len(bench)}], got {n}")
    idx = np.random.RandomState(args.seed).permutation(len(bench))[:n]
    return bench.space, [bench.archs[i] for i in idx], bench.y[idx]


def _predictor_params(args: argparse.Namespace) -> dict:
    params = {}
    for name in ("epochs", "hidden_dim", "num_layers", "conv", "n_members", "lr", "batch_size", "dropout", "loss",
                 "device", "hypernetwork",
                 "num_threads", "pretrain", "pretrained", "pretrain_archs", "pretrain_epochs", "pretrain_batch_size",
                 "encoder_lr_scale"):
        value = getattr(args, name, None)
        if value is not None:
            params[name] = value
    if isinstance(params.get("pretrained"), str) and params["pretrained"].lower() == "none":
        params["pretrained"] = None  # a random initialisation
    return params


def _check_out_file(path: str) -> None:
    """Refuse, before training rather than after it, an ``--out`` the final write would fail on
    (:func:`gnnnas.files.unwritable_reason`)."""
    from gnnnas.files import unwritable_reason

    if (reason := unwritable_reason(path)) is not None:
        raise ValueError(f"--out {reason}" if path and reason.startswith(path) else f"--out {path!r}: {reason}")


@contextlib.contextmanager
def _torchrun_group(args: argparse.Namespace):
    """Under torchrun (WORLD_SIZE > 1): the process group for one data-parallel run over the ranks,
    destroyed afterwards. Yields ``(rank, world size, predictor params)``; gloo's ranks train on
    the CPU even where a GPU is present."""
    from gnnnas import distributed

    backend = distributed.init_from_env(args.device or "auto")
    try:
        rank, size = distributed.world()
        params = _predictor_params(args)
        if backend == "gloo":
            params["device"] = "cpu"
        yield rank, size, params
    finally:
        if backend is not None:
            import torch.distributed as dist

            dist.destroy_process_group()


def _cmd_train(args: argparse.Namespace) -> int:
    from gnnnas.predictor import Predictor

    _check_out_file(args.out)
    with _torchrun_group(args) as (rank, size, params):  # rank 0 writes the file
        space, archs, y = _training_data(args)
        predictor = Predictor(space=space.name, seed=args.seed, verbose=not args.quiet and rank == 0,
                              data_parallel=size > 1, **params)
        predictor.fit(archs, y)
        if rank == 0:
            predictor.save(args.out)
            ranks = f" on {size} ranks (DistributedDataParallel)" if size > 1 else ""
            print(f"trained on {len(y)} {space.name} archs{ranks} in {predictor.fit_seconds_:.1f} s "
                  f"(encoder start: {predictor.encoder_start_}) -> {args.out}")
    return 0


def _cmd_pretrain(args: argparse.Namespace) -> int:
    from gnnnas.predictor import Predictor

    _check_out_file(args.out)
    with _torchrun_group(args) as (rank, size, params):  # rank 0 writes the file
        space = gnnnas.get_space(args.space)
        if args.csv and args.pretrain_archs is not None:
            raise ValueError("--archs sizes a pool drawn from the space; with --csv the pool is the file's "
                             "archs: pass one of them")
        pool = _read_archs_csv(args.csv, args.arch_column, None, space)[0] if args.csv else None
        predictor = Predictor(space=space.name, seed=args.seed, verbose=not args.quiet and rank == 0,
                              pretrain=args.pretext, data_parallel=size > 1, **params)
        predictor.pretrain_only(unlabelled=pool)
        if rank == 0:
            predictor.save_encoder(args.out)
            info = predictor.pretrained_encoder_.pretrain
            last = info["history"][-1]
            losses = ", ".join(f"{k} {v:.4f}" for k, v in last.items() if k != "epoch")
            ranks = f" on {size} ranks (DistributedDataParallel)" if size > 1 else ""
            epochs = f"{info['epochs']} epoch{'s' if info['epochs'] != 1 else ''}"
            print(f"pre-trained an encoder of {space.name} on {info['archs']} archs{ranks} ({args.pretext}, "
                  f"{epochs}, {info['seconds']:.1f} s; last epoch: {losses}) -> {args.out}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from gnnnas.predictor import Predictor

    predictor = Predictor.load(args.checkpoint)
    if args.num_threads is not None:
        predictor.set_params(num_threads=args.num_threads)
    space = predictor.space_
    if args.csv:
        archs, _ = _read_archs_csv(args.csv, args.arch_column, None, space)
    else:
        bench = gnnnas.load_benchmark(args.benchmark or _BENCHMARK_OF_SPACE[space.name], data_dir=args.data_dir)
        archs = bench.archs
    start = time.perf_counter()
    scores = predictor.predict(archs)
    seconds = time.perf_counter() - start
    rows = _write_scores(args.out, space, archs, scores)
    print(f"scored {len(rows)} archs in {seconds:.2f} s -> {args.out}")
    print("scores are rank scores: higher = predicted better; their scale is not an accuracy")
    return 0


def _write_scores(path: str, space, archs, scores) -> list[dict]:
    """Write ``arch, score`` rows as CSV, or JSON when ``path`` ends in ``.json``."""
    import csv
    import json

    from gnnnas.files import atomic_write

    formatted = [space.format(a) for a in archs]
    rows = [{"arch": f if isinstance(f, str) else json.dumps(f), "score": float(s)} for f, s in zip(formatted, scores)]
    if path.endswith(".json"):
        with atomic_write(path, "w") as handle:
            json.dump(rows, handle)
    else:
        with atomic_write(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["arch", "score"])
            writer.writeheader()
            writer.writerows(rows)
    return rows


def _cmd_score(args: argparse.Namespace) -> int:
    import numpy as np

    from gnnnas.evaluator import ZeroFinetuneEvaluator
    from gnnnas.predictor import Predictor

    labels = None
    if args.checkpoint:
        predictor = Predictor.load(args.checkpoint)
        if not getattr(predictor, "proxy_shape_", None):  # the library's message names hypernetwork=True
            raise ValueError(f"{args.checkpoint} was trained without the hypernetwork task; train one with "
                             "`gnnnas train --hypernetwork`, or drop --checkpoint to train a fresh hypernetwork")
        if args.num_threads is not None:
            predictor.set_params(num_threads=args.num_threads)
        space = predictor.space_
    else:
        space = gnnnas.get_space(args.space)
    if args.csv:
        archs, _ = _read_archs_csv(args.csv, args.arch_column, None, space)
    elif args.random:
        rng = np.random.default_rng(args.seed + 1)
        archs = [space.sample(rng) for _ in range(args.random)]
    else:
        bench = gnnnas.load_benchmark(args.benchmark or _BENCHMARK_OF_SPACE[space.name], data_dir=args.data_dir)
        idx = np.arange(len(bench))
        if args.sample and args.sample < len(bench):
            idx = np.sort(np.random.RandomState(args.seed).choice(len(bench), args.sample, replace=False))
        archs, labels = [bench.archs[i] for i in idx], bench.y[idx]
    start = time.perf_counter()
    if args.checkpoint:
        scores = predictor.proxy_scores(archs, metric=args.metric, proxy_data=args.proxy, progress=_progress(args))
        how = f"hypernetwork of {args.checkpoint}"
    else:
        evaluator = ZeroFinetuneEvaluator(space=space.name, proxy_data=args.proxy or "digits", width=args.width,
                                          steps=args.steps, metric=args.metric, seed=args.seed, device=args.device,
                                          num_threads=1 if args.num_threads is None else args.num_threads)
        evaluator.fit(progress=_progress(args))
        how = f"hypernetwork trained {args.steps} steps on {evaluator.pool_size} sampled archs in {evaluator.fit_seconds_:.0f} s"
        scores = evaluator.score_archs(archs, progress=_progress(args))
    seconds = time.perf_counter() - start
    rows = _write_scores(args.out, space, archs, scores)
    print(f"scored {len(rows)} archs with predicted weights, no finetuning ({how}); {seconds:.1f} s -> {args.out}")
    if labels is not None:
        from gnnnas.metrics import kendall_tau

        print(f"Kendall tau vs the benchmark's labels: {kendall_tau(labels, scores):.4f}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gnnnas import harness, progress
    from gnnnas.protocols import get_protocol

    protocol = get_protocol(args.protocol or args.space)
    if args.plot:
        import importlib.util

        if importlib.util.find_spec("matplotlib") is None:  # say so before the run, not after it
            raise ImportError('--plot needs matplotlib: pip install "gnnnas[plots]"')
    models = harness.default_models(args.models.split(",") if args.models else None, epochs=args.epochs,
                                    num_threads=1 if args.num_threads is None else args.num_threads)
    sizes = args.train_size
    seeds = list(range(args.seeds))
    bench = protocol.load(args.data_dir)
    print(f"{protocol.name}: {protocol.description}")
    print(f"{len(bench)} archs; seeds {seeds}; models {[m.name for m in models]}")

    def show(r):  # results on stdout; progress (elapsed, remaining) goes to stderr
        progress.write(
            f"  {r.model:18s} N={r.train_size:<5d} seed={r.seed} tau={r.kendall_tau:.4f} "
            f"(test {r.test_size}; fit {r.fit_seconds:.1f} s, predict {r.predict_seconds:.2f} s)"
        )

    records = harness.run_protocol(protocol, models, seeds=seeds, train_sizes=sizes, bench=bench, on_record=show,
                                   progress=_progress(args), backend=args.backend, address=args.address)
    print()
    print(harness.markdown_table(harness.summarise(records)))
    if args.json or args.out_dir:
        stem = Path(args.json).with_suffix("") if args.json else Path(args.out_dir) / f"{protocol.name.lower()}"
        json_path, md_path = harness.write_results(stem, protocol, records, models)
        print(f"wrote {json_path} and {md_path}")
    if args.plot:
        from gnnnas.plots import plot_tau

        print(f"wrote {plot_tau(harness.summarise(records), args.plot, protocol.name)}")
    return 0


def _search_table(args: argparse.Namespace):
    """The oracle's table: the space's benchmark, or a CSV of (arch, label) rows."""
    space = gnnnas.get_space(args.space)
    if args.csv:
        archs, y = _read_archs_csv(args.csv, args.arch_column, args.label_column, space)
        return gnnnas.Benchmark(name=args.csv, space=space, metric=args.label_column, archs=archs, y=y,
                                encodings=[space.format(a) for a in archs])
    name = args.benchmark or _BENCHMARK_OF_SPACE.get(space.name)
    if name is None:
        raise ValueError(f"space {space.name!r} has no default benchmark; pass --benchmark or --csv")
    bench = gnnnas.load_benchmark(name, metric=args.metric, data_dir=args.data_dir)
    if bench.space.name != space.name:
        raise ValueError(f"benchmark {name!r} is for space {bench.space.name!r}, not {space.name!r}")
    return bench


def search_run(bench, method: str, budget: int, seed: int, options: dict):
    """One search of ``gnnnas search`` (a module-level function: a Ray task runs it as it is).
    Returns ``(SearchResult, seconds)``."""
    from gnnnas import search

    space = bench.space
    oracle = search.BenchmarkOracle(bench)
    # a table that covers its whole space (NB201) needs no restriction: the space's own
    # sampling and mutation are used; otherwise the search stays on the table's archs
    covers_space = space.size is not None and len(oracle) >= space.size
    common = {"rng": seed, "candidates": None if covers_space else oracle.archs, "progress": options["progress"]}
    start = time.perf_counter()
    if method == "random":
        result = search.random_search(space, oracle, budget, **common)
    elif method == "rea":
        result = search.regularized_evolution(space, oracle, budget, population=options["population"],
                                              sample=options["sample_size"], **common)
    else:
        overrides = options["overrides"]

        def factory(space, seed):
            return search.default_predictor_factory(space, seed).set_params(**overrides)

        result = search.predictor_search(space, oracle, budget, initial=options["initial"],
                                         per_round=options["per_round"], pool=options["pool"],
                                         local=options["local"], acquisition=options["acquisition"],
                                         kappa=options["kappa"], predictor_factory=factory, **common)
    return result, time.perf_counter() - start


def _cmd_search(args: argparse.Namespace) -> int:
    import json
    import statistics

    import numpy as np

    from gnnnas import search

    bench = _search_table(args)
    space = bench.space
    oracle = search.BenchmarkOracle(bench)
    table = oracle.bench  # one row per architecture, as the oracle answers
    maximum = oracle.max_value
    options = {"progress": _progress(args) if args.backend == "local" else False,
               "population": args.population, "sample_size": args.sample_size, "initial": args.initial,
               "per_round": args.per_round, "pool": args.pool, "local": args.local,
               "acquisition": args.acquisition, "kappa": args.kappa,
               "overrides": _predictor_params(args) if args.method == "predictor" else {}}
    seeds = [args.seed + r for r in range(args.runs)]
    calls = [(bench, args.method, args.budget, seed, options) for seed in seeds]
    if args.backend == "local":
        done = ((i, search_run(*call)) for i, call in enumerate(calls))
    else:
        from gnnnas.scaleout import ray_map

        done = ray_map(search_run, calls, shared=(0,), address=args.address)
    what = f"{args.method}" + (f" ({args.acquisition})" if args.method == "predictor" else "")
    payloads: list = [None] * len(seeds)
    for i, (result, seconds) in done:
        to_max = result.queries_to(maximum)
        best = result.best_value
        rank = int(np.sum(table.y > best)) + 1 if np.isfinite(best) else None
        print(f"search {space.name} on {bench.name} ({bench.metric}), {what}, seed {seeds[i]}: "
              f"{result.n_queries} of {args.budget} queries in {seconds:.1f} s")
        if result.best_arch is not None:
            print(f"best value found   {best:.4f} at query {result.best_index + 1} "
                  f"(rank {rank} of {len(table)})")
            print(f"best arch          {_plain_encoding(space.format(result.best_arch))}")
        print(f"benchmark maximum  {maximum:.4f}: "
              + (f"reached after {to_max} queries" if to_max is not None else "not reached"))
        payloads[i] = {
            "space": space.name, "benchmark": bench.name, "metric": bench.metric, "method": args.method,
            "acquisition": args.acquisition if args.method == "predictor" else None, "seed": seeds[i],
            "budget": args.budget, "queries": result.n_queries, "seconds": seconds,
            "best_value": _json_float(best), "best_arch": _plain_encoding(space.format(result.best_arch))
            if result.best_arch is not None else None, "best_rank": rank,
            "benchmark_max": _json_float(maximum), "queries_to_max": to_max,
            "archs": [_plain_encoding(space.format(a)) for a in result.archs],
            "values": [_json_float(v) for v in result.values],
            "best_so_far": [_json_float(v) for v in result.best_so_far],
            "rounds": [{k: _json_float(v) if isinstance(v, float) else v for k, v in r.items()}
                       for r in result.rounds],
        }
    summary = None
    if len(seeds) > 1:
        # a run that never reaches the maximum counts as budget + 1 queries (it needs more)
        needed = [p["queries_to_max"] if p["queries_to_max"] is not None else args.budget + 1 for p in payloads]
        reached = sum(p["queries_to_max"] is not None for p in payloads)
        summary = {"runs": len(seeds), "reached_max": reached, "median_queries_to_max": statistics.median(needed),
                   "mean_best_value": float(np.mean([p["best_value"] for p in payloads]))}
        print(f"{len(seeds)} runs: maximum reached in {reached}; median queries to it "
              f"{summary['median_queries_to_max']:g} (a run that misses it counts as {args.budget + 1}); "
              f"mean best value {summary['mean_best_value']:.4f}")
    if args.json:
        from gnnnas.files import atomic_write

        document = payloads[0] if summary is None else {**summary, "runs_detail": payloads}
        with atomic_write(args.json, "w") as handle:
            json.dump(document, handle, indent=1)
        print(f"wrote {args.json}")
    return 0


def _plain_encoding(encoding) -> str:
    import json

    return encoding if isinstance(encoding, str) else json.dumps(encoding)


def _json_float(value: float) -> float | None:
    import math

    return float(value) if math.isfinite(value) else None


def _progress(args: argparse.Namespace) -> str:
    """The ``progress=`` mode of a command: on stderr (a bar on a terminal, one line per step in a
    log; see gnnnas.progress) unless ``--quiet``."""
    return "quiet" if args.quiet else "auto"


def _add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress on stderr (by default: a bar on a terminal, one line per step "
                        "otherwise, with elapsed and remaining time); results still go to stdout")


def _cmd_data_convert(args: argparse.Namespace) -> int:
    from gnnnas.data.convert import convert

    result = convert(args.sources, args.space, data_dir=args.data_dir, dataset=args.dataset,
                     check_crc=not args.no_crc, progress=_progress(args))
    table = result.table
    print(f"converted {len(args.sources)} source(s) -> {result.path} ({len(table)} rows, "
          f"{len(table.columns)} columns, {result.seconds:.1f} s)")
    print(f"manifest       {result.manifest}")
    return 0


def _cmd_data_list(args: argparse.Namespace) -> int:
    from gnnnas.data.convert import list_data
    from gnnnas.data.paths import resolve_data_dir

    root = resolve_data_dir(args.data_dir)
    print(f"data directory {root}")
    rows = list_data(root)
    for row in rows:
        mark = "present" if row["present"] else "shipped" if row.get("embedded") else "MISSING"
        print(f"  {mark:8s} {row['path']:40s} [{row['benchmark']}]")
        if not row["present"] and not row.get("embedded"):
            print(f"           get it: {row['how']}")
    shipped = sum(bool(r.get("embedded")) for r in rows)
    print(f"{sum(bool(r['present']) for r in rows)} of {len(rows)} files present"
          + (f"; {shipped} more read from the tables shipped with gnnnas" if shipped else ""))
    return 0


def _cmd_data_verify(args: argparse.Namespace) -> int:
    from gnnnas.data.manifest import MANIFEST_NAME, verify_manifest
    from gnnnas.data.paths import resolve_data_dir

    root = resolve_data_dir(args.data_dir)
    results = verify_manifest(root)
    if not results:
        print(f"no {MANIFEST_NAME} entries in {root} (nothing converted yet)")
        return 0
    for relative, status in results:
        print(f"  {status:18s} {relative}")
    interrupted = [r for r, status in results if status == "interrupted"]
    bad = [r for r, status in results if status not in ("ok", "interrupted")]
    print(f"{len(results) - len(bad) - len(interrupted)} of {len(results)} files match the manifest")
    if interrupted:
        print(f"{len(interrupted)} complete table(s) from a conversion that was stopped before recording "
              "itself (not tampering): the next `gnnnas data convert` records them")
    return 1 if bad else 0


def _cmd_data_download(args: argparse.Namespace) -> int:
    from gnnnas.data.download import REGISTRY, DownloadError, download_and_convert

    if args.name is None:
        print(f"{'name':16s} {'file':34s} {'size':14s} {'sha256':10s} url")
        for remote in REGISTRY.values():
            checksum = "published" if remote.sha256 else "none"
            print(f"{remote.name:16s} {remote.filename:34s} {remote.size_text:14s} {checksum:10s} {remote.url}")
            if remote.note:
                print(f"{'':16s} note: {remote.note}")
        return 0
    try:
        result = download_and_convert(args.name, args.data_dir, convert=not args.no_convert, url=args.url,
                                      sha256=args.sha256, verify=not args.no_verify, progress=_progress(args))
    except DownloadError as error:  # the URL and the cause, or the checksum to accept
        print(f"gnnnas: error: {error}", file=sys.stderr)
        return 2
    how = ("already in place" if result.reused else
           f"{result.bytes / 1e6:.1f} MB fetched" + (f", resumed at {result.resumed_from / 1e6:.1f} MB"
                                                      if result.resumed_from else ""))
    print(f"downloaded {args.name} -> {result.path} ({how})")
    print(f"sha256         {result.sha256}" + ("" if result.verified else "  (NOT verified: --no-verify)"))
    for converted in result.converted:
        print(f"converted      -> {converted.path} ({len(converted.table)} rows, {converted.seconds:.1f} s)")
    if result.converted:
        print(f"manifest       {result.converted[-1].manifest}")
    return 0


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--benchmark", default=None, help="benchmark to read archs from (default: the space's)")
    p.add_argument("--data-dir", default=None, help="data directory (default: $GNNNAS_DATA, else ~/.cache/gnnnas)")
    p.add_argument("--csv", default=None, help="CSV file with native encodings (and labels) instead of a benchmark")
    p.add_argument("--arch-column", default="arch", help="CSV column of native encodings (default: arch)")


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epochs", type=_POSITIVE, default=None, help="training epochs (default: the predictor's)")
    p.add_argument("--hidden-dim", dest="hidden_dim", type=_POSITIVE, default=None)
    p.add_argument("--num-layers", dest="num_layers", type=_POSITIVE, default=None)
    p.add_argument("--conv", default=None, choices=CONV_NAMES,
                   help="the encoder's graph convolution (default: gcn, the two-direction GCN)")
    p.add_argument("--n-members", dest="n_members", type=_POSITIVE, default=None, help="ensemble size")
    p.add_argument("--lr", type=_in(NUMERIC_PARAMS["lr"]), default=None)
    p.add_argument("--batch-size", dest="batch_size", type=_POSITIVE, default=None,
                   help="labelled archs per training step (default: 32)")
    p.add_argument("--dropout", type=_in(NUMERIC_PARAMS["dropout"]), default=None,
                   help="dropout between the encoder's layers (default: 0.1)")
    p.add_argument("--loss", default=None, help="ranking loss spec, e.g. pairwise_logistic or mse+listnet")
    p.add_argument("--device", default=None, help="auto (default), cpu or cuda")
    p.add_argument("--hypernetwork", action="store_true", default=None,
                   help="train the hypernetwork task jointly (needed for `gnnnas score --checkpoint`)")
    p.add_argument("--pretrain", default=None, metavar="TASKS",
                   help="self-supervised pre-training on unlabelled archs first, e.g. costs+masked (see `gnnnas pretrain`)")
    p.add_argument("--pretrained", default=None, metavar="FILE",
                   help="where the encoder starts: 'auto' (default: the encoder gnnnas ships for the space when it "
                        "fits, else random), 'default' (the shipped one, or an error), 'none' (random), or a file "
                        "of `gnnnas pretrain --out`")
    p.add_argument("--pretrain-archs", dest="pretrain_archs", type=_in(NUMERIC_PARAMS["pretrain_archs"]),
                   default=None, help="with --pretrain: size of the unlabelled pool (default: 20,000)")
    p.add_argument("--pretrain-epochs", dest="pretrain_epochs", type=_POSITIVE, default=None,
                   help="with --pretrain: passes over the pool (default: 10)")
    p.add_argument("--encoder-lr-scale", dest="encoder_lr_scale", type=_in(NUMERIC_PARAMS["encoder_lr_scale"]),
                   default=None, metavar="X",
                   help="multiplies --lr for a pre-trained encoder's weights while fine-tuning (default: 1; 0 freezes it)")
    _add_threads_arg(p)


def _add_threads_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", dest="num_threads", type=_threads, default=None, metavar="N",
                   help="torch CPU threads while training and scoring: a positive number or 'all' (default: 1, "
                        "measured fastest for gnnnas's small graphs, and safe on a machine shared with other jobs; "
                        "see benchmarks/results/threads.md)")


def _threads(text: str) -> int:
    """``--threads``: a positive integer, or ``all`` (-1: every CPU of the process)."""
    if text.strip().lower() == "all":
        return -1
    return _POSITIVE(text)


_CSV_IN = """\
input CSV (--csv): a header row, then one architecture per row; other columns are ignored.
  arch      the space's native encoding, as `gnnnas info --space NAME` prints it under
            "example" (column name: --arch-column):
              nb201           |nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|...|
              macro           21110010
              nb101           JSON [matrix, ops], e.g. [[[0,1],[0,0]], ["input","output"]]
              darts           JSON [normal, reduce], each 8 [input, op index] pairs
              nasbench_graph  JSON [links, ops], e.g. [[0,1,2,3], ["gcn","cheb","fc","arma"]]
              vit             JSON object {"hidden_dim": ..., "depth": ..., ...}"""
_CSV_LABEL = """
  accuracy  the label, a number, higher = better (column name: --label-column)"""
_SCORES_OUT = """

output (--out): a .csv with columns arch,score (or a .json list of {"arch", "score"}), one row per
architecture in input order, arch in the native encoding. Higher score = predicted better."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose ``--help`` ends with ``notes``, printed as written.

    Not an ``epilog``: the documentation's parser reference (sphinx-argparse) reads epilogs as
    reStructuredText, where an NB201 arch string is markup; docs/cli.md says the same in prose.
    """

    def __init__(self, *args, notes: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.notes = notes

    def format_help(self) -> str:
        return super().format_help() + (f"\n{self.notes.strip(chr(10))}\n" if self.notes else "")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gnnnas", description=gnnnas.__doc__.split("\n\n")[0])  # not the import notes
    parser.add_argument("--version", action="version", version=f"gnnnas {gnnnas.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="summarise a search space and its benchmark table")
    info.add_argument("--space", default="nb201", help="search space name (default: nb201)")
    info.add_argument("--benchmark", default=None, help="benchmark to summarise (default: the space's)")
    info.add_argument("--metric", default=None, help="label column (default: the benchmark's)")
    info.add_argument("--data-dir", default=None, help="data directory (default: $GNNNAS_DATA, else ~/.cache/gnnnas)")
    info.add_argument(
        "--no-enumerate", dest="enumerate", action="store_false",
        help="skip enumerating small spaces to count their distinct networks",
    )
    info.set_defaults(func=_cmd_info)

    spaces = sub.add_parser("spaces", help="list registered search spaces and benchmarks")
    spaces.set_defaults(func=_cmd_spaces)

    train = sub.add_parser("train", help="fit a predictor and write a checkpoint",
                           notes=_CSV_IN + _CSV_LABEL)
    train.add_argument("--space", default="nb201", help="search space (default: nb201)")
    _add_data_args(train)
    train.add_argument("--metric", default=None, help="label column of the benchmark")
    train.add_argument("--label-column", default="accuracy", help="CSV column of labels (default: accuracy)")
    train.add_argument("--train-size", type=_in(Range(2, integer=True)), default=None,
                       help="random subset of the benchmark (default: all)")
    train.add_argument("--seed", type=_SEED, default=0)
    train.add_argument("--out", required=True, help="checkpoint path to write")
    _add_model_args(train)
    _add_quiet(train)
    train.set_defaults(func=_cmd_train)

    pretrain = sub.add_parser(
        "pretrain", help="pre-train an encoder on the space's unlabelled archs (no labels) and write it",
        notes="The pool: every arch of a finite space of at most --archs archs (NB201: all 15,625), else --archs\n"
              "seeded samples, or the archs of --csv. Use the file with `gnnnas train --pretrained FILE` or\n"
              "Predictor(pretrained=FILE); its encoder shape (--hidden-dim, --num-layers, --conv) must match.\n"
              "Under torchrun (torchrun --nproc-per-node K -m gnnnas pretrain ...) the ranks share every batch\n"
              "(DistributedDataParallel) and rank 0 writes the file.")
    pretrain.add_argument("--space", default="nb201", help="search space (default: nb201)")
    pretrain.add_argument("--pretext", default="costs+masked",
                          help="tasks joined with +, optional weights: costs, zero_cost, flow, masked, hypernetwork "
                               "(default: costs+masked)")
    pretrain.add_argument("--archs", dest="pretrain_archs", type=_in(NUMERIC_PARAMS["pretrain_archs"]), default=None,
                          help="size of the pool of unlabelled archs (default: 20,000)")
    pretrain.add_argument("--epochs", dest="pretrain_epochs", type=_POSITIVE, default=None,
                          help="passes over the pool (default: 10)")
    pretrain.add_argument("--lr", type=_in(NUMERIC_PARAMS["lr"]), default=None,
                          help="pre-training learning rate (AdamW, cosine decay; default: the predictor's, 3e-3)")
    pretrain.add_argument("--batch-size", dest="pretrain_batch_size", type=_in(NUMERIC_PARAMS["pretrain_batch_size"]),
                          default=None, help="archs per step (default: 256; under torchrun the global batch)")
    pretrain.add_argument("--csv", default=None, help="CSV file with the native encodings of the pool instead")
    pretrain.add_argument("--arch-column", default="arch", help="CSV column of native encodings (default: arch)")
    pretrain.add_argument("--hidden-dim", dest="hidden_dim", type=_POSITIVE, default=None)
    pretrain.add_argument("--num-layers", dest="num_layers", type=_POSITIVE, default=None)
    pretrain.add_argument("--conv", default=None, choices=CONV_NAMES, help="the encoder's graph convolution")
    pretrain.add_argument("--dropout", type=_in(NUMERIC_PARAMS["dropout"]), default=None,
                          help="dropout between the encoder's layers (default: 0.1; masks are drawn per process "
                               "under torchrun)")
    pretrain.add_argument("--device", default=None, help="auto (default), cpu or cuda")
    _add_threads_arg(pretrain)
    pretrain.add_argument("--seed", type=_SEED, default=0)
    pretrain.add_argument("--out", required=True,
                          help="encoder file to write (safetensors; an existing file is replaced atomically)")
    _add_quiet(pretrain)
    pretrain.set_defaults(func=_cmd_pretrain)

    predict = sub.add_parser(
        "predict", help="score architectures with a checkpoint (rank scores: higher = predicted better)",
        description="Score architectures with a fitted predictor. The scores are rank scores: they order "
                    "architectures (higher = predicted better) and are not calibrated accuracies.",
        notes=_CSV_IN + _SCORES_OUT)
    predict.add_argument("checkpoint", help="file written by `gnnnas train` or Predictor.save")
    _add_data_args(predict)
    predict.add_argument("--out", required=True, help="output file: .csv or .json")
    _add_threads_arg(predict)
    _add_quiet(predict)
    predict.set_defaults(func=_cmd_predict)

    bench = sub.add_parser("bench", help="Kendall tau of our predictor and the baselines under a protocol")
    bench.add_argument("--space", default="nb201",
                       help="space whose standard protocol to run (default: nb201 = P201, on the table shipped "
                            "with gnnnas)")
    bench.add_argument("--protocol", default=None, help="protocol name, e.g. P201, P101, PDARTS, PVIT, PGRAPH-cora")
    bench.add_argument("--train-size", type=_in(Range(2, integer=True), many=True), default=None,
                       help="comma-separated N values (default: the protocol's)")
    bench.add_argument("--seeds", type=_POSITIVE, default=5, help="seeds 0..S-1 (default: 5)")
    bench.add_argument("--models", default=None, help="comma-separated model names (default: all)")
    bench.add_argument("--epochs", type=_POSITIVE, default=None, help="override training epochs of the GNN models")
    _add_threads_arg(bench)
    bench.add_argument("--data-dir", default=None, help="data directory (default: $GNNNAS_DATA, else ~/.cache/gnnnas; "
                       "tables shipped with gnnnas are read when it has none)")
    bench.add_argument("--json", default=None, help="write results to this JSON (+ .md beside it)")
    bench.add_argument("--out-dir", default=None, help="write <protocol>.json/.md here")
    bench.add_argument("--plot", default=None, help="write a PNG of tau vs labels here (needs matplotlib)")
    bench.add_argument("--backend", choices=("local", "ray"), default="local",
                       help="local (default): one task after another; ray: every (model, size, seed) task a Ray "
                            'task, same numbers (pip install "gnnnas[ray]")')
    bench.add_argument("--address", default=None,
                       help="with --backend ray: the cluster to join (e.g. auto); default: a local Ray on this machine")
    _add_quiet(bench)
    bench.set_defaults(func=_cmd_bench)

    score = sub.add_parser(
        "score",
        help="zero-finetune scores: held-out proxy accuracy of each arch's network with generated weights",
        notes=_CSV_IN + """

output (--out): a .csv with columns arch,score (or a .json list of {"arch", "score"}), one row per
architecture in input order. score: with --metric accuracy, the fraction (0-1) of held-out proxy
images the architecture's network classifies correctly with hypernetwork-generated weights (no
finetuning); with --metric loss, minus its mean cross-entropy. Higher = predicted better.""",
    )
    score.add_argument("--checkpoint", default=None,
                       help="predictor fitted with the hypernetwork (default: train a fresh hypernetwork)")
    score.add_argument("--space", default="nb201", help="search space when no checkpoint is given (default: nb201)")
    _add_data_args(score)
    score.add_argument("--sample", type=_POSITIVE, default=None, help="score a seeded uniform sample of the benchmark")
    score.add_argument("--random", type=_POSITIVE, default=None, help="score N archs sampled from the space (no data needed)")
    score.add_argument("--proxy", default=None, help="proxy images: digits (default) or fashion_mnist")
    score.add_argument("--width", type=_POSITIVE, default=8, help="channels of the generated networks (default: 8)")
    score.add_argument("--steps", type=_POSITIVE, default=1000, help="training steps of a fresh hypernetwork (default: 1000)")
    score.add_argument("--metric", default="accuracy", choices=["accuracy", "loss"])
    score.add_argument("--seed", type=_SEED, default=0)
    score.add_argument("--device", default="auto")
    _add_threads_arg(score)
    score.add_argument("--out", required=True, help="output file: .csv or .json")
    _add_quiet(score)
    score.set_defaults(func=_cmd_score)

    data = sub.add_parser("data", help="convert official benchmark files; list and verify the data directory")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    conv = data_sub.add_parser("convert", help="official file(s) -> compact table in the data directory")
    conv.add_argument("sources", nargs="+",
                      help="NB201 .pth / NATS -simple dir / NASLib pickle; NB101 .tfrecord or pickle; "
                           "NAS-Bench-Graph light file or the seed files of one data set")
    conv.add_argument("--space", required=True, choices=["nb201", "nb101", "nasbench_graph"])
    conv.add_argument("--data-dir", default=None, help="data directory (default: $GNNNAS_DATA, else ~/.cache/gnnnas)")
    conv.add_argument("--dataset", default=None, help="NAS-Bench-Graph data set (default: from the file name)")
    conv.add_argument("--no-crc", action="store_true", help="skip TFRecord CRC checks (faster, less safe)")
    _add_quiet(conv)
    conv.set_defaults(func=_cmd_data_convert)
    listing = data_sub.add_parser("list", help="which benchmark files are present, which missing, where to get them")
    listing.add_argument("--data-dir", default=None)
    listing.set_defaults(func=_cmd_data_list)
    verify = data_sub.add_parser("verify", help="check converted files against the manifest's SHA-256 (exit 1 on mismatch)")
    verify.add_argument("--data-dir", default=None)
    verify.set_defaults(func=_cmd_data_verify)

    fetch = data_sub.add_parser("download", help="fetch an official benchmark file (resumable, SHA-256 checked), "
                                "then convert it; without NAME: list what can be downloaded")
    fetch.add_argument("name", nargs="?", default=None, help="nb101_only108, nb101_full, nb201, nats_tss or "
                       "nasbench_graph (omit to list them with their URLs)")
    fetch.add_argument("--data-dir", default=None, help="data directory (default: $GNNNAS_DATA, else ~/.cache/gnnnas)")
    fetch.add_argument("--url", default=None, help="download from this URL instead (a mirror)")
    fetch.add_argument("--sha256", default=None, help="expected SHA-256 (64 hex digits); required for files "
                       "without a published one unless --no-verify")
    fetch.add_argument("--no-verify", action="store_true", help="accept the file whatever its SHA-256 (printed)")
    fetch.add_argument("--no-convert", action="store_true", help="download only; do not run `gnnnas data convert`")
    _add_quiet(fetch)
    fetch.set_defaults(func=_cmd_data_download)

    search = sub.add_parser("search", help="query-budgeted search with the benchmark's labels as the oracle",
                            notes=_CSV_IN + _CSV_LABEL)
    search.add_argument("--space", default="nb201", help="search space (default: nb201)")
    _add_data_args(search)
    search.add_argument("--metric", default=None, help="label column of the benchmark (default: the benchmark's)")
    search.add_argument("--label-column", default="accuracy", help="CSV column of labels (default: accuracy)")
    search.add_argument("--budget", type=_POSITIVE, default=100, help="oracle queries (default: 100)")
    search.add_argument("--method", default="predictor", choices=["predictor", "random", "rea"])
    search.add_argument("--seed", type=_SEED, default=0)
    search.add_argument("--acquisition", default="mean", choices=["mean", "ucb", "ei"],
                        help="predictor search: how candidates are scored (default: mean)")
    search.add_argument("--kappa", type=_in(Range(0)), default=1.0, help="UCB exploration weight (default: 1.0)")
    search.add_argument("--initial", type=_POSITIVE, default=10, help="predictor search: random queries first (default: 10)")
    search.add_argument("--per-round", dest="per_round", type=_POSITIVE, default=10,
                        help="predictor search: queries per round (default: 10)")
    search.add_argument("--pool", type=_POSITIVE, default=2000, help="predictor search: candidates scored per round")
    search.add_argument("--local", type=_in(Range(0, 1, bounds="[]")), default=0.5,
                        help="predictor search: fraction of each round's queries spent next to the best arch "
                             "so far (default: 0.5)")
    search.add_argument("--population", type=_POSITIVE, default=20, help="rea: population size (default: 20)")
    search.add_argument("--sample-size", dest="sample_size", type=_POSITIVE, default=5,
                        help="rea: tournament size (default: 5)")
    search.add_argument("--json", default=None, help="write the queries and the report to this JSON file")
    search.add_argument("--runs", type=_POSITIVE, default=1,
                        help="independent runs with seeds seed, seed+1, ... (default: 1); a summary follows")
    search.add_argument("--backend", choices=("local", "ray"), default="local",
                        help='local (default), or ray: every run a Ray task (pip install "gnnnas[ray]")')
    search.add_argument("--address", default=None,
                        help="with --backend ray: the cluster to join (e.g. auto); default: a local Ray")
    _add_model_args(search)
    _add_quiet(search)
    search.set_defaults(func=_cmd_search)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        if exit_.code == 2:  # a bad option (e.g. --random 0): argparse has printed the message
            return 2
        raise  # --help, --version
    from gnnnas.data.manifest import DataDirectoryError, describe_os_error
    from gnnnas.data.paths import MissingDataError

    try:
        return args.func(args)
    except (ValueError, MissingDataError, ImportError, DataDirectoryError, FloatingPointError) as error:
        print(f"gnnnas: error: {_as_cli_message(str(error), parser, args)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # every file gnnnas writes is written atomically: nothing half-written
        print("gnnnas: interrupted (gnnnas writes each file atomically: none is left half-written)", file=sys.stderr)
        return 130
    except OSError as error:  # a missing input file, a full disk, a denied permission...
        print(f"gnnnas: error: {describe_os_error(error)}", file=sys.stderr)
        return 2


def _as_cli_message(message: str, parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    """``message`` with the library's Python argument names replaced by the command's options.

    The library's errors name its arguments (``data_dir=``, ``num_threads must be ...``); on the
    command line the same fault is the option's (``--data-dir``, ``--threads must be ...``).
    """
    import re

    command = _subparser(parser, [args.command, getattr(args, "data_command", None)])
    options = {action.dest: action.option_strings[-1] for action in command._actions
               if action.option_strings and action.dest not in ("help", "version")}
    if "data_dir" in options:
        message = message.replace("set data_dir= or $GNNNAS_DATA", f"pass {options['data_dir']} or set $GNNNAS_DATA")
    for dest, option in options.items():
        message = re.sub(rf"(?<![\w-]){dest}=(?![\w'\"\[({{])", option, message)
        message = re.sub(rf"(^|: ){dest} must be\b", rf"\g<1>{option} must be", message)
    # the pretext spec is Predictor(pretrain=...): `pretrain --pretext`, `train --pretrain`
    if (spec_option := options.get("pretext") or options.get("pretrain")) is not None:
        message = re.sub(r"(^|: )pretrain=(?=')", rf"\g<1>{spec_option} ", message)
        message = re.sub(r"(^|: )pretrain: ", rf"\g<1>{spec_option}: ", message)
    if "data_dir" not in options:  # e.g. `gnnnas spaces`: no directory to pass, only the variable
        message = message.replace("set data_dir= or $GNNNAS_DATA", "set $GNNNAS_DATA")
    return message


def _subparser(parser: argparse.ArgumentParser, names: list[str | None]) -> argparse.ArgumentParser:
    """The (sub)parser that parsed ``gnnnas NAME [NAME]``."""
    for name in names:
        if name is None:
            break
        actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not actions or name not in actions[0].choices:
            break
        parser = actions[0].choices[name]
    return parser


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
