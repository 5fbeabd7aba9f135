"""The ``mnist-cnn`` command: one subcommand per step.

    mnist-cnn data                 load, verify and explore MNIST
    mnist-cnn models               list the architectures
    mnist-cnn train                train, checkpoint and evaluate a model
    mnist-cnn evaluate RUN         test a run folder or .keras file
    mnist-cnn calibrate RUN        fit a run's temperature on its validation split
    mnist-cnn ensemble RUN...      average several models into one (--train N: train them on Ray)
    mnist-cnn tune                 search training options on Ray Tune
    mnist-cnn report RUN           a PDF and HTML report with every figure
    mnist-cnn export RUN           a LiteRT, ONNX or SavedModel export, checked
    mnist-cnn runs                 list the run folders and the model predict uses
    mnist-cnn predict PATH...      read digits in your own images
    mnist-cnn serve                the drawing web app and REST API
    mnist-cnn board                the desktop Digit Board (pygame)

Heavy libraries are imported inside each command so that ``--help`` is instant.
User errors print one line and exit 1; Ctrl-C exits 130. Every command that reads
with a model says which on stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import fields
from pathlib import Path

from mnist_cnn import __version__
from mnist_cnn.config import THRESHOLD, TrainConfig, option_help, option_type, read_options
from mnist_cnn.errors import MnistCnnError

DATA_HELP = option_help("data_dir")
ADDRESS_HELP = "a Ray cluster's address (default: $RAY_ADDRESS, else Ray on this machine)"


def cmd_data(args: argparse.Namespace) -> None:
    from mnist_cnn import data, plots

    mnist = data.load_mnist(args.data_dir, args.val_fraction, args.seed)
    print(data.describe(mnist))
    out = Path(args.out)
    written = [
        plots.sample_grid(mnist.x_train, mnist.y_train, out),
        plots.class_distribution({s: y for s, (_, y) in mnist.splits().items()}, out),
        plots.mean_images(mnist.x_train, mnist.y_train, out),
        plots.pixel_histogram(mnist.x_train, out),
    ]
    print("\nFigures: " + ", ".join(str(p) for p in written))


def cmd_models(args: argparse.Namespace) -> None:
    from mnist_cnn import models
    from mnist_cnn.config import describe_presets

    print(models.describe_models())
    print("\npresets (mnist-cnn train --preset NAME)\n" + describe_presets())


def cmd_train(args: argparse.Namespace) -> None:
    from mnist_cnn.training import resume_options, train

    # Only the options given on the command line are in `args`: they override the
    # file's, which override the preset's.
    given = {k: v for k, v in vars(args).items() if k in TrainConfig.__dataclass_fields__}
    if "resume" in args:
        others = sorted(f"--{k.replace('_', '-')}" for k in given.keys() - {"data_dir"})
        if others or "config" in args:
            raise MnistCnnError(
                "--resume continues a run with its recorded options; leave out "
                + ", ".join(others or ["--config"])
            )
        options = resume_options(args.resume) | given
        train(TrainConfig.from_preset(**options), resume=args.resume)
        return
    from_file = read_options(args.config) if "config" in args else {}
    train(TrainConfig.from_preset(**(from_file | given)))


def cmd_calibrate(args: argparse.Namespace) -> None:
    from mnist_cnn.training import calibrate_run

    calibrate_run(args.run_dir, data_dir=args.data_dir)


def cmd_evaluate(args: argparse.Namespace) -> None:
    from mnist_cnn import inference, runs
    from mnist_cnn.evaluation import evaluate_run

    inference.announce_model(inference.model_info(runs.resolve_model_file(args.path)))
    evaluate_run(args.path, data_dir=args.data_dir, out=args.out)


def cmd_ensemble(args: argparse.Namespace) -> None:
    from mnist_cnn.ensemble import make_ensemble, train_members

    if bool(args.runs) == (args.train is not None):
        raise MnistCnnError("name the members' run folders, or --train N new ones (not both)")
    members = args.runs
    name = args.name
    if args.train is not None:
        name = name or f"ensemble-{time.strftime('%Y%m%d-%H%M%S')}"
        if (Path(args.runs_dir) / name).exists():  # before hours of training, not after
            raise MnistCnnError(f"run folder {Path(args.runs_dir) / name} already exists")
        given = {k: getattr(args, k) for k in ("epochs", "limit") if getattr(args, k) is not None}
        members = train_members(
            args.train,
            name,
            args.preset,
            seed=args.seed,
            runs_dir=args.runs_dir,
            address=args.address,
            cpus_per_member=args.cpus_per_member,
            gpus_per_member=args.gpus_per_member,
            data_dir=args.data_dir,
            **given,
        )
    make_ensemble(members, name=name, runs_dir=args.runs_dir, data_dir=args.data_dir)


def cmd_tune(args: argparse.Namespace) -> None:
    from mnist_cnn.tuning import tune

    # Only the options given on the command line are in `args`, named as `tune`'s
    # parameters.
    options = {k: v for k, v in vars(args).items() if k not in ("command", "run")}
    if "resume" in options:
        # A stopped search continues as it was set up: other options would be ignored.
        others = sorted(f"--{k.replace('_', '-')}" for k in options.keys() - {"resume", "address"})
        if others:
            raise MnistCnnError(
                "--resume continues a search as it was set up; leave out " + ", ".join(others)
            )
    tune(**options)


def cmd_predict(args: argparse.Namespace) -> int:
    from mnist_cnn.predict import predict_command

    args.model = choose_model(args.model, args.runs_dir)
    return predict_command(args)


def cmd_serve(args: argparse.Namespace) -> None:
    from mnist_cnn.server import serve

    model = choose_model(args.model, args.runs_dir)
    serve(args.host, args.port, model, args.max_readings, args.workers, args.threshold)


def cmd_report(args: argparse.Namespace) -> None:
    from mnist_cnn.report import write_report

    write_report(args.run_dir, data_dir=args.data_dir, image_format=args.format)


def cmd_export(args: argparse.Namespace) -> None:
    from mnist_cnn.export import export_run

    check = export_run(args.path, args.format, out=args.out, data_dir=args.data_dir)
    print(
        f"Exported {check['path']} in {check['export_seconds']:.1f} s: "
        f"same top class as Keras on {check['same_top_class']:,} of {check['images']:,} test "
        f"images, largest probability difference {check['max_abs_difference']:.2g}"
    )


def cmd_board(args: argparse.Namespace) -> None:
    from mnist_cnn.board import require_pygame, run_board

    require_pygame()  # before choosing a model the board could not show
    run_board(choose_model(args.model, args.runs_dir), threshold=args.threshold)


def cmd_runs(args: argparse.Namespace) -> None:
    from mnist_cnn import inference, runs

    listed = runs.list_runs(args.runs_dir)
    try:
        chosen = inference.find_model(args.runs_dir)
    except MnistCnnError:  # no complete run and no shipped model
        chosen = None
    if listed:
        print(format_runs(listed, chosen))
    else:
        print(f"no run folders under {args.runs_dir}/")
    if chosen is not None and not any(run.model_file == chosen for run in listed):
        print(
            "\nNo complete run: predict, serve and board read with "
            + inference.model_info(chosen)["description"]
        )


def format_runs(listed: list, chosen: Path | None) -> str:
    """`runs.list_runs`' run folders as aligned columns, newest first, "*" marking
    `chosen` (the model predict, serve and board read with when none is named)."""
    rows = [("", "name", "model", "test acc", "epochs", "limit", "interrupted", "date")]
    for run in listed:
        rows.append(
            (
                "*" if chosen is not None and run.model_file == chosen else "",
                run.folder.name,
                run.model or "-",
                "-" if run.test_accuracy is None else f"{run.test_accuracy:.2%}",
                "-" if run.epochs_run is None else str(run.epochs_run),
                "-" if run.limit is None else str(run.limit),
                "yes" if run.interrupted else "no",
                time.strftime("%Y-%m-%d %H:%M", time.localtime(run.modified)),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    right = {3, 4, 5}  # figures line up on the right
    lines = [
        "  ".join(
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    lines.append(
        "\n* read by predict, serve and board without --model: the newest run tested, "
        "not interrupted, not trained with --limit"
    )
    return "\n".join(lines)


def choose_model(model: str | None, runs_dir: str) -> str:
    """The model file a reading command uses: `model` as named ("default": the
    shipped one), else the newest complete run under `runs_dir`, else the shipped
    model. Says on stderr which, and which newer runs it skipped and why."""
    from mnist_cnn import inference

    model_file = inference.resolve_model(model, runs_dir)
    if model is None:
        for run in inference.skipped_runs(runs_dir):
            print(
                f"mnist-cnn: skipped {run.folder} ({run.incomplete}); "
                "name it with --model to read with it",
                file=sys.stderr,
            )
    inference.announce_model(inference.model_info(model_file))
    return str(model_file)


MODEL_HELP = (
    "run folder, .keras file, .tflite or .onnx export, or 'default' for the model shipped "
    "with the package (default: the newest complete run under --runs-dir: tested, not "
    "interrupted, not trained with --limit; else the shipped model)"
)
RUNS_HELP = "where run folders are (default: %(default)s)"
THRESHOLD_HELP = (
    "how sure a reading must be to be 'ok' (its confidence: the chance that all its digits "
    "are right), and a digit to be named, else 'uncertain' and '?' (default: %(default)s). "
    "Higher: fewer wrong readings ok, more right ones uncertain"
)


def probability(text: str) -> float:
    """An argparse type: a number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, got {text!r}")
    return value


def add_threshold_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threshold", type=probability, default=THRESHOLD, help=THRESHOLD_HELP)


def add_train_options(parser: argparse.ArgumentParser) -> None:
    """One option per `TrainConfig` field (``batch_size`` -> ``--batch-size``), with the
    field's type, choices and help; the default is appended to the help unless the
    help says it itself. Booleans also get a ``--no-`` form, to turn off what a
    ``--config`` file turns on."""
    for option in fields(TrainConfig):
        flag = "--" + option.name.replace("_", "-")
        text = option_help(option.name).replace("%", "%%")  # argparse formats help with %
        kind = option_type(option.name)
        if kind is bool:
            text += f" (default: {'on' if option.default else 'off'})"
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, help=text)
            continue
        if "(default:" not in text:
            text += f" (default: {option.default})"
        parser.add_argument(flag, type=kind, choices=option.metadata.get("choices"), help=text)


def add_data_command(sub) -> None:
    p = sub.add_parser("data", help="load, verify and explore MNIST; write figures")
    p.add_argument("--data-dir", help=DATA_HELP)
    p.add_argument(
        "--val-fraction",
        type=float,
        default=TrainConfig.val_fraction,
        help=option_help("val_fraction") + " (default: %(default)s)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=TrainConfig.seed,
        help="seed of the split (default: %(default)s)",
    )
    p.add_argument("--out", default="figures", help="folder for the figures (default: %(default)s)")
    p.set_defaults(run=cmd_data)


def add_models_command(sub) -> None:
    p = sub.add_parser("models", help="list the architectures with parameters and multiply-adds")
    p.set_defaults(run=cmd_models)


def add_train_command(sub) -> None:
    # No defaults in the namespace: an option given on the command line overrides
    # the --config file and the preset, an option left out keeps their value.
    p = sub.add_parser(
        "train",
        help="train a model into runs/<name>/, then evaluate it",
        argument_default=argparse.SUPPRESS,
        epilog="Defaults shown are the `default` preset's; see `mnist-cnn models` for the others.",
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help="a TOML or JSON file of the options below by field name (batch_size = 64), "
        "or a run's config.json to train it again into a new folder; options given here "
        "override the file, the file overrides the preset",
    )
    p.add_argument(
        "--resume",
        metavar="RUN",
        help="continue a stopped run (Ctrl-C, a killed process) from its last epoch to its "
        "planned epochs, with its recorded options (only --data-dir may be given)",
    )
    add_train_options(p)
    p.set_defaults(run=cmd_train)


def add_evaluate_command(sub) -> None:
    p = sub.add_parser("evaluate", help="test a run folder or .keras model on the MNIST test set")
    p.add_argument("path", help="run folder or .keras file")
    p.add_argument("--data-dir", help=DATA_HELP)
    p.add_argument("--out", help="where to write metrics and figures (default: the run folder)")
    p.set_defaults(run=cmd_evaluate)


def add_calibrate_command(sub) -> None:
    p = sub.add_parser(
        "calibrate",
        help="fit a run's temperature on its validation split and record it in metrics.json "
        "(training does this; for runs made before it did)",
    )
    p.add_argument("run_dir", help="run folder")
    p.add_argument("--data-dir", help=DATA_HELP)
    p.set_defaults(run=cmd_calibrate)


def add_ensemble_command(sub) -> None:
    p = sub.add_parser(
        "ensemble", help="average several trained models into one, save and evaluate it"
    )
    p.add_argument("runs", nargs="*", metavar="RUN", help="run folders or .keras files")
    p.add_argument(
        "--train",
        type=int,
        metavar="N",
        help="first train N members (seeds --seed, --seed + 1, ...) side by side on Ray, "
        "into <name>-member-<i>; run again with the same --name to finish a stopped one",
    )
    p.add_argument("--preset", default="default", help="the members' preset (default: default)")
    p.add_argument("--seed", type=int, default=0, help="the first member's seed (default: 0)")
    p.add_argument("--epochs", type=int, help="the members' most epochs (default: the preset's)")
    p.add_argument("--limit", type=int, help=option_help("limit"))
    p.add_argument(
        "--cpus-per-member", type=int, default=1, help="CPUs for each member (default: 1)"
    )
    p.add_argument(
        "--gpus-per-member", type=float, default=0, help="GPUs (or a share) for each member"
    )
    p.add_argument("--address", help=ADDRESS_HELP)
    p.add_argument("--name", help="run folder name (default: ensemble-<date>-<time>)")
    p.add_argument("--runs-dir", default="runs", help="where run folders go (default: runs)")
    p.add_argument("--data-dir", help=DATA_HELP)
    p.set_defaults(run=cmd_ensemble)


def add_tune_command(sub) -> None:
    # No defaults in the namespace, as for train: `tune`'s own apply, and --resume can
    # tell which options were given.
    p = sub.add_parser(
        "tune",
        argument_default=argparse.SUPPRESS,
        help="search training options on Ray Tune (Optuna TPE, ASHA): a leaderboard and "
        "the best options as a config file",
    )
    p.add_argument(
        "--space",
        help="a named search space or a .toml or .json file of options, each fixed or a "
        'distribution such as lr = ["loguniform", 0.003, 0.03] (default: default)',
    )
    p.add_argument("--preset", help="the options searched from (default: default)")
    p.add_argument("--trials", type=int, help="most trials (default: 16)")
    p.add_argument("--epochs", type=int, help="each trial's most epochs (default: the preset's)")
    p.add_argument(
        "--time-budget", type=float, metavar="SECONDS", help="end the search after this long"
    )
    p.add_argument(
        "--asha",
        action=argparse.BooleanOptionalAction,
        help="stop trials that trail the others early (default: on)",
    )
    p.add_argument("--cpus-per-trial", type=int, help="CPUs for each trial (default: 1)")
    p.add_argument(
        "--gpus-per-trial", type=float, help="GPUs (or a share) for each trial (default: 0)"
    )
    p.add_argument("--limit", type=int, help=option_help("limit"))
    p.add_argument("--seed", type=int, help="of the split, the weights and the search (default: 0)")
    p.add_argument("--address", help=ADDRESS_HELP)
    p.add_argument("--name", help="search folder name (default: tune-<date>-<time>)")
    p.add_argument("--runs-dir", help="where the search folder goes (default: runs)")
    p.add_argument("--data-dir", help=DATA_HELP)
    p.add_argument("--resume", metavar="DIR", help="continue a stopped search as it was set up")
    p.set_defaults(run=cmd_tune)


def add_report_command(sub) -> None:
    p = sub.add_parser("report", help="write report.pdf and report.html for a run folder")
    p.add_argument("run_dir", help="run folder")
    p.add_argument("--data-dir", help=DATA_HELP)
    p.add_argument(
        "--format", choices=("png", "svg"), default="png", help="figure files (default: png)"
    )
    p.set_defaults(run=cmd_report)


def add_predict_command(sub) -> None:
    p = sub.add_parser("predict", help="read the digits in image files or folders")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders of images")
    p.add_argument("--model", help=MODEL_HELP)
    p.add_argument("--runs-dir", default="runs", help=RUNS_HELP)
    output = p.add_mutually_exclusive_group()
    output.add_argument(
        "--json", action="store_true", help="print a JSON array, one object per file"
    )
    output.add_argument("--csv", action="store_true", help="print CSV rows")
    p.add_argument(
        "--show",
        metavar="DIR",
        help="write a figure per image: the original beside the 28x28 inputs",
    )
    add_threshold_option(p)
    p.set_defaults(run=cmd_predict)


def add_serve_command(sub) -> None:
    p = sub.add_parser("serve", help="the drawing web app and REST API (FastAPI on uvicorn)")
    p.add_argument("--host", default="127.0.0.1", help="(default: %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="(default: %(default)s)")
    p.add_argument("--model", help=MODEL_HELP)
    p.add_argument("--runs-dir", default="runs", help=RUNS_HELP)
    p.add_argument("--max-readings", type=int, help="images read at once (default: the CPU count)")
    p.add_argument("--workers", type=int, default=1, help="processes sharing the port (default: 1)")
    add_threshold_option(p)
    p.set_defaults(run=cmd_serve)


def add_export_command(sub) -> None:
    p = sub.add_parser(
        "export",
        help="export a model for LiteRT, ONNX Runtime or TensorFlow, checked on the test set",
    )
    p.add_argument("path", help="run folder or .keras file")
    p.add_argument(
        "--format",
        choices=("litert", "onnx", "saved_model"),  # mnist_cnn.export.FORMATS
        default="litert",
        help="model.tflite for LiteRT, model.onnx for ONNX Runtime, or a TensorFlow "
        "saved_model/ folder (default: %(default)s)",
    )
    p.add_argument(
        "--out", metavar="DIR", help="folder to write into (default: export/ beside the model)"
    )
    p.add_argument("--data-dir", help=DATA_HELP)
    p.set_defaults(run=cmd_export)


def add_board_command(sub) -> None:
    p = sub.add_parser("board", help="the desktop Digit Board: draw digits, N clears, S saves")
    p.add_argument("--model", help=MODEL_HELP)
    p.add_argument("--runs-dir", default="runs", help=RUNS_HELP)
    add_threshold_option(p)
    p.set_defaults(run=cmd_board)


def add_runs_command(sub) -> None:
    p = sub.add_parser(
        "runs", help="list the run folders, newest first, and the model predict would use"
    )
    p.add_argument("--runs-dir", default="runs", help=RUNS_HELP)
    p.set_defaults(run=cmd_runs)


def build_parser() -> argparse.ArgumentParser:
    """The ``mnist-cnn`` parser: one subcommand per step, each set up by its
    ``add_*_command`` function, which also names the ``cmd_*`` function it runs."""
    parser = argparse.ArgumentParser(
        prog="mnist-cnn",
        description="Build, train, evaluate and apply a Keras CNN for MNIST handwritten digits.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_command in (
        add_data_command,
        add_models_command,
        add_train_command,
        add_evaluate_command,
        add_calibrate_command,
        add_ensemble_command,
        add_tune_command,
        add_report_command,
        add_export_command,
        add_runs_command,
        add_predict_command,
        add_serve_command,
        add_board_command,
    ):
        add_command(sub)
    return parser


def one_line_deprecations(show):
    """`show` (a `warnings.showwarning`) printing deprecations (FutureWarning) as one
    line, as errors are; other warnings it leaves to `show`."""

    def show_warning(message, category, *args, **kwargs) -> None:
        if issubclass(category, FutureWarning):
            print(f"mnist-cnn: warning: {message}", file=sys.stderr)
        else:
            show(message, category, *args, **kwargs)

    return show_warning


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = one_line_deprecations(warnings.showwarning)
            code = args.run(args)
    except MnistCnnError as e:
        print(f"mnist-cnn: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mnist-cnn: interrupted", file=sys.stderr)
        return 130
    except OSError as e:  # full disk, permissions, ...: the user's to fix
        where = f" ({e.filename})" if e.filename else ""
        print(f"mnist-cnn: error: {e.strerror or e}{where}", file=sys.stderr)
        return 1
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
