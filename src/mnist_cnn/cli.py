"""The ``mnist-cnn`` command: one subcommand per step.

    mnist-cnn data                 load, verify and explore MNIST
    mnist-cnn models               list the architectures
    mnist-cnn train                train, checkpoint and evaluate a model
    mnist-cnn evaluate RUN         test a run folder or .keras file
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
from mnist_cnn.config import TrainConfig
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

    print(models.describe_models())


def cmd_train(args: argparse.Namespace) -> None:
    from mnist_cnn.training import train

    options = {k: v for k, v in vars(args).items() if k in TrainConfig.__dataclass_fields__}
    train(TrainConfig(**options))


def cmd_evaluate(args: argparse.Namespace) -> None:
    from mnist_cnn.evaluation import evaluate_run

    evaluate_run(args.path, data_dir=args.data_dir, out=args.out)


def cmd_predict(args: argparse.Namespace) -> int:
    from mnist_cnn.inference import predict_command

    return predict_command(args)


def cmd_serve(args: argparse.Namespace) -> None:
    from mnist_cnn.server import serve

    serve(args.host, args.port, args.model)


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

    p = sub.add_parser("train", help="train a model into runs/<name>/, then evaluate it")
    p.add_argument(
        "--model",
        default=defaults.model,
        help="architecture, see `mnist-cnn models` (default: %(default)s)",
    )
    p.add_argument(
        "--epochs",
        type=int,
        default=defaults.epochs,
        help="most epochs; early stopping usually ends sooner (default: %(default)s)",
    )
    p.add_argument(
        "--batch-size", type=int, default=defaults.batch_size, help="(default: %(default)s)"
    )
    p.add_argument(
        "--lr", type=float, default=defaults.lr, help="Adam learning rate (default: %(default)s)"
    )
    p.add_argument(
        "--label-smoothing",
        type=float,
        default=defaults.label_smoothing,
        help="for the categorical crossentropy (default: %(default)s)",
    )
    p.add_argument(
        "--patience",
        type=int,
        default=defaults.patience,
        help="stop after this many epochs without a better validation accuracy "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=defaults.seed,
        help="fixes split, initial weights and shuffling (default: %(default)s)",
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        default=defaults.val_fraction,
        help="share of the training set held out for validation (default: %(default)s)",
    )
    p.add_argument("--limit", type=int, help="train on only this many images (quick runs)")
    p.add_argument("--name", help="run folder name (default: <model>-<date>-<time>)")
    p.add_argument(
        "--runs-dir", default=defaults.runs_dir, help="where run folders go (default: %(default)s)"
    )
    p.add_argument("--data-dir", help=DATA_HELP)
    p.add_argument(
        "--tensorboard", action="store_true", help="also write TensorBoard logs to the run folder"
    )
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("evaluate", help="test a run folder or .keras model on the MNIST test set")
    p.add_argument("path", help="run folder or .keras file")
    p.add_argument("--data-dir", help=DATA_HELP)
    p.add_argument("--out", help="where to write metrics and figures (default: the run folder)")
    p.set_defaults(run=cmd_evaluate)

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
