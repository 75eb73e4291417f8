"""``python -m elcrec``: the command line that Snakemake rules and users call (thin; the work is in the library)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable

from elcrec.errors import HarnessError, os_error_message
from elcrec.report.paper_tables import FIGURES as FIGURE_NAMES
from elcrec.report.paper_tables import TABLES

Handler = Callable[[argparse.Namespace], int]


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=None, help="where prepared datasets live (default: data/ or $ELCREC_DATA_DIR)")
    p.add_argument("--data-mirror", default=None,
                   help="offline mirror folder to take raw files from instead of the internet ($ELCREC_DATA_MIRROR)")


def _run_dirs_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run-dirs", nargs="+", metavar="DIR",
                   help="read exactly these run folders (.../{dataset}/{model}/seed<n>) instead of all under --runs "
                        "(the workflow passes its declared runs, so leftovers from other configurations stay out)")


def _records_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--records", default="", metavar="BLOCK",
                   help="the published block (benchmarks/records/published/NAME) the runs come from, named in the "
                        "output; default: local runs")


def cmd_download(args: argparse.Namespace) -> int:
    from elcrec.data.fetch import prepare_dataset

    from elcrec.errors import UnavailableError

    for name in args.dataset:
        try:
            path = prepare_dataset(name, args.data_dir, args.data_mirror, allow_unavailable=args.allow_unavailable)
        except UnavailableError as exc:
            raise UnavailableError(f"dataset {name} is unavailable: {exc}") from None
        print(f"{name}: {path if path else 'UNAVAILABLE (see status.json)'}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from elcrec.data.fetch import check_unchanged, read_status, sequence_path
    from elcrec.data.sequences import SequenceData
    from elcrec.data.stats import dataset_stats
    from elcrec.fileio import write_json

    status = read_status(args.dataset, args.data_dir)
    if status is None:
        raise HarnessError(f"dataset {args.dataset} is not prepared; run `python -m elcrec download --dataset "
                           f"{args.dataset}` first")
    if status["status"] != "ok":
        stats = {"dataset": args.dataset, "status": status["status"], "error": status.get("error", "")}
    else:
        check_unchanged(args.dataset, args.data_dir)  # the sha256 reported is the file's, not only the recorded one
        data = SequenceData.from_file(sequence_path(args.dataset, args.data_dir), name=args.dataset)
        stats = {**dataset_stats(data), "status": "ok", "sha256": status["sha256"]}
    if args.out:
        write_json(args.out, stats)
    print(json.dumps(stats, indent=2))
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    if args.table == "datasets":
        from elcrec.report.datasets import build_datasets_table

        if not args.inputs or not args.out_prefix:
            raise HarnessError("the datasets table needs --inputs STATS.json ... and --out-prefix")
        build_datasets_table(args.inputs, args.out_prefix)
        print(Path(args.out_prefix).with_suffix(".md").read_text())
        return 0
    from elcrec.records import describe_source, stamp_source
    from elcrec.report.paper_tables import ONE_DATASET_TABLES, builder
    from elcrec.runset import selected_runs

    kwargs = {"datasets": args.datasets} if args.datasets and args.table not in ONE_DATASET_TABLES else {}
    source = describe_source(args.records, args.runs)
    with selected_runs(args.runs, args.run_dirs) as root:
        builder(args.table)(root, args.out_dir, **kwargs)
    stamp_source(Path(args.out_dir) / args.table, source)
    print((Path(args.out_dir) / f"{args.table}.md").read_text())
    return 0


def cmd_reproduction(args: argparse.Namespace) -> int:
    from elcrec.records import describe_source
    from elcrec.report.reproduction import build_reproduction
    from elcrec.runset import selected_runs

    source = describe_source(args.records, args.runs)
    with selected_runs(args.runs, args.run_dirs) as root:
        claims = build_reproduction(root, args.out, stats_root=args.stats_root, shown_as=args.runs, source=source)
    print(f"wrote {args.out} ({len(claims)} claims)")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from elcrec.checkpoint import check_causal_encoder_state, check_item_size, load_encoder, load_into, load_state_dict
    from elcrec.data import load_dataset
    from elcrec.evaluate import METRIC_KEYS, rank_targets
    from elcrec.fileio import write_text

    if args.per_user and Path(args.per_user).is_dir():
        raise HarnessError(f"--per-user {args.per_user} is a folder; pass a CSV file name (e.g. per_user.csv)")
    device = _device(args.device)
    state, meta = load_state_dict(args.checkpoint)
    data = load_dataset(args.dataset, args.data_dir, args.data_mirror)
    check_item_size(state, data.item_size, args.dataset, args.checkpoint)
    if "model" in meta:  # a harness checkpoint: rebuild its model, whose score() may differ (BERT4Rec appends a mask)
        from elcrec.models.registry import build_model

        model, mcfg = build_model(meta["model"].split("~")[0], args.dataset, data.item_size, meta.get("model_config"))
        load_into(model, state, args.checkpoint)
        model.prepare(data)  # graph models rebuild their training-data graphs
        scorer = model.to(device).eval()
        data.max_len = mcfg.max_len  # inputs as long as the model was trained with
    else:  # an official ELCRec/ICLRec/S3-Rec state dict: the causal SASRec-family encoder
        check_causal_encoder_state(state, args.checkpoint)
        scorer, _ = load_encoder(state, heads=int(meta.get("heads", 2)))
        scorer.to(device).eval()
        data.max_len = scorer.max_len
    result = rank_targets(scorer.score, data.eval_split(args.split), data.item_size,
                          history=args.history, ties=args.ties, batch_size=args.batch_size, device=device,
                          user_ids=getattr(scorer, "needs_user_ids", False))
    metrics = result.metrics
    if args.per_user:
        write_text(args.per_user, result.per_user().to_csv(index=False))
    if args.json:
        print(json.dumps({k: metrics[k] for k in METRIC_KEYS}))
    else:
        print(f"{args.dataset} {args.split} ({data.num_users} users, {data.item_size} item ids, history={args.history})")
        for key in METRIC_KEYS:
            print(f"  {key:<8} {metrics[key]:.4f}")
    return 0


def _parse_sets(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise HarnessError(f"--set expects key=value, not {pair!r}")
        out[key.strip()] = value.strip()
    return out


def _device(name: str):  # noqa: ANN202
    """The torch device of ``--device``, refused with one line when it is not a device or not present here."""
    import torch

    try:
        device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name)
    except (RuntimeError, ValueError):
        raise HarnessError(f"--device {name!r} is not a device; use cpu, cuda, cuda:N or auto") from None
    if device.type not in ("cpu", "cuda"):
        raise HarnessError(f"--device {name!r}: only cpu and cuda are supported (or auto)")
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise HarnessError(f"--device {name} asks for CUDA, but no CUDA device is visible here (torch "
                               f"{torch.__version__}, CUDA build {torch.version.cuda or 'none'}); run on a GPU node "
                               "with a CUDA build of torch (rules/envs/harness-cuda.yaml), or pass --device cpu")
        if device.index is not None and device.index >= count:
            raise HarnessError(f"--device {name}: this machine has {count} CUDA device(s), numbered from 0")
    return device


SEED_RANGE = (0, 2**31)  # faiss k-means takes a signed 32-bit seed; numpy and torch accept this range too


def _check_seed(seed: int) -> None:
    if not SEED_RANGE[0] <= seed < SEED_RANGE[1]:
        raise HarnessError(f"--seed {seed} is out of range; use an integer from {SEED_RANGE[0]} to {SEED_RANGE[1] - 1}")


def _not_run_reason(args: argparse.Namespace, base_model: str) -> str | None:
    """Why this run cannot happen here (dataset recorded unavailable, or a file the model needs is missing)."""
    from elcrec.data.fetch import read_status, sequence_path
    from elcrec.models.registry import missing_requirement

    status = (read_status(args.dataset, args.data_dir) or {}).get("status")
    if status == "unavailable":
        return "dataset unavailable"
    if status == "ok":
        return missing_requirement(base_model, args.dataset, sequence_path(args.dataset, args.data_dir).parent)
    return None


def _recorded_status(metrics: Path) -> str:
    try:
        return str(json.loads(metrics.read_text()).get("status", ""))
    except (OSError, ValueError, AttributeError):
        return "unreadable"


def _record_not_run(args: argparse.Namespace) -> int:
    """--record-not-run (the workflow's not_run rule): the 'not run' record only, without importing torch."""
    from elcrec.models.registry import get_entry
    from elcrec.runset import write_not_run

    base_model = args.model.split("~")[0]
    get_entry(base_model)
    reason = _not_run_reason(args, base_model)
    if reason is None:
        raise HarnessError(f"{args.model} on {args.dataset} can run, but the workflow planned a 'not run' record "
                           f"for it; delete data/{args.dataset} and run the workflow again")
    out = Path(args.out or f"results/runs/{args.dataset}/{args.model}/seed{args.seed}")
    metrics = out / "metrics.json"
    if metrics.is_file() and not _recorded_status(metrics).startswith("not run"):
        raise HarnessError(f"{out} holds a finished run (metrics.json); delete it to record it as not run")
    write_not_run(out, args.model, args.dataset, args.seed, reason)
    print(f"not run ({reason}): wrote {metrics}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    if args.record_not_run:
        return _record_not_run(args)
    import dataclasses

    import torch

    from elcrec.data import load_dataset
    from elcrec.data.fetch import read_status
    from elcrec.data.fetch import sequence_path as dataset_path
    from elcrec.models.registry import build_model, get_entry, resolve_config
    from elcrec.runs import run_slot, write_not_run
    from elcrec.train import TrainConfig, Trainer, seed_everything

    # A run name may carry settings: elcrec~alpha=0.1~k=64 (the workflow's sensitivity runs).
    base_model, *named = args.model.split("~")
    sets = {**_parse_sets(named), **_parse_sets(args.set or [])}
    train_keys = {f.name: f for f in dataclasses.fields(TrainConfig)}
    train_sets = {k: v for k, v in sets.items() if k in train_keys}
    model_sets = {k: v for k, v in sets.items() if k not in train_keys}
    tcfg = TrainConfig()
    _check_seed(args.seed)
    if args.threads < 0:
        raise HarnessError(f"--threads {args.threads}: pass a positive number of CPU threads, or 0 for torch's default")
    if args.max_epochs is not None and args.max_epochs < 1:
        raise HarnessError(f"--max-epochs {args.max_epochs}: a run needs at least 1 epoch")
    if args.threads:
        torch.set_num_threads(args.threads)
    get_entry(base_model)  # an unknown model fails first, whatever the dataset
    device = _device(args.device)
    out = Path(args.out or f"results/runs/{args.dataset}/{args.model}/seed{args.seed}")
    if args.allow_unavailable:  # what cannot run is recorded as "not run", not a failure
        reason = _not_run_reason(args, base_model)
        if reason:
            with run_slot(out, args.overwrite) as work:
                write_not_run(work, args.model, args.dataset, args.seed, reason)
            print(f"not run ({reason}): wrote {out / 'metrics.json'}")
            return 0
    resolve_config(base_model, args.dataset, model_sets)  # unimplemented model or bad setting: fail before work
    seed_everything(args.seed)
    data = load_dataset(args.dataset, args.data_dir, args.data_mirror)
    model, mcfg = build_model(base_model, args.dataset, data.item_size, model_sets, num_users=data.num_users)
    data.max_len = mcfg.max_len
    for key, value in {**model.train_overrides, **train_sets}.items():  # the user's --set wins
        setattr(tcfg, key, _coerce_train(key, value, getattr(tcfg, key)))
    if args.max_epochs is not None:
        tcfg.max_epochs = args.max_epochs
    tcfg.validate()  # a bad protocol value fails before the run folder is touched
    status = read_status(args.dataset, args.data_dir) or {}
    meta = {"model": args.model, "dataset": args.dataset, "seed": args.seed, "item_size": data.item_size,
            "heads": getattr(mcfg, "heads", None), "model_config": dataclasses.asdict(mcfg),
            "data_sha256": status.get("sha256"),
            "overrides": sets}
    meta["train_overrides"] = dict(model.train_overrides)
    dataset_dir = dataset_path(args.dataset, args.data_dir).parent
    with run_slot(out, args.overwrite) as work:  # locked; --overwrite trains aside and swaps in on success
        metrics = Trainer(model, data, tcfg, work, device, args.seed, meta, dataset_dir).fit()
    # a diverged run has no test metrics; it is a result all the same (exit 0, so the workflow goes on)
    print(json.dumps({"out": str(out), "status": metrics["status"], "best_epoch": metrics["best_epoch"],
                      **(metrics["test"] or {})}))
    return 0


def _coerce_train(key: str, value: object, like: object) -> object:
    if isinstance(value, str) and not isinstance(like, str):
        try:
            return type(like)(value)
        except ValueError:
            raise HarnessError(f"{key} expects a {type(like).__name__}, not {value!r}") from None
    return value


def cmd_intents(args: argparse.Namespace) -> int:
    """Per-user intent of a trained ELCRec run (test input, eval mode), with the user's history length."""
    import pandas as pd

    from elcrec.checkpoint import check_item_size, encoder_shape, load_into, load_state_dict
    from elcrec.data import load_dataset
    from elcrec.fileio import write_text
    from elcrec.models.registry import build_model

    device = _device(args.device)
    state, meta = load_state_dict(args.checkpoint)
    if "cluster_centers" not in state:
        raise HarnessError(f"{args.checkpoint} has no intent centres (a {meta.get('model', 'non-ELCRec')} checkpoint); "
                           "intents needs an ELCRec run's model.pt (elcrec, elcrec-b-icl or elcrec-b-elcm)")
    if "model" not in meta:
        shape = encoder_shape(state)
        meta = {"model": "elcrec", "dataset": args.dataset, "model_config": {
            "layers": shape["layers"], "hidden": shape["hidden"], "k": int(state["cluster_centers"].shape[0])}}
    data = load_dataset(args.dataset, args.data_dir, args.data_mirror)
    check_item_size(state, data.item_size, args.dataset, args.checkpoint)
    sets = {k: v for k, v in meta["model_config"].items()}
    model, mcfg = build_model(meta["model"].split("~")[0], args.dataset, data.item_size, sets)
    load_into(model, state, args.checkpoint)
    model.to(device)
    data.max_len = mcfg.max_len
    _, ids = model.assign_intents(data.eval_split("test").inputs)
    frame = pd.DataFrame({"user": range(data.num_users), "history_len": data.lengths - 1, "intent": ids.numpy()})
    write_text(args.out, frame.to_csv(index=False))
    print(f"wrote {args.out}: {data.num_users} users, {frame.intent.nunique()} intents in use")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from elcrec.report.summary import write_summary
    from elcrec.runset import selected_runs

    with selected_runs(args.runs, args.run_dirs) as root:
        frame = write_summary(root, args.out, args.cells)
    print(f"wrote {args.out} ({len(frame)} rows) and {args.cells}")
    return 0


def cmd_significance(args: argparse.Namespace) -> int:
    from elcrec.records import describe_source, stamp_source
    from elcrec.report.significance import write_significance
    from elcrec.runset import selected_runs

    source = describe_source(args.records, args.runs)
    with selected_runs(args.runs, args.run_dirs) as root:
        paths = write_significance(root, args.out_dir, alternative=args.alternative, paired_seed=args.paired_seed,
                                   n_resamples=args.n_resamples, shown_as=args.runs)
    stamp_source(paths[-1].with_suffix(""), source)
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def cmd_figure(args: argparse.Namespace) -> int:
    from elcrec.report import figures
    from elcrec.runset import selected_runs

    with selected_runs(args.runs, args.run_dirs) as root:
        if args.figure == "intent_by_activity":
            if not args.intents:
                raise HarnessError("intent_by_activity needs --intents CSV (from `python -m elcrec intents`)")
            paths = figures.intent_by_activity(args.intents, args.out, dataset=args.dataset)
        elif args.figure == "tsne":
            paths = figures.tsne(root, args.out, dataset=args.dataset or "Beauty", projection=args.projection,
                                 shown_as=args.runs)
        else:
            paths = figures.FIGURES[args.figure](root, args.out, shown_as=args.runs)
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def cmd_html(args: argparse.Namespace) -> int:
    from elcrec.htmlpage import write_html_page

    print(f"wrote {write_html_page(args.source, args.out)}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from elcrec.models.registry import MODELS

    print(f"{'model':<16} {'status':<16} {'source':<34} description")
    for entry in MODELS.values():
        print(f"{entry.name:<16} {entry.status:<16} {entry.source:<34} {entry.description}")
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from elcrec.data.registry import DATASETS
    from elcrec.evaluate import HISTORY_RULES, TIE_RULES

    parser = argparse.ArgumentParser(prog="python -m elcrec", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("download", help="fetch (or take from the mirror), verify and build datasets")
    p.add_argument("--dataset", nargs="+", required=True, metavar="NAME", help=f"one or more of {', '.join(DATASETS)}")
    p.add_argument("--allow-unavailable", action="store_true",
                   help="record an unobtainable dataset as unavailable in status.json and exit 0 (used by the workflow)")
    _data_args(p)
    p.set_defaults(func=cmd_download)

    p = sub.add_parser("stats", help="dataset statistics as JSON")
    p.add_argument("--dataset", required=True)
    p.add_argument("--out", help="write the JSON here as well")
    _data_args(p)
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("table", help="build a paper table (md, csv, tex) from result files")
    p.add_argument("table", choices=["datasets", *TABLES])
    p.add_argument("--inputs", nargs="+", help="datasets table: the stats JSON files")
    p.add_argument("--out-prefix", help="datasets table: writes PREFIX.md, PREFIX.csv and PREFIX.tex")
    p.add_argument("--runs", default="results/runs", help="paper tables: the run directories' root")
    _run_dirs_arg(p)
    _records_arg(p)
    p.add_argument("--out-dir", default="paper_tables", help="paper tables: where NAME.{md,csv,tex} go")
    p.add_argument("--datasets", nargs="+", help="paper tables: datasets to show (default: the paper's four)")
    p.set_defaults(func=cmd_table)

    p = sub.add_parser("reproduction", help="paper_tables/reproduction.md: every published number beside ours")
    p.add_argument("--runs", default="results/runs")
    _run_dirs_arg(p)
    _records_arg(p)
    p.add_argument("--stats-root", default="results/data", help="dataset statistics (results/data/NAME/stats.json)")
    p.add_argument("--out", default="paper_tables/reproduction.md")
    p.set_defaults(func=cmd_reproduction)

    p = sub.add_parser("evaluate", help="full-ranking HR/NDCG@5/10/20 of a checkpoint")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--split", choices=["test", "valid"], default="test")
    p.add_argument("--history", choices=HISTORY_RULES, default="zero", help="history-item rule (default: zero, official)")
    p.add_argument("--ties", choices=TIE_RULES, default="pessimistic", help="rank of a target tied with other items")
    p.add_argument("--batch-size", type=_positive_int, default=512, help="users per scoring batch (512 is fastest on a 2-core CPU)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto")
    p.add_argument("--json", action="store_true", help="print one JSON object with the six metrics")
    p.add_argument("--per-user", help="write per-user ranks and metrics (CSV) here")
    _data_args(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("train", help="train one model on one dataset with one seed into a run directory")
    p.add_argument("--dataset", required=True)
    p.add_argument("--model", required=True, help="see `python -m elcrec models`")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", help="run directory (default: results/runs/DATASET/MODEL/seedSEED)")
    p.add_argument("--max-epochs", type=int, help="override the protocol's 300 epochs")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a model setting (e.g. alpha=1, center_mean='k(k-1)') or a training one (lr, patience)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--overwrite", action="store_true", help="train again over a finished run")
    p.add_argument("--allow-unavailable", action="store_true",
                   help="if the dataset was recorded as unavailable, write a 'not run' metrics.json and exit 0")
    p.add_argument("--record-not-run", action="store_true",
                   help="only write the 'not run' metrics.json of a run that cannot happen; fail if it can (workflow)")
    _data_args(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("intents", help="per-user intents of a trained ELCRec checkpoint (for the case-study figure)")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--out", required=True, help="CSV: user, history_len, intent")
    p.add_argument("--device", default="auto")
    _data_args(p)
    p.set_defaults(func=cmd_intents)

    p = sub.add_parser("summary", help="results/summary.csv: one tidy row per dataset x model x seed x metric")
    p.add_argument("--runs", default="results/runs")
    _run_dirs_arg(p)
    p.add_argument("--out", default="results/summary.csv")
    p.add_argument("--cells", default="results/summary_cells.csv", help="mean, sd and n per dataset x model x metric")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("significance", help="significance tests over seeds and per user, with a readable report")
    p.add_argument("--runs", default="results/runs")
    _run_dirs_arg(p)
    _records_arg(p)
    p.add_argument("--out-dir", default="results/significance")
    p.add_argument("--alternative", choices=["two-sided", "greater"], default="two-sided",
                   help="ELCRec vs baselines/ablations (the paper's best-vs-runner-up test is always one-sided)")
    p.add_argument("--paired-seed", type=int, default=1, help="seed whose per-user vectors are compared")
    p.add_argument("--n-resamples", type=_positive_int, default=10_000, help="sign-flip permutation test resamples")
    p.set_defaults(func=cmd_significance)

    p = sub.add_parser("figure", help="draw one paper figure (PDF + PNG) from the runs")
    p.add_argument("figure", choices=FIGURE_NAMES)
    p.add_argument("--runs", default="results/runs")
    _run_dirs_arg(p)
    p.add_argument("--out", required=True, help="figures/NAME.pdf (the .png is written beside it)")
    p.add_argument("--dataset", help="tsne / intent_by_activity: the dataset shown")
    p.add_argument("--intents", help="intent_by_activity: the CSV of `python -m elcrec intents`")
    p.add_argument("--projection", choices=["tsne", "pca"], default="tsne", help="tsne: the 2-D map")
    p.set_defaults(func=cmd_figure)

    p = sub.add_parser("html", help="render a Markdown table or report as one HTML page (shown inline in --report)")
    p.add_argument("source", help="the .md file")
    p.add_argument("--out", required=True, help="the .html file to write")
    p.set_defaults(func=cmd_html)

    p = sub.add_parser("models", help="list the models with their origin and implementation status")
    p.set_defaults(func=cmd_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.func
    try:
        return handler(args)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # full disk, read-only or unwritable folder, a file where a folder should be: one line
        print(f"error: {os_error_message(exc)}", file=sys.stderr)
        return HarnessError.exit_code
