"""Invite links and the referral reward: credits for both people once the invitee's first
paid batch succeeds (never on sign-up, never for inviting oneself, once per invitee)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

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
