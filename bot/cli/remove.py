"""`bgbot remove`: cut out local files with the same engines and options the service uses."""

from __future__ import annotations

import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import click

from services.engines.base import EngineError, ModelMissing
from services.engines.registry import EngineCatalog, UnknownEngine
from services.imaging.compose import InvalidOptions, OutputOptions
from services.imaging.cutout import cut_out, write_result
from services.imaging.inputs import gather_inputs
from services.imaging.intake import ImageRejected
from services.imaging.package import result_name, unique_names
from services.pricing import Tier
from services.settings import load_settings
from workers.cutout import engine_config


@click.command()
@click.argument(
    "inputs",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--tier", type=click.Choice([tier.value for tier in Tier]), help="engine of a tier")
@click.option("--model", help="an engine by name: a local model, or huggingface:/segmind:<model>")
@click.option("--bg", help="background colour (white, black or #RRGGBB); default transparent")
@click.option("--crop", is_flag=True, help="crop to the subject, with a margin")
@click.option("--square", is_flag=True, help="centre on a square canvas")
def remove(  # noqa: PLR0917 -- one parameter per command-line option
    inputs: tuple[Path, ...],
    out_dir: Path,
    tier: str | None,
    model: str | None,
    bg: str | None,
    crop: bool,
    square: bool,
) -> None:
    """Write one PNG per input image into --out (a ZIP input yields its images)."""
    if tier and model:
        raise click.UsageError("give --tier or --model, not both")
    try:
        options = OutputOptions(background=bg, crop=crop, square=square)
    except InvalidOptions as invalid:
        raise click.BadParameter(str(invalid), param_hint="--bg") from invalid
    settings = load_settings()
    catalog = EngineCatalog(engine_config(settings))
    try:
        engine = catalog.named(model) if model else catalog.for_tier(Tier(tier or "basic"))
    except UnknownEngine as unknown:
        raise click.BadParameter(str(unknown), param_hint="--model") from unknown
    failed = written = 0
    with tempfile.TemporaryDirectory(prefix="bgbot-remove-") as workdir:
        gathered = gather_inputs(inputs, Path(workdir), settings.archive_limits())
        for failure in gathered.failures:
            failed += 1
            click.echo(f"skipped {failure.name}: {failure.reason}", err=True)
        names = unique_names(
            [result_name(image.name, options.extension) for image in gathered.images]
        )
        total = len(gathered.images)
        outcomes = _cut_out_in_order(
            [image.path for image in gathered.images],
            lambda path: cut_out(path, engine, options, settings.intake_limits()),
            settings.worker_threads,
        )
        for number, (image, name, outcome) in enumerate(
            zip(gathered.images, names, outcomes, strict=True), 1
        ):
            if isinstance(outcome, ModelMissing):
                raise click.ClickException(str(outcome)) from outcome
            if isinstance(outcome, ImageRejected):
                failed += 1
                click.echo(f"[{number}/{total}] {image.name}: refused ({outcome.code})", err=True)
                continue
            if isinstance(outcome, EngineError):
                failed += 1
                click.echo(f"[{number}/{total}] {image.name}: failed ({outcome})", err=True)
                continue
            path = write_result(outcome, out_dir / name)
            written += 1
            click.echo(f"[{number}/{total}] {image.name} -> {path}")
    click.echo(f"{written} written to {out_dir}, {failed} not processed")
    if failed:
        raise SystemExit(1)


def _cut_out_in_order(
    paths: list[Path], cut: Callable[[Path], bytes], workers: int
) -> Iterator[bytes | ImageRejected | EngineError]:
    """Cut out `paths` on `workers` threads, yielding each result or refusal in input order.

    One image at a time leaves a core idle while it decodes and encodes; with the worker
    pool's thread count, another image's inference runs meanwhile (the engine keeps the
    inferences within the CPUs). At most two images per thread are ahead of the one being
    written, so a long batch of 12 MP photos never holds all its results in memory.
    """

    def attempt(path: Path) -> bytes | ImageRejected | EngineError:
        try:
            return cut(path)
        except (ImageRejected, EngineError) as error:
            return error

    with ThreadPoolExecutor(workers, thread_name_prefix="remove") as pool:
        ahead: deque[Future[bytes | ImageRejected | EngineError]] = deque()
        pending = iter(paths)
        try:
            for path in pending:
                ahead.append(pool.submit(attempt, path))
                if len(ahead) >= 2 * workers:
                    yield ahead.popleft().result()
            while ahead:
                yield ahead.popleft().result()
        finally:
            for future in ahead:
                future.cancel()
