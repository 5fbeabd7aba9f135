"""The ``mnist-cnn`` command: one subcommand per step.

    mnist-cnn data                 load, verify and explore MNIST
    mnist-cnn models               list the architectures
    mnist-cnn train                train, checkpoint and evaluate a model
    mnist-cnn evaluate RUN         test a run folder or .keras file
    mnist-cnn ensemble RUN...      average several models into one
    mnist-cnn report RUN           a PDF and HTML report with every figure
    mnist-cnn predict PATH...      read digits in your own images
    mnist-cnn serve                the drawing web app and REST API
    mnist-cnn board                the desktop Digit Board (pygame)

Heavy libraries are imported inside each command so that ``--help`` is instant.
User errors print one line and exit 1; Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mnist_cnn import __version__
from mnist_cnn.config import PRECISIONS, PRESETS, SCHEDULES, TrainConfig
from mnist_cnn.errors import MnistCnnError

DATA_HELP = (
    "folder with the four MNIST IDX files "
    "(default: $MNIST_DATA_DIR, else the Keras cache, else a download)"
)


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
    from mnist_cnn.training import train

    # Only the options given on the command line are in `args`: they override the preset.
    options = {k: v for k, v in vars(args).items() if k in TrainConfig.__dataclass_fields__}
    train(TrainConfig.from_preset(**options))


def cmd_evaluate(args: argparse.Namespace) -> None:
    from mnist_cnn.evaluation import evaluate_run

    evaluate_run(args.path, data_dir=args.data_dir, out=args.out)


def cmd_ensemble(args: argparse.Namespace) -> None:
    from mnist_cnn.ensemble import make_ensemble

    make_ensemble(args.runs, name=args.name, runs_dir=args.runs_dir, data_dir=args.data_dir)


def cmd_predict(args: argparse.Namespace) -> int:
    from mnist_cnn.predict import predict_command

    return predict_command(args)


def cmd_serve(args: argparse.Namespace) -> None:
    from mnist_cnn.server import serve

    serve(args.host, args.port, args.model)


def cmd_report(args: argparse.Namespace) -> None:
    from mnist_cnn.report import write_report

    write_report(args.run_dir, data_dir=args.data_dir, image_format=args.format)


def cmd_board(args: argparse.Namespace) -> None:
    from mnist_cnn.board import run_board

    run_board(args.model)


MODEL_HELP = (
    "run folder or .keras file (default: the newest run under runs/, "
    "else the model shipped with the package)"
)


def build_parser() -> argparse.ArgumentParser:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(
        prog="mnist-cnn",
        description="Build, train, evaluate and apply a Keras CNN for MNIST handwritten digits.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("data", help="load, verify and explore MNIST; write figures")
    p.add_argument("--data-dir", help=DATA_HELP)
    p.add_argument(
        "--val-fraction",
        type=float,
        default=defaults.val_fraction,
        help="share of the training set held out for validation (default: %(default)s)",
    )
    p.add_argument(
        "--seed", type=int, default=defaults.seed, help="seed of the split (default: %(default)s)"
    )
    p.add_argument("--out", default="figures", help="folder for the figures (default: %(default)s)")
    p.set_defaults(run=cmd_data)

    p = sub.add_parser("models", help="list the architectures with parameters and multiply-adds")
    p.set_defaults(run=cmd_models)

    # No defaults in the namespace: an option given on the command line overrides
    # the preset's value, an option left out keeps it.
    p = sub.add_parser(
        "train",
        help="train a model into runs/<name>/, then evaluate it",
        argument_default=argparse.SUPPRESS,
        epilog="Defaults shown are the `default` preset's; see `mnist-cnn models` for the others.",
    )
    d = defaults
    p.add_argument("--preset", default="default", choices=PRESETS, help="(default: default)")
    p.add_argument("--model", help=f"architecture, see `mnist-cnn models` (default: {d.model})")
    p.add_argument("--epochs", type=int, help=f"most epochs (default: {d.epochs})")
    p.add_argument("--batch-size", type=int, help=f"(default: {d.batch_size})")
    p.add_argument("--lr", type=float, help=f"Adam's (peak) learning rate (default: {d.lr})")
    p.add_argument(
        "--schedule",
        choices=SCHEDULES,
        help=f"learning rate: warm-up then cosine decay, or cut on plateaus "
        f"(default: {d.schedule})",
    )
    p.add_argument(
        "--augment",
        type=float,
        help="strength of random rotation (10 degrees), shift and zoom (10%%) per unit; "
        f"0 turns it off (default: {d.augment})",
    )
    p.add_argument(
        "--label-smoothing",
        type=float,
        help=f"for the categorical crossentropy (default: {d.label_smoothing})",
    )
    p.add_argument(
        "--ema",
        type=float,
        help="validate and save an exponential moving average of the weights with this "
        f"momentum, e.g. 0.999; 0 turns it off (default: {d.ema})",
    )
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        help=f"mixed_bfloat16 computes in bfloat16, faster on CPUs with bfloat16 "
        f"instructions (AVX512_BF16, AMX) and slower elsewhere; auto uses it only "
        f"where they exist (default: {d.precision})",
    )
    p.add_argument(
        "--patience",
        type=int,
        help=f"stop after this many epochs without a better validation loss "
        f"(default: {d.patience})",
    )
    p.add_argument(
        "--seed", type=int, help=f"fixes split, initial weights and shuffling (default: {d.seed})"
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        help=f"share of the training set held out for validation (default: {d.val_fraction})",
    )
    p.add_argument("--limit", type=int, help="train on only this many images (quick runs)")
    p.add_argument("--name", help="run folder name (default: <model>-<date>-<time>)")
    p.add_argument("--runs-dir", help=f"where run folders go (default: {d.runs_dir})")
    p.add_argument("--data-dir", help=DATA_HELP)
    p.add_argument(
        "--tensorboard", action="store_true", help="also write TensorBoard logs to the run folder"
    )
    p.add_argument(
        "--report", action="store_true", help="end by writing report.pdf and report.html"
    )
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("evaluate", help="test a run folder or .keras model on the MNIST test set")
    p.add_argument("path", help="run folder or .keras file")
    p.add_argument("--data-dir", help=DATA_HELP)
    p.add_argument("--out", help="where to write metrics and figures (default: the run folder)")
    p.set_defaults(run=cmd_evaluate)

    p = sub.add_parser(
        "ensemble", help="average several trained models into one, save and evaluate it"
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders or .keras files")
    p.add_argument("--name", help="run folder name (default: ensemble-<date>-<time>)")
    p.add_argument("--runs-dir", default="runs", help="where run folders go (default: runs)")
    p.add_argument("--data-dir", help=DATA_HELP)
    p.set_defaults(run=cmd_ensemble)

    p = sub.add_parser("report", help="write report.pdf and report.html for a run folder")
    p.add_argument("run_dir", help="run folder")
    p.add_argument("--data-dir", help=DATA_HELP)
    p.add_argument(
        "--format", choices=("png", "svg"), default="png", help="figure files (default: png)"
    )
    p.set_defaults(run=cmd_report)

    p = sub.add_parser("predict", help="read the digits in image files or folders")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders of images")
    p.add_argument("--model", help=MODEL_HELP)
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
    p.set_defaults(run=cmd_predict)

    p = sub.add_parser("serve", help="the drawing web app and REST API (FastAPI on uvicorn)")
    p.add_argument("--host", default="127.0.0.1", help="(default: %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="(default: %(default)s)")
    p.add_argument("--model", help=MODEL_HELP)
    p.set_defaults(run=cmd_serve)

    p = sub.add_parser("board", help="the desktop Digit Board: draw digits, N clears, S saves")
    p.add_argument("--model", help=MODEL_HELP)
    p.set_defaults(run=cmd_board)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
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
