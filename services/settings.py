"""Service settings, read from the environment once by each process's composition root.

Nothing below `bot/` and `workers/` imports this module's `load_settings`: services take plain
arguments, so tests build them without an environment.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.imaging.archive import ArchiveLimits
from services.imaging.intake import IntakeLimits
from services.pricing import Tier
from services.recipes.ladder import LadderChoices, Preset, TierPlan, resolve_ladder
from services.recipes.spec import InvalidRecipe


class Settings(BaseSettings):
    """Every configuration variable of the service, with its default."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    # Telegram
    telegram_bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org/bot"
    telegram_file_url: str = "https://api.telegram.org/file/bot"
    telegram_local_mode: bool = False
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    # Seconds of quiet after which the files of one chat (an album, a quick series) are
    # quoted together, and the shortest pause between two progress edits of one message.
    gather_seconds: float = Field(default=1.5, gt=0)
    telegram_poll_seconds: int = Field(default=10, ge=0)  # long polling wait
    telegram_progress_seconds: float = Field(default=3.0, ge=0)
    # Telegram Stars prices: credit packs as CREDITS=STARS pairs, and 30 days of each plan.
    stars_credit_packs: Annotated[dict[int, int], NoDecode] = Field(
        default_factory=lambda: {100: 50, 500: 240, 1500: 690}
    )
    stars_plan_starter: int = Field(default=480, gt=0, le=10_000)
    stars_plan_pro: int = Field(default=1450, gt=0, le=10_000)

    # WhatsApp Cloud API
    whatsapp_access_token: SecretStr | None = None
    whatsapp_phone_number_id: str | None = None
    whatsapp_app_secret: SecretStr | None = None
    whatsapp_verify_token: SecretStr | None = None
    whatsapp_api_url: str = "https://graph.facebook.com/v21.0"
    # Signs the download links of results. Unset: derived from WHATSAPP_APP_SECRET, so links
    # survive restarts without another secret to manage; set it to rotate links independently.
    link_secret: SecretStr | None = None

    # Rupiah payments by payment link (QRIS, e-wallets, virtual accounts). Unset server key:
    # no rupiah payments, the rest of the service runs as before.
    payment_gateway: str = "midtrans"
    midtrans_server_key: SecretStr | None = None
    midtrans_production: bool = False
    # Unset: Midtrans's own sandbox or production URLs, after MIDTRANS_PRODUCTION.
    midtrans_api_url: str | None = None
    midtrans_snap_url: str | None = None
    # Credit packs in rupiah as RUPIAH=CREDITS pairs; the larger ones carry a bonus.
    rupiah_credit_packs: Annotated[dict[int, int], NoDecode] = Field(
        default_factory=lambda: {50_000: 500, 100_000: 1_050, 250_000: 2_750}
    )
    payment_link_hours: int = Field(default=24, gt=0, le=24 * 30)
    payment_timeout_seconds: float = Field(default=10.0, gt=0)
    renewal_reminder_days: int = Field(default=3, gt=0)
    # Approved WhatsApp message templates for notices outside the 24-hour window.
    whatsapp_template_receipt: str = "payment_receipt"
    whatsapp_template_renewal: str = "plan_renewal"
    # Reminders and a payment's refund, expiry or failure: one body value, the notice's text.
    whatsapp_template_notice: str = "account_notice"
    # Reminders (each once; a person turns them off in /settings): a balance under this after
    # a batch, a plan ending within RENEWAL_REMINDER_DAYS, results deleted within a day.
    low_balance_credits: int = Field(default=25, ge=0)

    # Storage and queue
    data_dir: Path = Path("data")
    database_url: str | None = None
    redis_url: str | None = None
    models_dir: Path | None = None
    # A mirror serving model files as {base}/{filename}; unset: each model's official URL.
    models_base_url: str | None = None

    # Remote engines
    huggingface_api_key: SecretStr | None = None
    segmind_api_key: SecretStr | None = None

    # Operations
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    timezone: str = "Asia/Jakarta"
    public_base_url: str = "http://localhost:8080"
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=1, le=65535)
    log_level: str = "INFO"
    # One line per record: key=value fields (text) or a JSON object (json), tracebacks included.
    log_format: Literal["text", "json"] = "text"

    # Product knobs
    welcome_credits: int = Field(default=30, ge=0)
    credit_price_rp: int = Field(default=100, gt=0)
    quote_ttl_minutes: int = Field(default=60, gt=0)
    retention_days: int = Field(default=7, gt=0)
    engine_cost_basic_rp: Decimal = Decimal("17.5")
    engine_cost_standard_rp: Decimal = Decimal("51.75")
    engine_cost_professional_rp: Decimal = Decimal("86.25")
    engine_cost_industry_rp: Decimal = Decimal("138")

    # Chat extras: help's support contact, free previews, invitations
    support_contact: str = ""  # shown by /help, e.g. "@shop_support" or an e-mail address
    previews_per_day: int = Field(default=3, ge=0)  # free watermarked previews per person
    preview_max_side: int = Field(default=384, ge=64, le=2048)
    referral_referrer_credits: int = Field(default=50, ge=0)  # to whoever invited
    referral_invitee_credits: int = Field(default=50, ge=0)  # to the invited person

    # Job pipeline
    # Images cut out at once per worker process: by a local model (CPU bound, so the CPU
    # count), and by a remote engine (waiting on the network, so many more). With ONNX_THREADS
    # at the CPU count too, inferences take turns on all cores while the other images decode
    # and encode: bench/threads.py, docs/measured.md ("Thread layout").
    worker_threads: int = Field(default_factory=lambda: os.cpu_count() or 1, gt=0)
    remote_worker_threads: int = Field(default_factory=lambda: 8 * (os.cpu_count() or 1), gt=0)
    redis_namespace: str = "bgbot"
    redis_heartbeat_timeout_ms: int = Field(default=60_000, gt=0)
    job_stale_after_seconds: int = Field(default=600, gt=0)
    queued_grace_seconds: int = Field(default=300, gt=0)
    sweep_interval_seconds: int = Field(default=60, gt=0)
    cleanup_interval_seconds: int = Field(default=3600, gt=0)
    retry_min_backoff_ms: int = Field(default=2_000, gt=0)
    retry_max_backoff_ms: int = Field(default=60_000, gt=0)

    # Cutout engine: each tier is a recipe (an engine plus post-steps, see docs/engine.md)
    # from TIER_PRESET's ladder. ENGINE_<TIER> swaps a tier's engine and keeps its steps: a
    # local model name, or `huggingface:<model>` / `segmind:<model>`, which need their API
    # key and fall back to the tier's local recipe (on FALLBACK_ENGINE when that is set).
    # ENGINE_ALL puts every tier on one local model (small installs: one model in memory).
    # RECIPE_<TIER> replaces a tier's whole recipe, e.g. `birefnet-general+guided+foreground`.
    tier_preset: Literal["default", "offline"] = "default"
    engine_all: str | None = None
    engine_basic: str | None = None
    engine_standard: str | None = None
    engine_professional: str | None = None
    engine_industry: str | None = None
    recipe_basic: str | None = None
    recipe_standard: str | None = None
    recipe_professional: str | None = None
    recipe_industry: str | None = None
    fallback_engine: str | None = None
    onnx_threads: int = Field(default_factory=lambda: os.cpu_count() or 1, gt=0)
    # auto: measured at a model's first load, the fastest path whose masks agree with float32
    # (kept in MODELS_DIR, else DATA_DIR); int8: `<model>.int8.onnx` beside the model file.
    onnx_acceleration: Literal["auto", "cpu", "openvino", "openvino-bf16", "int8"] = "auto"
    # The serverless Inference API now answers under the router; the old host is retired.
    huggingface_api_url: str = "https://router.huggingface.co/hf-inference"
    segmind_api_url: str = "https://api.segmind.com/v1"
    remote_retry_attempts: int = Field(default=3, gt=0)
    remote_retry_wait_seconds: float = Field(default=1.0, ge=0)
    max_image_mb: int = Field(default=50, gt=0)
    max_upload_mb: int = Field(default=512, gt=0)
    api_requests_per_minute: int = Field(default=60, gt=0)
    max_image_pixels: int = Field(default=40_000_000, gt=0)
    zip_part_mb: int = Field(default=49, gt=0)

    # HTTP API callbacks, stored uploads and metrics
    # Hosts a callback may reach over http or on a private address (tests, local integrations).
    callback_allowed_hosts: Annotated[frozenset[str], NoDecode] = frozenset()
    # The server-side key callback signing secrets derive from; unset: a random key kept in
    # DATA_DIR/callback-signing.key, made on first use.
    callback_signing_key: SecretStr | None = None
    # Waits between a callback's attempts: 6 attempts over about 23 hours by default.
    callback_retry_schedule_seconds: Annotated[tuple[float, ...], NoDecode] = (
        60.0,
        600.0,
        3600.0,
        21600.0,
        57600.0,
    )
    callback_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    callback_threads: int = Field(default=4, gt=0)
    max_stored_mb_per_account: int = Field(default=2048, gt=0)
    # Bearer token of GET /metrics; unset: /metrics answers loopback clients only.
    metrics_token: SecretStr | None = None
    # Many web processes (docs/architecture.md, "Scaling out"). A gathering whose process died
    # before quoting it is taken over by another process after this many seconds overdue.
    gather_orphan_seconds: float = Field(default=10.0, gt=0)
    # The path the web process serves Telegram's webhook at, when a reverse proxy rewrites
    # the public path of TELEGRAM_WEBHOOK_URL (unset: that URL's path).
    telegram_webhook_path: str | None = None
    # Proxies whose X-Forwarded-For/-Proto/-Host headers are believed (IPs or networks, comma
    # separated); unset: the headers are ignored and the peer is the client.
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()
    # WhatsApp messages are handled by a job on their own queue: its time limit and retries.
    whatsapp_job_seconds: int = Field(default=120, gt=0)
    whatsapp_job_retries: int = Field(default=4, ge=0)

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_admin_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(int(part) for part in value.replace(" ", "").split(",") if part)
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("callback_allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(part.strip().lower() for part in value.split(",") if part.strip())
        return value

    @field_validator("callback_retry_schedule_seconds", mode="before")
    @classmethod
    def _split_schedule(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(float(part) for part in value.replace(" ", "").split(",") if part)
        return value

    @field_validator("callback_retry_schedule_seconds")
    @classmethod
    def _bounded_schedule(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if len(value) > 20 or any(not 0 <= wait <= 7 * 86400 for wait in value):
            raise ValueError(
                "CALLBACK_RETRY_SCHEDULE_SECONDS: at most 20 waits of 0 to 604800 seconds"
            )
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part for part in value.replace(" ", "").split(",") if part)
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for proxy in value:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError as error:
                raise ValueError(f"TRUSTED_PROXIES: {proxy!r} is no IP or network") from error
        return value

    @field_validator("stars_credit_packs", mode="before")
    @classmethod
    def _parse_packs(cls, value: object) -> object:
        if isinstance(value, str):
            packs = {}
            for pair in value.replace(" ", "").split(","):
                if pair:
                    credits, _, stars = pair.partition("=")
                    packs[int(credits)] = int(stars)
            return packs
        return value

    @field_validator("stars_credit_packs")
    @classmethod
    def _sensible_packs(cls, value: dict[int, int]) -> dict[int, int]:
        if not value or any(c <= 0 or not 0 < s <= 10_000 for c, s in value.items()):
            raise ValueError("STARS_CREDIT_PACKS: CREDITS=STARS pairs, 1 to 10000 Stars each")
        return dict(sorted(value.items()))

    @field_validator("rupiah_credit_packs", mode="before")
    @classmethod
    def _parse_rupiah_packs(cls, value: object) -> object:
        if isinstance(value, str):
            packs = {}
            for pair in value.replace(" ", "").replace("_", "").split(","):
                if pair:
                    rupiah, _, credits = pair.partition("=")
                    packs[int(rupiah)] = int(credits)
            return packs
        return value

    @field_validator("rupiah_credit_packs")
    @classmethod
    def _sensible_rupiah_packs(cls, value: dict[int, int]) -> dict[int, int]:
        # Midtrans takes whole rupiah from Rp 1,000 on.
        if not value or any(r < 1_000 or c <= 0 for r, c in value.items()):
            raise ValueError("RUPIAH_CREDIT_PACKS: RUPIAH=CREDITS pairs, Rp 1000 or more each")
        return dict(sorted(value.items()))

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}") from error
        return value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # Operators paste the URLs their hosting gives them; name the async driver for them.
        for plain, driver in (
            ("postgres://", "postgresql+asyncpg://"),
            ("postgresql://", "postgresql+asyncpg://"),
            ("sqlite://", "sqlite+aiosqlite://"),
        ):
            if value.startswith(plain):
                return driver + value.removeprefix(plain)
        if not value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError("DATABASE_URL must be a postgresql:// or sqlite:// URL")
        return value

    @model_validator(mode="after")
    def _whatsapp_complete(self) -> Settings:
        whatsapp = {
            "WHATSAPP_ACCESS_TOKEN": self.whatsapp_access_token,
            "WHATSAPP_PHONE_NUMBER_ID": self.whatsapp_phone_number_id,
            "WHATSAPP_APP_SECRET": self.whatsapp_app_secret,
            "WHATSAPP_VERIFY_TOKEN": self.whatsapp_verify_token,
        }
        given = [name for name, value in whatsapp.items() if value]
        if given and len(given) != len(whatsapp):
            missing = sorted(set(whatsapp) - set(given))
            raise ValueError(f"WhatsApp is half configured: also set {', '.join(missing)}")
        return self

    @model_validator(mode="after")
    def _recipes_parse(self) -> Settings:
        try:
            self.tier_plans()
        except InvalidRecipe as invalid:
            raise ValueError(f"RECIPE_<TIER>: {invalid}") from invalid
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'bgbot.sqlite3').resolve()}"

    @property
    def resolved_models_dir(self) -> Path:
        return self.models_dir if self.models_dir is not None else self.data_dir / "models"

    @property
    def whatsapp_enabled(self) -> bool:
        return self.whatsapp_access_token is not None

    @property
    def payments_enabled(self) -> bool:
        return self.midtrans_server_key is not None

    def payment_link_secret(self) -> bytes:
        """The key of the service's own pay links, derived from the gateway's server key."""
        if self.midtrans_server_key is None:
            raise ValueError("pay links need MIDTRANS_SERVER_KEY")
        server_key = self.midtrans_server_key.get_secret_value().encode()
        return hmac.new(server_key, b"bgbot pay links", hashlib.sha256).digest()

    def download_link_secret(self) -> bytes:
        """The key of download links: LINK_SECRET, or one derived from the app secret."""
        if self.link_secret is not None:
            return self.link_secret.get_secret_value().encode()
        if self.whatsapp_app_secret is None:
            raise ValueError("download links need LINK_SECRET or WHATSAPP_APP_SECRET")
        app_secret = self.whatsapp_app_secret.get_secret_value().encode()
        return hmac.new(app_secret, b"bgbot download links", hashlib.sha256).digest()

    def intake_limits(self) -> IntakeLimits:
        return IntakeLimits(
            max_file_bytes=self.max_image_mb * 2**20, max_pixels=self.max_image_pixels
        )

    def archive_limits(self) -> ArchiveLimits:
        return ArchiveLimits(max_entry_bytes=self.max_image_mb * 2**20)

    @property
    def remote_keys(self) -> frozenset[str]:
        """The remote providers whose API key is set."""
        keys = {"huggingface": self.huggingface_api_key, "segmind": self.segmind_api_key}
        return frozenset(name for name, key in keys.items() if key is not None)

    def tier_plans(self) -> dict[Tier, TierPlan]:
        """Each tier's recipe, and the local one behind a remote engine."""
        return resolve_ladder(
            LadderChoices(
                preset=Preset(self.tier_preset),
                engine_all=self.engine_all,
                engines={
                    Tier.BASIC: self.engine_basic,
                    Tier.STANDARD: self.engine_standard,
                    Tier.PROFESSIONAL: self.engine_professional,
                    Tier.INDUSTRY: self.engine_industry,
                },
                recipes={
                    Tier.BASIC: self.recipe_basic,
                    Tier.STANDARD: self.recipe_standard,
                    Tier.PROFESSIONAL: self.recipe_professional,
                    Tier.INDUSTRY: self.recipe_industry,
                },
                fallback_engine=self.fallback_engine,
                remote_keys=self.remote_keys,
            )
        )

    def engine_for(self, tier: Tier) -> str:
        """The engine of the recipe serving `tier` (a remote one where its key is set)."""
        return self.tier_plans()[tier].recipe.engine

    def tiers_missing_models(self) -> dict[Tier, list[str]]:
        """Each configured tier that cannot run here, with the local models it lacks."""
        from services.recipes.availability import tiers_missing_models

        return tiers_missing_models(self.tier_plans(), self.resolved_models_dir, self.remote_keys)

    def available_tiers(self) -> frozenset[Tier]:
        """The tiers a quote may offer: those whose recipe can run on this install."""
        return frozenset(Tier) - frozenset(self.tiers_missing_models())

    @property
    def resolved_fallback_engine(self) -> str:
        """The local engine behind remote ones: FALLBACK_ENGINE, else the basic tier's."""
        if self.fallback_engine:
            return self.fallback_engine
        basic = self.tier_plans()[Tier.BASIC]
        local = basic.local_recipe
        return local.engine if local is not None else "isnet-general-use"

    def engine_cost_rp(self, tier: Tier) -> Decimal:
        """Return what the engine behind `tier` costs per image, in rupiah."""
        costs = {
            Tier.BASIC: self.engine_cost_basic_rp,
            Tier.STANDARD: self.engine_cost_standard_rp,
            Tier.PROFESSIONAL: self.engine_cost_professional_rp,
            Tier.INDUSTRY: self.engine_cost_industry_rp,
        }
        return costs[tier]


def load_settings() -> Settings:
    """Read the settings from the environment and from `.env` (or `BGBOT_ENV_FILE`)."""
    return Settings(_env_file=os.environ.get("BGBOT_ENV_FILE", ".env"))
