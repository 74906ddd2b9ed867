"""One account on two chat channels: a one-time code shown in one channel, sent from the other.

The code is short enough to type on a phone, and safe because it is random, lives ten minutes, is
used once and is stored only as a hash. Redeeming it moves the redeeming account's channel
identity (its Telegram id or WhatsApp number) onto the issuing account; the redeeming account is
left without an identity and keeps its ledger rows, which are never deleted. Money is never
merged: an account that did anything beyond receiving its welcome balance cannot be folded in.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from db.models import Account, LinkCode
from db.uow import UnitOfWork
from services.accounts import existing_account
from services.errors import AccountNotFound, ServiceError

LINK_CODE_TTL = timedelta(minutes=10)
# No 0/O, 1/I/L: people read the code off one screen and type it into another.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8  # 31**8, about 8.5e11 codes, each valid for ten minutes


class LinkCodeError(ServiceError):
    """Base of the errors a link code can meet."""

    code = "link_code_error"


class LinkCodeUnknown(LinkCodeError):
    code = "link_code_unknown"


class LinkCodeExpired(LinkCodeError):
    code = "link_code_expired"


class LinkCodeUsed(LinkCodeError):
    code = "link_code_used"


class LinkToSameAccount(LinkCodeError):
    """The code was sent from the account that issued it (or one already joined to it)."""

    code = "link_same_account"


class ChannelAlreadyLinked(LinkCodeError):
    """The issuing account already has a different identity on the redeeming channel."""

    code = "link_channel_taken"


class LinkedAccountHasActivity(LinkCodeError):
    """The redeeming account has its own credits, plans or work; joining would merge money."""

    code = "link_account_has_activity"


def normalise_code(text: str) -> str:
    """Upper-case and drop spaces and dashes, so `abcd-2345` and `ABCD2345` are the same code."""
    return "".join(ch for ch in text.upper() if ch.isalnum())


def looks_like_link_code(text: str) -> bool:
    """Whether a chat message is plausibly a link code (channels use it to route plain text)."""
    code = normalise_code(text)
    return len(code) == CODE_LENGTH and all(ch in CODE_ALPHABET for ch in code)


def _hash(code: str) -> str:
    return hashlib.sha256(normalise_code(code).encode()).hexdigest()


async def issue_link_code(uow: UnitOfWork, account_id: int, *, now: datetime) -> str:
    """Create a one-time code that joins another channel's account to `account_id`.

    Returns the code (8 characters; only its hash is stored). It expires after ten minutes.

    Raises:
        AccountNotFound: when the account does not exist.
    """
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    async with uow:
        await existing_account(uow, account_id)
        await uow.account_links.add_code(
            LinkCode(
                code_hash=_hash(code),
                account_id=account_id,
                expires_at=now + LINK_CODE_TTL,
                created_at=now,
            )
        )
        await uow.commit()
    return code


def _identity_moves(issuer: Account, redeemer: Account) -> dict[str, object]:
    """The identity fields to move from `redeemer` to `issuer`."""
    moves: dict[str, object] = {}
    for field in ("telegram_id", "whatsapp_number"):
        theirs = getattr(redeemer, field)
        ours = getattr(issuer, field)
        if theirs is None:
            continue
        if ours is not None and ours != theirs:
            raise ChannelAlreadyLinked(f"account {issuer.id} already has another {field}")
        if ours is None:
            moves[field] = theirs
    return moves


async def redeem_link_code(uow: UnitOfWork, code: str, account_id: int, *, now: datetime) -> int:
    """Join the redeeming account's channel identity to the account that issued `code`.

    Args:
        code: the code as the person typed it (case, spaces and dashes do not matter).
        account_id: the account of the channel the code was sent from.

    Returns:
        The id of the surviving account (the issuing one); the caller should use it from now on.

    Raises:
        LinkCodeUnknown, LinkCodeExpired, LinkCodeUsed: the code cannot be used.
        LinkToSameAccount: the code came back to the account that issued it.
        ChannelAlreadyLinked: the issuing account already has another identity on that channel.
        LinkedAccountHasActivity: the redeeming account has its own history; nothing is merged.
        AccountNotFound: the redeeming account does not exist.
    """
    code_hash = _hash(code)
    async with uow:
        link = await uow.account_links.code(code_hash)
        if link is None:
            raise LinkCodeUnknown("no such link code")
        if link.used_at is not None:
            raise LinkCodeUsed("the link code was already used")
        if link.expires_at <= now:
            raise LinkCodeExpired("the link code expired")
        if link.account_id == account_id:
            raise LinkToSameAccount("the code was sent from the account that issued it")
        issuer = await uow.accounts.get(link.account_id)
        redeemer = await uow.accounts.get(account_id)
        if redeemer is None or issuer is None:
            raise AccountNotFound(
                f"no account {account_id if redeemer is None else link.account_id}"
            )
        moves = _identity_moves(issuer, redeemer)
        if not moves:
            raise LinkToSameAccount("both accounts are already on the same channels")
        if await uow.account_links.has_activity(redeemer.id):
            raise LinkedAccountHasActivity(
                f"account {redeemer.id} has its own history; it cannot be joined"
            )
        # The conditional update is what makes the code single-use when two redeems race.
        if not await uow.account_links.claim_code(code_hash, redeemer.id, now):
            raise LinkCodeUsed("the link code was already used")
        # Unique identity columns: free them on the redeeming account before taking them over.
        for field in moves:
            setattr(redeemer, field, None)
        await uow.session.flush()
        for field, value in moves.items():
            setattr(issuer, field, value)
        await uow.session.flush()
        await uow.commit()
        return issuer.id
