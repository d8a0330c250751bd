"""What a finished run says of itself at its end: the network kept and its figures, each named (which rows, which
loss, with or without the L2 term), what it cost, where its rounds ran, and the files written."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from coordinator.interface.labels import FigureNames, figure_names
from coordinator.interface.reference import seed_figure
from coordinator.results.placement import Span, placement_spans

# A session that ran this many seconds past its time budget says why.
OVER_BUDGET_S = 2.0


def print_summary(
    result,
    run_dir: Path,
    stream: TextIO,
    plots: list[Path] | None = None,
    session_seconds: float | None = None,
    last_round_end: float | None = None,
    program: str = "python -m coordinator",
) -> None:
    """What a run found and what it cost, in plain words.

    session_seconds: this session's time (the budget's), saving and closing included; last_round_end: seconds into
    the session its last round ended at (the two say why a session ran past its budget).
    """
    names = figure_names(result.config, result.data)
    lines = _kept_lines(result, names) if result.validation_loss is not None else [_best_line(result, names)]
    if result.test_score is not None:
        lines.append(
            f"test rows never seen by the search ({result.data.test.rows:,}): "
            f"{names.held_out_figures(result.test_loss, result.test_score)}"
        )
    if result.policy is None and result.objective is None and _differs(names, result):
        lines.append(
            f"the training loss is the one the climbs minimise ({names.loss}); held-out and test rows are scored by "
            f"{names.held_out_loss}, without the L2 term"
        )
    if result.regression and result.target_scaling is not None and result.target_scaling.kind != "none":
        lines.append("losses are of the targets as scaled on the training rows (standard); R^2 is the same either way")
    figure = seed_figure(result.config)
    if figure is not None:
        lines.append(figure.describe())
    lines.append(cost_line(result, session_seconds))
    over = over_budget_line(result, session_seconds, last_round_end)
    if over is not None:
        lines.append(over)
    lines.append(rounds_line(result))
    if result.policy is not None:
        lines.append(f"its returns on episodes it never trained on: {program} evaluate {run_dir}")
    written = [run_dir / "result.json", run_dir / "weights.npz", *(plots or [])]
    lines.append(f"written: {', '.join(str(path) for path in written)}")
    print("\n".join(lines), file=stream)


def _differs(names: FigureNames, result) -> bool:
    """Whether the training loss is another figure than the held-out rows' (the L2 term, or another loss)."""
    held = result.validation_loss is not None or result.test_loss is not None
    return held and names.loss != names.held_out_loss


def _best_line(result, names: FigureNames) -> str:
    """The best network and its figures on the training rows (a policy's return, an objective's value)."""
    stop = f"after {result.rounds_completed} rounds ({result.stopped_because.text} reached)"
    if result.policy is not None:
        last = result.rounds_completed - 1
        return (
            f"kept policy {stop}: return {-result.best_loss:.2f}, its mean on round {last}'s "
            f"{result.config.episodes} training episodes (each round scores it again on new episodes, so this can "
            "fall from round to round and after a resume)"
        )
    if names.score is None:
        return f"best {stop}: {names.training_figures(result.best_loss, None)}"
    figures = names.training_figures(result.best_loss, result.best_score)
    return f"best network {stop}: on the {names.training()}: {figures}"


def _kept_lines(result, names: FigureNames) -> list[str]:
    """The network kept for its held-out figures, and the last round's beside it when that is another."""
    from coordinator.rounds.best import REGRESSION_SELECTION_RULE, SELECTION_RULE

    last = result.history[-1]
    rule = REGRESSION_SELECTION_RULE if result.regression else SELECTION_RULE
    lines = [
        f"kept the network of round {result.selected_round} of {result.rounds_completed} ({rule}): "
        f"on the {names.held_out()}: {names.held_out_figures(result.validation_loss, result.validation_score)}; "
        f"on the {names.training()}: {names.training_figures(result.best_loss, result.best_score)} "
        f"({result.stopped_because.text} reached)"
    ]
    if result.selected_round != last.round and last.validation_score is not None:
        lines.append(
            f"the last round's network: held-out {names.held_out_figures(last.validation_loss, last.validation_score)}"
            f"; training {names.training_figures(last.best_loss, last.best_score)}"
        )
    return lines


def rounds_line(result) -> str:
    """What the climbers bought: who won the rounds, and the losses computed one after another."""
    history = result.history
    config = result.config
    if config.population is not None and config.search != "climb":  # a population strategy's rounds: generations
        return generations_line(result)
    combined = sum(record.combined for record in history)
    single = sum(record.winning_climber is not None for record in history)
    critical = [record.critical_evaluations for record in history if record.critical_evaluations is not None]
    coordinator = sum(record.coordinator_evaluations for record in history)
    text = (
        f"rounds of {config.climbers} climber(s) x {config.steps:,} steps: {single} won by a single climber, "
        f"{combined} by a recombination of several climbers' changes, {len(history) - single - combined} by none"
    )
    if critical:
        text += f"; {sum(critical):,} evaluations one after another ({coordinator:,} of them the coordinator's)"
    if result.data is not None and result.data.shares > 1:
        shares = result.data.shares
        led = [sum(record.winning_share == share for record in history) for share in range(shares)]
        text += (
            f"; {shares} row shares of {share_sizes(result.data.share_rows)} rows, the climbs' lead (the climber "
            f"whose share's loss fell most) on share 0-{shares - 1}: {', '.join(map(str, led))} rounds"
        )
    return text


def generations_line(result) -> str:
    """What a population strategy's rounds bought: generations of how many, and the evaluations one after another."""
    config, history = result.config, result.history
    critical = sum(record.critical_evaluations or 0 for record in history)
    return (
        f"rounds of one {config.search} generation each: {config.population} members, the centre and the best so far "
        f"scored under the round's draws; {result.evaluations:,} evaluations, {critical:,} of them one after another "
        "(the most one worker made in each round)"
    )


def share_sizes(sizes: list[int] | None) -> str:
    """The rows a share holds, in words: '750' or '749-750'."""
    if not sizes:
        return "?"
    return f"{min(sizes):,}" if min(sizes) == max(sizes) else f"{min(sizes):,}-{max(sizes):,}"


def cost_line(result, session_seconds: float | None) -> str:
    """Evaluations, time and rates of this session (a resumed run's earlier sessions said apart), and where its
    rounds ran."""
    session = result.history[-1].session
    records = [record for record in result.history if record.session == session]
    evaluations = sum(record.evaluations for record in records)
    climbing_seconds = sum(record.wall_seconds for record in records)
    if session_seconds is None:
        session_seconds = result.wall_seconds if session == 0 else climbing_seconds
    rate = evaluations / session_seconds if session_seconds > 0 else 0.0
    climbing = f", {evaluations / climbing_seconds:,.0f}/s while climbing" if climbing_seconds > 0 else ""
    text = (
        f"{evaluations:,} evaluations in {session_seconds:.1f} s ({rate:,.0f}/s overall{climbing}); "
        f"{where_line(result, records)}"
    )
    if session == 0:
        return text
    return (
        f"this session (resumed after round {records[0].round - 1}): {len(records)} rounds, {text}; the whole run: "
        f"{session + 1} sessions, {result.evaluations:,} evaluations in {result.wall_seconds:.1f} s"
    )


def where_line(result, records) -> str:
    """Where the session's rounds ran: "rounds 0-11 climbed in this process while Ray started, 12-40 on 2 worker
    actors (2 asked for, 2 CPUs, 1 node)"."""
    environment = result.environment
    machine = f"{environment.cpus} CPU(s), {environment.nodes} node(s)"
    if environment.executor == "inprocess":
        return f"every round in this process (--inprocess; {machine})"
    spans = placement_spans(records)
    if not spans:  # records that do not say (an older file, a caller's own executor)
        return f"on {environment.workers} worker(s), {machine}"
    said = [_span_words(span, index == 0) for index, span in enumerate(spans)]
    text = f"{', '.join(said)} ({environment.workers} worker actor(s) asked for, {machine})"
    if all(span.where == "driver" for span in spans):
        text += (
            "; no worker actor climbed: Ray was still starting when the run ended, and its start shared the CPUs "
            "with these rounds (--inprocess climbs without starting it)"
        )
    return text


def _span_words(span: Span, first: bool) -> str:
    """ "rounds 0-11 climbed in this process while Ray started", "12-40 on 2 worker actor(s)"."""
    rounds = f"{span.first}" if span.rounds == 1 else f"{span.first}-{span.last}"
    rounds = (("rounds " if span.rounds > 1 else "round ") if first else "") + rounds
    if span.where == "driver":
        return f"{rounds} climbed in this process while Ray started"
    if span.where == "both":
        return f"{rounds} partly in this process, partly on {span.actors} worker actor(s) as they came up"
    return f"{rounds} on {span.actors} worker actor(s)"


def over_budget_line(result, session_seconds: float | None, last_round_end: float | None) -> str | None:
    """Why a session ran more than OVER_BUDGET_S past its time budget (None: it did not, or it had none)."""
    budget = result.config.time_budget
    if budget is None or session_seconds is None or session_seconds <= budget + OVER_BUDGET_S:
        return None
    text = f"the {budget:g} s budget ran to {session_seconds:.1f} s"
    if last_round_end is None:
        return text
    session = result.history[-1].session
    records = [record for record in result.history if record.session == session]
    reasons = []
    if last_round_end > budget + 0.5:
        longest = max(record.wall_seconds for record in records)
        reasons.append(
            f"the last round ended at {last_round_end:.1f} s (the budget is checked between rounds, here of up to "
            f"{longest:.1f} s)"
        )
    after = session_seconds - last_round_end
    if after > 0.5:
        stopping = ", stopping Ray among it" if result.environment.executor == "ray" else ""
        reasons.append(f"saving the result and closing took {after:.1f} s{stopping}")
    return text + (": " + "; ".join(reasons) if reasons else "")
