"""The cutout engine as the workers use it: errors sorted into permanent and transient."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from services.engines.base import EngineFailed, EngineUnavailable, ModelMissing
from services.engines.onnx_local import Acceleration
from services.engines.registry import EngineCatalog, EngineConfig
from services.engines.remote import RetryPolicy
from services.imaging.compose import InvalidOptions, OutputOptions
from services.imaging.cutout import cut_out, write_result
from services.imaging.intake import ImageRejected
from services.imaging.package import Failure, result_name, unique_names, zip_parts
from services.pipeline import BatchOutcome, JobWork
from services.pricing import Tier
from services.settings import Settings
from workers.actors import Cutter, Packager, PermanentFailure, TransientFailure


def engine_config(settings: Settings) -> EngineConfig:
    def secret(value: object) -> str | None:
        return value.get_secret_value() if value is not None else None  # type: ignore[attr-defined]

    return EngineConfig(
        tier_engines={tier: settings.engine_for(tier) for tier in Tier},
        fallback=settings.resolved_fallback_engine,
        tier_plans=settings.tier_plans(),
        models_dir=settings.resolved_models_dir,
        threads=settings.onnx_threads,
        acceleration=Acceleration(settings.onnx_acceleration),
        cache_dirs=(settings.data_dir,),
        huggingface_url=settings.huggingface_api_url,
        huggingface_key=secret(settings.huggingface_api_key),
        segmind_url=settings.segmind_api_url,
        segmind_key=secret(settings.segmind_api_key),
        retry=RetryPolicy(
            attempts=settings.remote_retry_attempts, first_wait=settings.remote_retry_wait_seconds
        ),
    )


def cut_out_job(settings: Settings) -> Cutter:
    """Build the function the workers call for each image."""
    catalog = EngineCatalog(engine_config(settings))
    limits = settings.intake_limits()

    def cutter(work: JobWork, source: Path, results_dir: Path) -> Path:
        try:
            options = OutputOptions.from_dict(work.options)
        except (InvalidOptions, TypeError):
            options = OutputOptions()
        try:
            data = cut_out(source, catalog.for_tier(work.tier), options, limits)
        except ImageRejected as rejected:
            raise PermanentFailure(rejected.code) from rejected
        except FileNotFoundError as missing:
            raise PermanentFailure("file_missing") from missing
        except EngineFailed as failed:
            raise PermanentFailure("engine_failed") from failed
        except (EngineUnavailable, ModelMissing) as unavailable:
            raise TransientFailure(str(unavailable)) from unavailable
        return write_result(data, results_dir / f"{work.position:04d}{options.extension}")

    return cutter


def package_batch(settings: Settings) -> Packager:
    """Build the function that turns a finished batch into the files to send."""
    # Megabytes as Telegram counts them (10**6 bytes): 49 MB parts stay under its 50 MB upload.
    part_bytes = settings.zip_part_mb * 10**6

    def packager(outcome: BatchOutcome, data_dir: Path) -> Sequence[tuple[Path, str]]:
        results = [
            (data_dir / job.output_path, job.input_name)
            for job in outcome.results
            if job.output_path
        ]
        names = unique_names([result_name(name, path.suffix) for path, name in results])
        if outcome.batch.image_count == 1 and len(results) == 1:
            return [(results[0][0], names[0])]
        if not results:
            return []
        failures = [Failure(f.name, f.reason) for f in outcome.failures]
        destination = data_dir / "results" / str(outcome.batch.id)
        parts = zip_parts(
            [(path, name) for (path, _), name in zip(results, names, strict=True)],
            failures,
            destination,
            stem=f"cutouts-{outcome.batch.id}",
            part_bytes=part_bytes,
        )
        return [(part, part.name) for part in parts]

    return packager
