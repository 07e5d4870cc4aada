"""Self-supervised pre-training, paired by seed with no pre-training.

Runs are made with ``run_protocol.py`` (same protocols, splits and seeds for every model):

    python benchmarks/run_protocol.py --protocol P201 --seeds 3 --sizes 78 \\
        --models gnnnas-scratch,gnnnas-pretrain-costs,gnnnas-pretrain-masked,gnnnas-pretrain-both \\
        --out benchmarks/results/pretrain/p201
    python benchmarks/run_protocol.py --protocol P201 --seeds 3 --sizes 78 \\
        --models gnnnas-pretrain-zero_cost,gnnnas-pretrain-costs-zero_cost --out benchmarks/results/pretrain/p201_probe

then this script reads ``benchmarks/results/pretrain/<protocol>*.json`` and writes
benchmarks/results/pretrain.{json,md,png}: mean Kendall tau-b per variant, protocol and training
size, and the paired difference to ``gnnnas`` (no pre-training: the random start, run as
``gnnnas-scratch`` since plain ``gnnnas`` starts NB201 fits from the shipped encoder, 2026-12-04;
such runs appear as ``gnnnas-shipped-start``) over the seeds both ran (mean,
wins/losses, two-sided sign test). A variant's fit seconds include its pre-training on the first
fit of a seed in a process (later fits of that seed recall the memoised encoder); the zero-cost
cache (NB201: 15,625 networks at initialisation) is built by the first zero_cost/flow fit.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paired import (  # benchmarks/ is not a package
    load_from_scratch,
    overview_rows,
    paired_rows,
    write_summary,
)

RESULTS = Path(__file__).resolve().parent / "results"
BASELINE = "gnnnas"
#: file prefixes whose protocol name has a dash
TITLES = {"p201c100": "P201-C100", "p201in16": "P201-IN16"}
#: protocols on NB201, whose plain `gnnnas` runs start from the shipped encoder since 2026-12-04
NB201_PROTOCOLS = ("p201", "p201c100", "p201in16", "pc201")
#: runs of an earlier code or machine are paired within their era only: a seed's fit is not the
#: same number across eras (P201, 39 labels, seed 0, random start: .729 on 2026-12-03, .735 now),
#: so a variant is compared with the reference measured beside it
ERAS = {
    "before-csr": "measured before the GCN trained through sparse CSR products (gather-scatter training, the same function)",
    "2026-12-03": "measured on 2026-12-03, on the machine and code of that day (the machine changed on 2026-12-04)",
    "before-guard": ("measured before fits that gave back most of what they learned were restored (2026-12-05); "
                     "re-measured in the section above"),
}
#: the files of the gather-scatter era (commit f2a63bf and earlier; all dated 2026-12-03)
BEFORE_CSR = {"p201", "p201_probe", "p201_hyper", "pc201", "pc201_costs"}
#: files with fits that the gave-back guard (commit e1b19c2) restores, re-measured after it
BEFORE_GUARD = {"pvit"}


def era_of(path: Path) -> str:
    """The era of one run_protocol.py file: by name for the gather-scatter runs and those re-run
    after the gave-back guard, else by the date its environment records (the machine changed on
    2026-12-04)."""
    if path.stem in BEFORE_CSR:
        return "before-csr"
    if path.stem in BEFORE_GUARD:
        return "before-guard"
    return "2026-12-03" if json.loads(path.read_text())["environment"]["date"] < "2026-12-04" else "now"


def finetune_lr_rows(groups: dict[str, list[dict]], suffix: str = "-enclr0.1") -> tuple[dict, list[str]]:
    """Each ``<variant><suffix>`` against ``<variant>`` on the same seeds (``gnnnas<suffix>``
    against ``gnnnas-shipped-start``, the start it fine-tunes), with :func:`overview_rows`' columns."""
    table: dict = {}
    lines: list[str] = []
    for title, records in groups.items():
        present = {r["model"] for r in records}
        for variant in sorted(m for m in present if m.endswith(suffix)):
            reference = variant[: -len(suffix)]
            reference = "gnnnas-shipped-start" if reference == "gnnnas" else reference
            if reference not in present:
                continue  # e.g. gnnnas-enclr0.1 off NB201: a random start, which the scale leaves alone
            pair = [r for r in records if r["model"] in (variant, reference)]
            rows, text = overview_rows({title: pair}, reference)
            if title in rows:  # else no seed ran both
                table.setdefault(title, {})[variant] = {"reference": reference, **rows[title][variant]}
            lines += [line.replace(f"| {variant} |", f"| {variant} (vs {reference}) |", 1) for line in text[2:]]
    if lines:
        lines[:0] = ["| protocol | model (reference) | paired diff vs the reference per N (wins/losses) | all pairs "
                     "wins/losses | mean diff | sign p | seeds up/down (mean over N) | sign p (seeds) |",
                     "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    return table, lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocols", default=",".join([*NB201_PROTOCOLS, "p101", "pdarts", "pvit"]))
    parser.add_argument("--out", default=str(RESULTS / "pretrain"))
    args = parser.parse_args(argv)
    table = {}
    groups: dict[str, list] = {}
    lines = ["# Self-supervised pre-training of the encoder, paired by seed with no pre-training", "",
             ("Kendall tau-b on each protocol's test set (P201: all 15,625 NB201 cells, training cells included "
              "as P201 defines it; PC201: the 7,812 cells of official indices 7813..15624, training archs drawn "
              "from indices 0..7812, the split of TA-GATES / FlowerFormer / FGP, whose label is the cifar10-valid "
              "run's test accuracy; ours for both: CIFAR-10 test accuracy after 200 epochs; P201-C100: "
              "P201's split with the CIFAR-100 test accuracy after 200 epochs; P201-IN16: the same with the "
              "ImageNet16-120 test accuracy; P101: 20,001 NB101 cells with "
              "their 108-epoch validation accuracy, tau over the cells not trained on; PDARTS: 725 DARTS cells "
              "(NB301 style) with their validation accuracy, tau over the rest; PVIT: 200 AutoFormer-Ti "
              "subnets with their CIFAR-100 accuracy, tau over the rest); training archs drawn by the "
              "protocol from each seed (same splits for every model). `gnnnas` = no pre-training; "
              "`gnnnas-pretrain-<tasks>` = `Predictor(pretrain=...)` with the default schedule (10 epochs, batch 256, "
              "over the space's unlabelled archs: all 15,625 NB201 cells; on NB101, DARTS and the ViT space 20,000 archs "
              "sampled with the fit's seed), then the default fit; `gnnnas-pretrained` = "
              "`Predictor(pretrained=\"default\")`, the encoder shipped in gnnnas/pretrained/nb201.safetensors "
              "(costs, seed 0), then the default fit. Pre-training reads no label. 1 torch thread "
              "per fit, default hyperparameters; fit seconds (median seed, shared 2-core machine) include "
              "pre-training only where the process had not pre-trained that seed and variant before (the first "
              "train size of a run; later sizes recall the memoised encoder), and building the cache of network "
              "probes only in the first zero_cost/flow fit. "
              "diff = variant - gnnnas on the same seed; sign test two-sided."), ""]
    for proto in args.protocols.split(","):
        eras: dict[str, list] = {"now": [], **{era: [] for era in ERAS}}
        for path in sorted((RESULTS / "pretrain").glob(f"{proto}*.json")):
            if path.stem == proto or path.stem.startswith(proto + "_"):
                eras[era_of(path)] += load_from_scratch(path, nb201=proto in NB201_PROTOCOLS)
        for era, records in eras.items():
            if not records:
                continue
            key = proto if era == "now" else f"{proto}-{era}"
            table[key], rows = paired_rows(records, BASELINE)
            name = TITLES.get(proto, proto.upper())
            groups[name if era == "now" else f"{name} ({era})"] = records
            title = name if era == "now" else f"{name}, {ERAS[era]}; paired within this era only"
            lines += [f"## {title}", "", *rows, ""]
    pooled, overview = overview_rows(groups, BASELINE)
    lines[4:4] = ["## Overview: every variant against no pre-training, each size and all sizes pooled", "",
                  ("One row per protocol and variant (an earlier era in brackets, paired within it). All pairs: "
                   "every (N, seed) pair of the protocol with one two-sided sign test; the pairs are not independent "
                   "(a seed's pre-trained encoder serves every N), so the seed column also tests each seed's mean "
                   "difference over the sizes it ran."), "", *overview, ""]
    finetune, finetune_lines = finetune_lr_rows(groups)
    if finetune_lines:
        lines += ["## Fine-tuning the pre-trained encoder at lr x 0.1, against the same start at the full lr", "",
                  ("`<variant>-enclr0.1` = the variant with `encoder_lr_scale=0.1` (the encoder's weights fine-tuned "
                   "at a tenth of the heads' lr; the only value tried), paired by seed with the same variant at "
                   "`encoder_lr_scale=1`; on NB201 protocols `gnnnas-enclr0.1` is the default start (the shipped "
                   "encoder), paired with `gnnnas-shipped-start`. Columns as in the overview."), "",
                  *finetune_lines, ""]
    write_summary(Path(args.out), table, lines, BASELINE, extra={"overview": pooled, "finetune_lr": finetune})
    return 0


if __name__ == "__main__":
    sys.exit(main())
