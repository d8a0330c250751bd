"""`python -m cluster submit|status|logs|stop|fetch`: searches as Ray Jobs on a cluster."""

from __future__ import annotations

import argparse
import sys

from cluster.command_line import EXIT_INTERRUPTED, EXIT_OK, OneLineParser, run_main
from cluster.connect import ClusterError

EXAMPLES = """examples:
  ray dashboard ray_config.yaml          # in a terminal of its own: the dashboard on http://127.0.0.1:8265
  python -m cluster submit -- --dataset spiral --layers 2,64,3 --time-budget 300 --out runs/spiral
  python -m cluster submit --no-wait -- --climbers 64 --out runs/big
  python -m cluster status raysubmit_XYZ
  python -m cluster logs raysubmit_XYZ --follow
  python -m cluster fetch raysubmit_XYZ  # the result of a finished job into its --out
  python -m cluster stop raysubmit_XYZ
"""

ADDRESS_HELP = (
    "the cluster's dashboard (Jobs API), default $RAY_API_SERVER_ADDRESS or http://127.0.0.1:8265 "
    "(the local end of `ray dashboard ray_config.yaml`)"
)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand."""
    parser = OneLineParser(
        prog="python -m cluster",
        description="Run searches as Ray Jobs on a Ray cluster and bring their results back to this machine.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    submit = commands.add_parser(
        "submit",
        help="submit a search: python -m cluster submit [options] -- FLAGS OF `coordinator run`",
        description="Submit `python -m coordinator run FLAGS` as a Ray Job, with this project as its working_dir; "
        "follow its log and put its result (result.json, weights.npz, ...) into the --out among FLAGS, "
        "on this machine (default runs/<date-time>/). Put the flags of `coordinator run` after --.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    submit.add_argument("--address", help=ADDRESS_HELP)
    submit.add_argument("--no-wait", action="store_true", help="print the job's id and return; `fetch` gets the result")
    submit.add_argument(
        "--python",
        default="python",
        help="the interpreter on the head that has this project's dependencies (default `python`, resolved on the "
        "head's PATH; ray_config.yaml makes it the project's virtual environment)",
    )
    submit.add_argument("--working-dir", metavar="DIR", help="the project to send (default: this one)")
    submit.add_argument("--job-id", help="the job's submission id (default: one Ray makes up)")

    for name, text in (
        ("status", "the state of a job"),
        ("logs", "a job's log"),
        ("stop", "stop a job"),
        ("fetch", "wait for a job and put its result into its run directory"),
    ):
        command = commands.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        command.add_argument("job_id", metavar="JOB_ID")
        command.add_argument("--address", help=ADDRESS_HELP)
        if name == "logs":
            command.add_argument("--follow", action="store_true", help="keep printing until the job ends")
        if name == "fetch":
            command.add_argument("--out", metavar="DIR", help="where to put it (default: the job's own --out)")
            command.add_argument("--force", action="store_true", help="overwrite files already in DIR")
    return parser


def _command_submit(args: argparse.Namespace, coordinator_args: list[str]) -> int:
    from cluster.jobs import Jobs
    from cluster.submit import check_flags_locally, plan_job, version_warning

    plan = plan_job(coordinator_args, python=args.python, working_dir=args.working_dir)
    check_flags_locally(plan)  # a bad flag is told here, in one line, before anything is sent
    jobs = Jobs(args.address)
    warning = version_warning(jobs.cluster_ray_version)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    job_id = jobs.submit(plan.entrypoint, plan.runtime_env, plan.metadata, job_id=args.job_id)
    print(f"submitted job {job_id} to {jobs.address}; its result goes to {plan.run_dir}/", file=sys.stderr)
    if args.no_wait:
        print(job_id)
        print(
            f"follow it: python -m cluster logs {job_id} --follow; get its result: python -m cluster fetch {job_id}",
            file=sys.stderr,
        )
        return EXIT_OK
    return _follow_and_fetch(jobs, job_id, plan.run_dir)


def _follow_and_fetch(jobs, job_id: str, run_dir) -> int:
    from cluster.submit import receive_result

    try:
        jobs.follow(job_id, _write_out)
        details = jobs.wait(job_id)
    except KeyboardInterrupt:
        _stopped_watching(job_id)
        return EXIT_INTERRUPTED
    status = _unless_succeeded(jobs, job_id, details, run_dir)
    if status is not None:
        return status
    written = receive_result(jobs.logs(job_id), run_dir)
    names = ", ".join(path.name for path in written)
    print(f"job {job_id} succeeded; written into {run_dir}/: {names}", file=sys.stderr)
    return EXIT_OK


def _stopped_watching(job_id: str) -> None:
    print(
        f"stopped watching; job {job_id} goes on (python -m cluster stop {job_id} ends it, "
        f"python -m cluster fetch {job_id} gets its result)",
        file=sys.stderr,
    )


def _unless_succeeded(jobs, job_id: str, details, run_dir) -> int | None:
    """None for a job that succeeded; else say how it ended and return the exit status.

    A stopped job's files (its checkpoint: the best so far) are written into run_dir first.
    """
    from cluster.jobs import exit_status
    from cluster.submit import receive_stopped

    status = exit_status(details)
    if status == 0:
        return None
    if str(details.status) == "STOPPED":
        stopped = receive_stopped(jobs.logs(job_id), run_dir)
        if stopped is None:
            print(f"job {job_id} was stopped before its first round finished: nothing to fetch", file=sys.stderr)
        else:
            after = "" if stopped.rounds is None else f" after {stopped.rounds} round{'s' * (stopped.rounds != 1)}"
            print(
                f"job {job_id} was stopped{after}; its best so far is in {run_dir}/ "
                f"({', '.join(path.name for path in stopped.written)}); go on with it here: "
                f"python -m coordinator run --resume {run_dir}",
                file=sys.stderr,
            )
        return status
    print(f"error: job {job_id} {str(details.status).lower()}: {_one_line(details.message)}", file=sys.stderr)
    return status


def _write_out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _one_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    # Ray's message of a failed job goes on with its log's tail, which was shown already.
    return lines[0].split(", last available logs")[0] if lines else "no message"


def _command_status(args: argparse.Namespace) -> int:
    from cluster.jobs import Jobs

    details = Jobs(args.address).details(args.job_id)
    print(f"{args.job_id}: {details.status} ({_one_line(details.message)})")
    return EXIT_OK


def _command_logs(args: argparse.Namespace) -> int:
    from cluster.jobs import Jobs
    from cluster.log_transport import LogFilter

    jobs = Jobs(args.address)
    if args.follow:
        jobs.follow(args.job_id, _write_out)
        return EXIT_OK
    log_filter = LogFilter()
    _write_out(log_filter.feed(jobs.logs(args.job_id)) + log_filter.flush())
    return EXIT_OK


def _command_stop(args: argparse.Namespace) -> int:
    from cluster.jobs import Jobs

    jobs = Jobs(args.address)
    if jobs.stop(args.job_id):
        print(f"stopping job {args.job_id}")
    else:
        print(f"job {args.job_id} had already ended ({jobs.details(args.job_id).status})")
    return EXIT_OK


def _command_fetch(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cluster.jobs import Jobs
    from cluster.submit import RUN_DIR_METADATA, SubmitError, check_run_dir, receive_result

    jobs = Jobs(args.address)
    details = jobs.details(args.job_id)
    run_dir = args.out or (details.metadata or {}).get(RUN_DIR_METADATA)
    if not run_dir:
        raise SubmitError(f"--out: job {args.job_id} was not submitted by `python -m cluster submit`; name a directory")
    run_dir = Path(run_dir).expanduser().resolve()
    if args.out:
        check_run_dir(run_dir, args.force)
    try:
        details = jobs.wait(args.job_id, report=lambda line: print(line, file=sys.stderr, flush=True))
    except KeyboardInterrupt:
        _stopped_watching(args.job_id)
        return EXIT_INTERRUPTED
    status = _unless_succeeded(jobs, args.job_id, details, run_dir)
    if status is not None:
        return status
    written = receive_result(jobs.logs(args.job_id), run_dir)
    print(f"written into {run_dir}/: {', '.join(path.name for path in written)}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for bad input or an unreachable cluster, told in one line)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    coordinator_args: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, coordinator_args = argv[:split], argv[split + 1 :]
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        hint = "; the flags of `coordinator run` go after --" if args.command == "submit" else ""
        parser.error(f"unrecognized arguments: {' '.join(unknown)}{hint}")
    if coordinator_args and args.command != "submit":
        parser.error(f"{args.command} takes no flags after --")
    commands = {"status": _command_status, "logs": _command_logs, "stop": _command_stop, "fetch": _command_fetch}
    if args.command == "submit":
        return run_main(lambda: _command_submit(args, coordinator_args), (ClusterError,))
    return run_main(lambda: commands[args.command](args), (ClusterError,))


if __name__ == "__main__":
    sys.exit(main())
