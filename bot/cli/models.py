"""`bgbot models`: which segmentation models exist, which are on disk, and fetching them."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import click
import httpx
from tqdm import tqdm

from services.engines.download import DownloadFailed, download_model, model_url
from services.engines.onnx_local import MODELS
from services.settings import Settings, load_settings


@click.group()
def models() -> None:
    """List the local segmentation models and download their weights."""


@models.command("list")
def models_list() -> None:
    """Show each local model, its file in MODELS_DIR, and whether it is there."""
    settings = load_settings()
    models_dir = settings.resolved_models_dir
    for name, spec in sorted(MODELS.items()):
        state = "present" if (models_dir / spec.filename).is_file() else "missing"
        source = "downloadable" if model_url(spec, settings.models_base_url) else "place by hand"
        licence = "" if spec.commercial_use else ", non-commercial licence"
        click.echo(f"{name:24} {state:8} {models_dir / spec.filename} ({source}{licence})")


@models.command("download")
@click.argument("names", nargs=-1, type=click.Choice(sorted(MODELS)))
def models_download(names: tuple[str, ...]) -> None:
    """Fetch NAMES' official weights into MODELS_DIR, verifying their checksums.

    With no NAME, fetch every local model the configured tiers' recipes need.
    """
    settings = load_settings()
    wanted = list(names) or configured_models(settings)
    if not names:
        click.echo(f"the configured tiers need: {', '.join(wanted) or 'no local model'}")
    failures = []
    with httpx.Client() as client:
        for name in wanted:
            try:
                _download_one(name, settings.resolved_models_dir, settings.models_base_url, client)
            except DownloadFailed as failed:
                failures.append(f"{name}: {failed}")
                click.echo(f"{name}: {failed}", err=True)
    if failures:
        raise click.ClickException(f"{len(failures)} of {len(wanted)} models not fetched")


def configured_models(settings: Settings) -> list[str]:
    """The local models of the configured tiers' recipes and their fallbacks."""
    names: set[str] = set()
    for plan in settings.tier_plans().values():
        for recipe in (plan.recipe, plan.fallback):
            if recipe is not None and recipe.engine in MODELS:
                names.add(recipe.engine)
    return sorted(names)


def _download_one(name: str, models_dir: Path, base_url: str | None, client: httpx.Client) -> None:
    spec = MODELS[name]
    bar: tqdm[NoReturn] | None = None

    def start(total: int | None) -> None:
        nonlocal bar
        bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=spec.filename)

    def advance(count: int) -> None:
        if bar is not None:
            bar.update(count)

    try:
        fetched = download_model(
            spec, models_dir, client=client, base_url=base_url, on_start=start, on_bytes=advance
        )
    except OSError as error:
        # An unwritable or full MODELS_DIR: say which directory, not a traceback.
        raise click.ClickException(
            f"cannot write {spec.filename} into {models_dir}: {error}"
        ) from error
    finally:
        if bar is not None:
            bar.close()
    if fetched.downloaded:
        click.echo(f"{name}: downloaded and verified {fetched.path}")
    else:
        click.echo(f"{name}: {fetched.path} is already there; using it as it is")
