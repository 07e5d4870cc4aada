"""The ``gnnnas`` command. The only module that parses arguments or prints."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import numpy as np

import gnnnas
from gnnnas.data import MissingDataError

#: Default benchmark of each space for ``gnnnas info``.
_BENCHMARK_OF_SPACE = {
    "nb201": "nb201",
    "nb101": "nb101",
    "darts": "darts",
    "vit": "vit",
    "nasbench_graph": "nasbench_graph",
}


def _cmd_info(args: argparse.Namespace) -> int:
    space = gnnnas.get_space(args.space)
    print(f"space          {space.name}")
    print(f"operations     {', '.join(space.vocab.ops)}")
    print(f"size           {space.size if space.size is not None else 'not countable'}")
    example = space.sample(np.random.default_rng(0))
    print(f"example        {space.format(example)}")
    print(f"example graph  {example.num_nodes} nodes, {len(example.edges)} edges + global node")
    print("macro features " + ", ".join(f"{k}={v:g}" for k, v in example.macro.items()))
    if args.enumerate and space.size is not None and space.size <= 100_000:
        start = time.perf_counter()
        archs = list(space.enumerate())
        function_classes = len({a.canonical_hash() for a in archs})
        print(
            f"enumerated     {len(archs)} archs, {function_classes} functionally distinct "
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
    print(f"best           {bench.encodings[best]!s}")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gnnnas", description=gnnnas.__doc__)
    parser.add_argument("--version", action="version", version=f"gnnnas {gnnnas.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="summarise a search space and its benchmark table")
    info.add_argument("--space", default="nb201", help="search space name (default: nb201)")
    info.add_argument("--benchmark", default=None, help="benchmark to summarise (default: the space's)")
    info.add_argument("--metric", default=None, help="label column (default: the benchmark's)")
    info.add_argument("--data-dir", default=None, help="data directory (default: $GNNNAS_DATA, else ~/.cache/gnnnas)")
    info.add_argument(
        "--no-enumerate", dest="enumerate", action="store_false",
        help="skip enumerating small spaces to count functionally distinct archs",
    )
    info.set_defaults(func=_cmd_info)

    spaces = sub.add_parser("spaces", help="list registered search spaces and benchmarks")
    spaces.set_defaults(func=_cmd_spaces)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as error:
        print(f"gnnnas: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
