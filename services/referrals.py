"""Invite links and the referral reward: credits for both people once the invitee's first
paid batch succeeds (never on sign-up, never for inviting oneself, once per invitee)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from db.models import Batch, LedgerReason, PaidWith, Referral
from db.uow import UnitOfWork
from services.accounts import existing_account
from services.errors import ServiceError

INVITE_PREFIX = "ref_"
CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
CODE_LENGTH = 8
MAKE_ATTEMPTS = 5


class SelfReferral(ServiceError):
    code = "self_referral"


class ReferralClosed(ServiceError):
    """Only an account made by this very invitation can be invited."""

    code = "referral_closed"


class UnknownInviteCode(ServiceError):
    code = "referral_unknown"


def invite_code_from_start(argument: str) -> str | None:
    """The invite code in a `/start ref_<code>` payload, or None for any other payload."""
    if not argument.startswith(INVITE_PREFIX):
        return None
    code = argument.removeprefix(INVITE_PREFIX)
    return code if code and all(ch in CODE_ALPHABET for ch in code) else None


def invite_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username}?start={INVITE_PREFIX}{code}"


async def invite_code(uow: UnitOfWork, account_id: int, *, now: datetime) -> str:
    """Return the account's invite code, making it on first use.

    Raises:
        AccountNotFound: no such account.
    """
    async with uow:
        await existing_account(uow, account_id)
        code = await uow.extras.invite_code_of(account_id)
        for _ in range(MAKE_ATTEMPTS):
            if code is not None:
                break
            candidate = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            await uow.extras.add_invite_code(account_id, candidate, now)
            # A concurrent first use may have won, or (rarely) another account has the code:
            # read back whichever code this account kept.
            code = await uow.extras.invite_code_of(account_id)
        if code is None:
            raise RuntimeError(f"no free invite code for account {account_id}")
        await uow.commit()
    return code


@dataclass(frozen=True, slots=True)
class Invitation:
    referrer_account_id: int
    invitee_credits: int


async def accept_invitation(
    uow: UnitOfWork,
    invitee_account_id: int,
    code: str,
    *,
    new_account: bool,
    referrer_credits: int,
    invitee_credits: int,
    now: datetime,
) -> Invitation:
    """Record who invited a new account; the reward comes after its first paid batch.

    Raises:
        UnknownInviteCode: no account has this code.
        SelfReferral: the code is the invitee's own.
        ReferralClosed: the account has used the service already, or was invited already.
    """
    async with uow:
        referrer = await uow.extras.owner_of_invite_code(code)
        if referrer is None:
            raise UnknownInviteCode(f"no invite code {code!r}")
        if referrer == invitee_account_id:
            raise SelfReferral("an account cannot invite itself")
        if not new_account and await uow.account_links.has_activity(invitee_account_id):
            raise ReferralClosed("only new accounts can be invited")
        added = await uow.extras.add_referral(
            Referral(
                invitee_account_id=invitee_account_id,
                referrer_account_id=referrer,
                referrer_credits=referrer_credits,
                invitee_credits=invitee_credits,
                created_at=now,
            )
        )
        if not added:
            raise ReferralClosed("this account was invited already")
        await uow.commit()
    return Invitation(referrer, invitee_credits)


@dataclass(frozen=True, slots=True)
class ReferralReward:
    referrer_account_id: int
    invitee_account_id: int
    referrer_credits: int
    invitee_credits: int


async def reward_referral_if_due(
    uow: UnitOfWork, batch: Batch, succeeded: int, now: datetime
) -> ReferralReward | None:
    """Inside the settlement's unit of work: reward the referral of the batch's account once,
    when this is a paid batch with a success and the invitee has bought credits.

    "Paid" means money: a batch paid by the plan's quota, or in credits by someone who has
    bought credits; welcome, promo or granted credits alone never earn the referrer a reward.
    """
    if succeeded == 0:
        return None
    if batch.paid_with == PaidWith.CREDITS and not (
        batch.credits_charged > batch.refunded_credits
        and await uow.extras.has_bought_credits(batch.account_id)
    ):
        return None
    referral = await uow.extras.claim_referral_reward(batch.account_id, batch.id, now)
    if referral is None:
        return None
    for account_id, credits in (
        (referral.referrer_account_id, referral.referrer_credits),
        (referral.invitee_account_id, referral.invitee_credits),
    ):
        if credits:
            await uow.ledger.apply(
                account_id=account_id,
                delta=credits,
                reason=LedgerReason.REFERRAL,
                reference=f"referral:{referral.invitee_account_id}",
                idempotency_key=f"referral:{referral.invitee_account_id}:{account_id}",
                now=now,
            )
    return ReferralReward(
        referral.referrer_account_id,
        referral.invitee_account_id,
        referral.referrer_credits,
        referral.invitee_credits,
    )


# The inviter hears of the reward once, after the settlement that paid it has committed.
# The claim is a row of reminders_sent (its unique key makes it once-only), released only when
# the message could not be sent, so a retry may send it.
REFERRER_NOTICE = "referral_reward"
# WhatsApp allows a free-form message only within a day of the person's last message.
WHATSAPP_WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class ReferrerNotice:
    referrer_account_id: int
    invitee_account_id: int
    credits: int
    balance: int
    channel: str
    chat: Mapping[str, Any]
    language: str


async def claim_referrer_notice(
    uow: UnitOfWork, invitee_account_id: int, *, now: datetime
) -> ReferrerNotice | None:
    """Claim the message telling the inviter that their reward arrived; None when it is not
    due (no reward committed yet, nothing promised), already claimed, or cannot reach them now
    (a WhatsApp-only inviter outside the 24-hour window: a later sweep tries again)."""
    async with uow:
        referral = await uow.extras.referral(invitee_account_id)
        if referral is None or referral.rewarded_at is None or not referral.referrer_credits:
            return None
        referrer = await uow.accounts.get(referral.referrer_account_id)
        if referrer is None:
            return None
        chat: dict[str, Any]
        if referrer.telegram_id is not None:
            channel, chat = "telegram", {"chat_id": referrer.telegram_id}
        elif referrer.whatsapp_number is not None:
            last = await uow.whatsapp.last_inbound(referrer.whatsapp_number)
            if last is None or now - last >= WHATSAPP_WINDOW:
                return None
            channel, chat = "whatsapp", {"number": referrer.whatsapp_number}
        else:
            return None  # an account of the HTTP API alone has no chat to tell
        subject = str(invitee_account_id)
        if not await uow.reminders.claim(referrer.id, REFERRER_NOTICE, subject, now):
            return None
        await uow.commit()
    return ReferrerNotice(
        referrer.id,
        invitee_account_id,
        referral.referrer_credits,
        referrer.balance,
        channel,
        {**chat, "language": referrer.language},
        referrer.language,
    )


async def release_referrer_notice(uow: UnitOfWork, notice: ReferrerNotice) -> None:
    """The message was not sent: let a retry claim it again."""
    async with uow:
        await uow.reminders.release(
            notice.referrer_account_id, REFERRER_NOTICE, str(notice.invitee_account_id)
        )
        await uow.commit()


async def unannounced_rewards(uow: UnitOfWork, *, since: datetime) -> list[int]:
    """Invitees whose reward since `since` has not been announced to the inviter (a message
    lost between the settlement's commit and the queue, or a WhatsApp window that was shut)."""
    async with uow:
        referrals = await uow.extras.rewarded_referrals_since(since)
        claimed = await uow.reminders.claimed_subjects(
            REFERRER_NOTICE, [r.referrer_account_id for r in referrals]
        )
    return [
        r.invitee_account_id
        for r in referrals
        if (r.referrer_account_id, str(r.invitee_account_id)) not in claimed
    ]
