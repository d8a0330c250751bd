"""`python -m coordinator run|predict|evaluate|plot|export`: the command line of the search."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import NoReturn

from cluster.command_line import EXIT_OK, OneLineParser, run_main
from coordinator.config import ConfigError, SearchConfig, make_config, read_config_file
from coordinator.data.environments import EVALUATION_EPISODES, inputs_of, outputs_of
from coordinator.interface.flags import add_setting_flags, given_settings
from coordinator.interface.summary import print_summary, share_sizes

EXAMPLES = """examples:
  {prog} run                              # spiral data, 2-64-3, all CPUs, about a minute
  {prog} run --dataset vertical --layers 2,3,3 --time-budget 10
  {prog} run --config search.yaml --climbers 32 --out runs/big
  {prog} run --resume runs/big            # go on after a stop or a crash
  {prog} run --env CartPole-v1 --hidden 16 --time-budget 60 --out runs/cartpole   # a policy (hillclimb[rl])
  {prog} predict runs/big --input points.csv --output classes.csv
  {prog} evaluate runs/big --input test.csv  # accuracy, per-class figures, confusion matrix
  {prog} evaluate runs/cartpole             # a policy's returns on 100 episodes it never saw
  {prog} plot runs/big                    # runs/big/decision_regions.png, history.png
  {prog} export runs/big --onnx model.onnx  # the network as an ONNX graph
  {prog} export runs/big --c model.h        # the network as one C99 header: int model_predict(const float *x)
  {prog} run --dataset sine --hidden 64,64 --time-budget 60 --out runs/sine   # regression: the book's sine
  {prog} run --dataset prices.csv --task regression --loss mae   # a file whose last column is a number to predict
"""

EXPORT_EXAMPLES = """the graph: input X (N, features), float32 or float64 (--dtype); inside, in float64, the run's
scaling, dense layers with their hidden units' activation, then a classifier's softmax: outputs probabilities
(N, classes), of X's type, and label (N,), the run's class labels; a regressor's: output prediction (N, targets) in
the targets' units. It does not check its input: a row with NaN gets NaN outputs. A policy (--env) or a run that
minimised a function has no graph (a policy with discrete actions has a C header). Needs pip install
'hillclimb[onnx]'.

the header: NAME_INPUTS, NAME_OUTPUTS, and int NAME_predict(const float *x) (the class index; a regressor's:
void NAME_predict(const float *x, float *y)), the run's scaling inside, weights at their grid's size (int8 levels,
ternary 2 bits, binary 1 bit, else float32), no allocation, no C library but tanh for tanh units.

examples:
  {prog} export runs/big --onnx model.onnx                    # X float32, as deployments and skl2onnx feed it
  {prog} export runs/big --onnx model.onnx --dtype float64    # X float64: probabilities as predict_proba's
  {prog} export runs/big --c digits.h                         # digits_predict, digits_INPUTS, ...
  {prog} export runs/big --c model.h --name sensor            # sensor_predict
"""

PREDICT_EXAMPLES = """input: a .csv of feature columns (a header row is allowed), or a .npz with an array X; for a
policy (--env), each row one observation (its numbers flattened, or a state).
output: a classifier's: a header row class,p_0,p_1,... (p_ and each class's label) then, for each input row, its
predicted class and each class's probability; a regressor's: a header row (prediction, or the target's name) then
each row's predicted number(s) in the targets' units; a policy's: a header row action (or action_0,action_1,...)
then each row's action.

examples:
  {prog} predict runs/big --input points.csv                 # print to the terminal
  {prog} predict runs/big --input points.npz --output classes.csv
"""

EVALUATE_EXAMPLES = """prints the figures as text and draws the confusion matrix as a PNG; a regressor's: MSE, MAE
and R^2 in the targets' own units. A run that learnt a policy
(--env) is rolled out instead on episodes it never trained on (their seeds are odd, training's even), and its mean,
min, median and max return are printed.

examples:
  {prog} evaluate runs/big --input test.csv
  {prog} evaluate runs/big --input test.csv --label-column species --output confusion.png
  {prog} evaluate runs/cartpole --episodes 100 --seed 1
"""

PLOT_EXAMPLES = """writes decision_regions.png (data with 2 features only) and history.png; a run still going is drawn
as of its last finished round. A run on a data file needs that file at the same path (relative to where the
run was started).

examples:
  {prog} plot runs/big                    # PNGs into runs/big/
  {prog} plot runs/big --output pictures/
"""


def program_name() -> str:
    """How this command was called: `hillclimb` (the installed script) or `python -m coordinator`."""
    return "hillclimb" if Path(sys.argv[0]).name == "hillclimb" else "python -m coordinator"


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand; prog: the command's name as help and errors show it (default: as called)."""
    prog = prog or program_name()
    parser = OneLineParser(
        prog=prog,
        description="Train a small neural network without gradients: many hill climbs, the best broadcast.",
        epilog=EXAMPLES.format(prog=prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    run = commands.add_parser(
        "run",
        help="run a search",
        description="Run a search. Settings come from --config YAML, then flags override them.",
        epilog=EXAMPLES.format(prog=prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,  # `--ou` must not pass for `--out`: `cluster submit` reads --out and --resume
    )
    run.add_argument(
        "--config",
        metavar="FILE.yaml",
        help="YAML of settings, keyed as the flags below without -- and with _ for - (time_budget: 30); "
        "flags given override them",
    )
    groups = add_setting_flags(run)
    groups["where"].add_argument(
        "--address",
        help="Ray to use: none = a private local Ray on this machine's CPUs; 'auto' = the cluster started here "
        "with `ray start`; host:port or ray://host:10001 = that cluster",
    )
    groups["where"].add_argument("--inprocess", action="store_true", help="run every climb in this process, no Ray")
    output = run.add_argument_group("the run directory and what is shown")
    output.add_argument("--out", metavar="DIR", help="run directory (default runs/<date-time>/)")
    output.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its last finished round")
    output.add_argument("--force", action="store_true", help="overwrite the run in --out if there is one")
    output.add_argument(
        "--dry-run", action="store_true",
        help="check the settings, the data and the run directory, say what would run, and stop (exit 0 if all is well)",
    )  # fmt: skip
    output.add_argument("--quiet", action="store_true", help="print nothing but errors (default: a live progress line)")
    output.add_argument(
        "--log-json", action="store_true",
        help="one JSON object per round on stdout, the summary on stderr (default: text for people)",
    )  # fmt: skip
    output.add_argument(
        "--plot", action="store_true", help="at the end, draw the PNGs of `plot` into the run directory"
    )

    predict = commands.add_parser(
        "predict",
        help="a finished run's predictions: classes, numbers, or a policy's actions",
        description="Predict for each row of a .csv (features only, optional header) or .npz (array X) file: a "
        "classifier's class and probabilities, a regressor's numbers, or a policy's action.",
        epilog=PREDICT_EXAMPLES.format(prog=prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    predict.add_argument("run_dir", metavar="RUN_DIR", help="a finished run directory")
    predict.add_argument("--input", required=True, metavar="FILE", help=".csv, .npz or .npy file of features")
    predict.add_argument("--output", metavar="FILE.csv", help="write the predictions here (default stdout)")

    evaluate = commands.add_parser(
        "evaluate",
        help="score a finished run's network on labelled rows it never saw",
        description="Loss, accuracy, per-class precision and recall and the confusion matrix of a finished run's "
        "network on a labelled .csv, .npz or .npy file (labels as the run saw them).",
        epilog=EVALUATE_EXAMPLES.format(prog=prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    evaluate.add_argument("run_dir", metavar="RUN_DIR", help="a finished run directory")
    evaluate.add_argument(
        "--input",
        metavar="FILE",
        help="labelled .csv (label last) or .npz (X, y); needed unless the run learnt a policy",
    )
    evaluate.add_argument(
        "--label-column",
        metavar="NAME|INDEX",
        help="the label column of a .csv: a header name or a 0-based index (default: the column named as the run's "
        "label was named, wherever it stands; else the run's --label-column; else the last)",
    )
    evaluate.add_argument(
        "--output", metavar="FILE.png", help="the confusion matrix picture (default RUN_DIR/confusion_<input name>.png)"
    )
    evaluate.add_argument(
        "--episodes", type=int, metavar="N",
        help=f"a policy: episodes to roll out (default: {EVALUATION_EPISODES})",
    )  # fmt: skip
    evaluate.add_argument(
        "--seed", type=int, metavar="N", help="a policy: the seed the episodes' seeds are drawn from (default: 0)"
    )

    plot = commands.add_parser(
        "plot",
        help="draw a run's decision regions and loss curve",
        description="Draw the data with the best network's decision regions, and loss and accuracy per round.",
        epilog=PLOT_EXAMPLES.format(prog=prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    plot.add_argument("run_dir", metavar="RUN_DIR", help="a run directory")
    plot.add_argument("--output", metavar="DIR", help="where to write the PNG files (default RUN_DIR)")

    export = commands.add_parser(
        "export",
        help="write a finished run's network as an ONNX graph or a C99 header",
        description="Write a finished run's network with its feature scaling (a classifier's class labels, a "
        "regressor's target scaling) as a standard ONNX graph (--onnx) or as one self-contained C99 header for a "
        "microcontroller (--c).",
        epilog=EXPORT_EXAMPLES.format(prog=prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("run_dir", metavar="RUN_DIR", help="a finished run directory")
    target = export.add_mutually_exclusive_group(required=True)
    target.add_argument("--onnx", metavar="FILE.onnx", help="the ONNX file to write (replaced atomically)")
    target.add_argument(
        "--c", metavar="FILE.h", help="the C99 header to write (replaced atomically): weights, scaling, NAME_predict"
    )
    export.add_argument(
        "--name", help="the prefix of the header's names (default: the file's stem: digits.h gives digits_predict)"
    )
    export.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default=None,
        help="the type of the ONNX graph's input X and of its outputs (probabilities, or a regressor's prediction; "
        "default: float32); the graph computes in float64",
    )
    return parser


def config_from_args(args: argparse.Namespace, saved: SearchConfig | None = None) -> SearchConfig:
    """YAML values, then flag values; a ConfigError names the first bad field.

    saved: a resumed run's settings, under what is given: each given value is checked beside them (`--loss mse`
    of a regression run is a regressor's loss, whatever `--task` would default to on its own)."""
    values = saved.model_dump() if saved is not None else {}
    values.update(read_config_file(args.config) if args.config else {})
    values.update(given_settings(args))
    return make_config(values)


def _command_run(args: argparse.Namespace) -> int:
    from cluster.quiet import ray_logs_to_file
    from coordinator.interface.labels import figure_names
    from coordinator.interface.progress import JsonProgress, LineProgress, ProgressGroup
    from coordinator.interface.ray_metrics import RayMetrics
    from coordinator.rounds.prepare import prepare_run
    from coordinator.rounds.search import run_prepared

    if args.resume and args.out and Path(args.out) != Path(args.resume):
        raise ConfigError("--out: give either --resume DIR or --out DIR, not two different directories")
    saved = None
    if args.resume and _given_fields(args):
        from coordinator.rounds.checkpoint import load_checkpoint

        saved = load_checkpoint(Path(args.resume)).config
    config = config_from_args(args, saved)
    run_dir = Path(args.resume or args.out or Path("runs") / time.strftime("%Y-%m-%dT%H-%M-%S"))
    args.out = str(run_dir)  # for the message if interrupted
    prepared = prepare_run(
        _run_config(args, config), run_dir=run_dir, resume=bool(args.resume), force=args.force, claim=not args.dry_run
    )
    if not args.quiet:  # before the run (or instead of it): what the data holds, and what was done to it
        for note in prepared.data.notes if prepared.data is not None else ():
            print(f"note: {note}", file=sys.stderr)
    if args.dry_run:
        print(f"would run: {_describe(prepared)}; results into {run_dir}/")
        return EXIT_OK
    shown = []
    budget = prepared.config.time_budget
    names = figure_names(prepared.config, prepared.data)  # what each figure shown is: rows, loss, L2 term
    if args.log_json:
        shown.append(JsonProgress(time_budget=budget, returns=prepared.policy is not None, names=names))
    elif not args.quiet:
        notice = f"searching {_describe(prepared)}; results go to {run_dir}/"
        shown.append(LineProgress(budget, notice=notice, names=names))
    # On Ray, the run's figures go to Ray's metrics too (dashboard, Prometheus), tagged with its directory.
    last_round = _LastRound()  # when the session's last round ended: the summary says why a budget was overrun
    progress = ProgressGroup(*shown, last_round, *([] if args.inprocess else [RayMetrics(str(run_dir))]))
    # Ray's own notices (its token notice, a thread's missing SIGTERM handler) go to its log files: the
    # terminal shows this run's progress, and problems come as our own one-line errors.
    ray_notices = ray_logs_to_file()
    started = time.monotonic()
    try:
        with ray_notices:
            result = run_prepared(prepared, "inprocess" if args.inprocess else "ray", args.address, progress)
    finally:
        progress.close()  # end a live line before the summary, an error or "interrupted"
    session_seconds = time.monotonic() - started
    plots = []
    from coordinator.interface.plot import plot_run
    from coordinator.results.run_files import PICTURES

    # A resumed run's pictures are drawn again, asked or not: pictures of an earlier round would mislead.
    if args.plot or (args.resume and any((run_dir / name).exists() for name in PICTURES)):
        plots = plot_run(run_dir)
    if not args.quiet:
        stream = sys.stderr if args.log_json else sys.stdout
        print_summary(result, run_dir, stream, plots, session_seconds, last_round.elapsed_s, program_name())
    return EXIT_OK


class _LastRound:
    """A Progress that keeps when the last round ended, in seconds into the session."""

    elapsed_s: float | None = None

    def started(self) -> None:
        """Nothing to keep."""

    def climber_done(self, round_index: int, done: int, total: int, best) -> None:
        """Nothing to keep."""

    def round_done(self, record, elapsed_s: float) -> None:
        """Keep when it ended."""
        self.elapsed_s = elapsed_s

    def close(self) -> None:
        """Nothing to end."""


def _describe(prepared) -> str:
    """'spiral (300 rows, 2 features, 3 classes, 60 held out), network 2-64-3[, after round N]'."""
    dataset, config, data = prepared.dataset, prepared.config, prepared.data
    resumed = f", going on after round {prepared.state.rounds_completed - 1}" if prepared.state else ""
    if prepared.policy is not None:
        policy = prepared.policy
        return (
            f"{config.env} (observations {inputs_of(policy)}; actions from {outputs_of(policy)}; the loss is minus "
            f"the mean return of {config.episodes} episodes, new ones each round), policy "
            f"{'-'.join(map(str, config.layers))}, search {config.search}{resumed}"
        )
    held = [f"{part.rows:,} {what}" for part, what in ((data.validation, "held out"), (data.test, "for testing"))
            if part is not None]  # fmt: skip
    rows = f"{data.rows:,} rows,"
    if held:  # which rows the climbs learn from, and which they never see
        rows = f"{data.rows:,} training rows, {', '.join(held)};"
    outputs = f"{dataset.num_classes} classes"
    if dataset.regression:
        count = dataset.num_outputs
        outputs = f"{count} target{'s' if count != 1 else ''}, regression, loss {config.loss}"
    shared = ""
    if data.shares > 1:  # each climber climbs on one share of the training rows
        shared = f"; {data.shares} row shares of {share_sizes(data.share_rows)} rows, each climber on one"
    return (
        f"{Path(dataset.name).name} ({rows} {dataset.num_features} features, {outputs}{shared}), "
        f"network {'-'.join(map(str, config.layers))}{resumed}"
    )


def _run_config(args: argparse.Namespace, config: SearchConfig) -> SearchConfig | None:
    """The config to run: on resume, None unless settings were given (the checkpoint's stands)."""
    return config if not args.resume or _given_fields(args) else None


def _given_fields(args: argparse.Namespace) -> bool:
    return bool(args.config) or bool(given_settings(args))


def _command_predict(args: argparse.Namespace) -> int:
    from coordinator.interface.predict import predict_file

    predict_file(args.run_dir, args.input, args.output)
    return EXIT_OK


def _command_evaluate(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from coordinator.data.columns import match_columns
    from coordinator.data.tables import read_table
    from coordinator.interface.plot import plot_confusion
    from coordinator.results.result import load_result

    result = load_result(args.run_dir)
    if result.policy is not None:
        return _evaluate_policy(args, result)
    if args.input is None:
        raise ConfigError("--input: give the labelled rows to score the network on (a .csv, .npz or .npy file)")
    if args.episodes is not None or args.seed is not None:
        flag = "--episodes" if args.episodes is not None else "--seed"
        raise ConfigError(f"{flag}: {args.run_dir} learnt from data, not a policy; evaluate it on rows (--input)")
    given = args.label_column is not None
    label_column = args.label_column if given else result.config.label_column
    # Unless told, the run's label column by the name its training file gave it, wherever this file puts it.
    label_header = None if given or result.data is None else result.data.label_name
    table = read_table(
        args.input, labelled=True, label_column=label_column, kind="input file", targets=result.regression,
        label_header=label_header,
    )  # fmt: skip
    for note in table.notes:
        print(f"note: {note}", file=sys.stderr)
    names = result.data.feature_names if result.data is not None else None
    table = replace(table, X=match_columns(table.X, table.feature_names, names, args.input))
    if table.X.shape[1] != result.layout.num_inputs:
        raise ConfigError(
            f"{args.input}: rows have {table.X.shape[1]} features; the network takes {result.layout.num_inputs}"
        )
    try:
        evaluation = result.evaluate(table.X, table.y)
    except ConfigError as error:
        raise ConfigError(f"{args.input}: {error}") from None
    if result.regression:  # figures only: no confusion matrix to draw
        if args.output:
            raise ConfigError("--output: a regressor's evaluation draws no picture (use plot for its fit)")
        sys.stdout.write(evaluation.report())
        return EXIT_OK
    output = Path(args.output) if args.output else Path(args.run_dir) / f"confusion_{Path(args.input).stem}.png"
    picture = plot_confusion(
        evaluation, output, f"{Path(args.input).name}, network {'-'.join(map(str, result.config.layers))}"
    )
    sys.stdout.write(evaluation.report())
    print(f"written: {picture}")
    return EXIT_OK


def _evaluate_policy(args: argparse.Namespace, result) -> int:
    """Roll a policy out on episodes it never trained on and print its returns."""
    for flag, value in (("--input", args.input), ("--label-column", args.label_column), ("--output", args.output)):
        if value is not None:
            raise ConfigError(
                f"{flag}: {args.run_dir} learnt a policy for {result.config.env}; it is scored on episodes"
            )
    episodes = EVALUATION_EPISODES if args.episodes is None else args.episodes
    evaluation = result.rollout(episodes, 0 if args.seed is None else args.seed)
    sys.stdout.write(evaluation.report())
    return EXIT_OK


def _command_plot(args: argparse.Namespace) -> int:
    from coordinator.interface.plot import plot_run, read_run, regions_data

    for path in plot_run(args.run_dir, args.output):
        print(path)
    _dataset, skipped = regions_data(read_run(args.run_dir))
    if skipped:
        print(f"note: {skipped}", file=sys.stderr)
    return EXIT_OK


def _command_export(args: argparse.Namespace) -> int:
    if args.c is not None:
        from coordinator.interface.export_c import export_c_run

        if args.dtype is not None:
            raise ConfigError("--dtype: is for --onnx; a C header takes float features and computes in double")
        print(f"written: {export_c_run(args.run_dir, args.c, args.name)}")
        return EXIT_OK
    from coordinator.interface.export import export_run

    if args.name is not None:
        raise ConfigError("--name: is for --c (the prefix of a C header's names)")
    print(f"written: {export_run(args.run_dir, args.onnx, args.dtype or 'float32')}")
    return EXIT_OK


def run_as_program() -> NoReturn:
    """`hillclimb` and `python -m coordinator`: main(), then exit with its status.

    A private Ray still starting when the run ended is not waited for (`cluster.stopping`): its processes share
    this one's fate and end with it, so the process ends now rather than wait for Ray's start only to stop it.
    """
    from cluster.stopping import stopping

    status = main()
    if stopping():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for bad input, told in one line)."""
    from cluster.connect import ClusterError
    from workers.objective import ObjectiveError

    args = build_parser().parse_args(argv)
    commands = {
        "run": _command_run,
        "predict": _command_predict,
        "evaluate": _command_evaluate,
        "plot": _command_plot,
        "export": _command_export,
    }

    def stopped(why: str) -> str:
        if args.command == "run" and args.out:
            return f"{why}; resume with --resume {args.out}"
        return "" if why == "output closed" else why  # `predict | head`: the reader had what it wanted

    return run_main(lambda: commands[args.command](args), (ConfigError, ClusterError, ObjectiveError), stopped)
