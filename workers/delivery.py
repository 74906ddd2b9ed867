"""How results reach people: the interface each chat channel implements, and the summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from bot.chat import shown_name
from bot.messages import reason, text, text_count
from services.billing import Settlement
from services.pipeline import FailedImage, Progress

Chat = Mapping[str, Any]


class Delivery(Protocol):
    """What a chat channel offers the workers; `chat` is the channel's own address of a chat."""

    @property
    def progress_interval(self) -> timedelta:
        """The shortest pause between two progress updates the channel accepts."""
        ...

    async def send_text(self, chat: Chat, message: str) -> None: ...

    async def edit_status(self, chat: Chat, message: str) -> None: ...

    async def send_document(
        self, chat: Chat, path: Path, filename: str, caption: str | None = None
    ) -> None: ...


@runtime_checkable
class ClosesClients(Protocol):
    """A channel that holds network clients, closed on the loop that made them."""

    async def close(self) -> None: ...


@runtime_checkable
class SendsSummary(Protocol):
    """A channel that adds its own buttons to a batch's summary (redo at another tier)."""

    async def send_summary(self, chat: Chat, message: str) -> None: ...


class DeliveryError(Exception):
    """The channel could not show something; channels raise it for transport failures."""


class UnknownChannel(LookupError):
    """A batch names a channel this process has no delivery for."""


def progress_text(progress: Progress, language: str) -> str:
    return text(
        "progress", language, finished=progress.done + progress.failed, total=progress.total
    )


@dataclass(frozen=True, slots=True)
class Summary:
    settlement: Settlement
    failures: Sequence[FailedImage]
    total: int


def summary_text(summary: Summary, language: str) -> str:
    """Say what succeeded, what failed and why, and what came back."""
    settlement = summary.settlement
    lines = []
    if settlement.succeeded:
        lines.append(
            text_count(
                "summary.done",
                language,
                summary.total,
                succeeded=settlement.succeeded,
                total=summary.total,
            )
        )
    elif not settlement.cancelled or settlement.failed:
        lines.append(text("summary.all_failed", language))  # a batch wholly cancelled did not fail
    if summary.failures:
        lines.append(text("summary.failed_header", language, count=len(summary.failures)))
        shown = summary.failures[:20]
        lines.extend(f"• {shown_name(f.name)}: {reason(f.reason, language)}" for f in shown)
        if len(summary.failures) > len(shown):
            lines.append(f"• … +{len(summary.failures) - len(shown)}")
    if settlement.cancelled:
        lines.append(text_count("summary.cancelled", language, settlement.cancelled))
    if settlement.refunded_credits:
        credits = settlement.refunded_credits
        lines.append(text_count("summary.refund", language, credits, credits=credits))
    if settlement.quota_returned:
        images = settlement.quota_returned
        lines.append(text_count("summary.quota_back", language, images, images=images))
    referral = settlement.referral
    if referral is not None and referral.invitee_credits:
        lines.append(text("invite.rewarded", language, credits=referral.invitee_credits))
    return "\n".join(lines)


async def deliver_results(
    delivery: Delivery,
    chat: Chat,
    files: Sequence[tuple[Path, str]],
    summary: Summary,
    language: str,
) -> None:
    """Send the result files, then the summary as the last word."""
    for number, (path, filename) in enumerate(files, start=1):
        caption = (
            text("summary.part", language, part=number, parts=len(files))
            if len(files) > 1
            else None
        )
        await delivery.send_document(chat, path, filename, caption)
    if isinstance(delivery, SendsSummary):
        await delivery.send_summary(chat, summary_text(summary, language))
    else:
        await delivery.send_text(chat, summary_text(summary, language))
