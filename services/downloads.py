"""Opening a result download link: the signature, the expiry, the owner, then the file."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath

from db.uow import UnitOfWork
from services.links import InvalidLink, LinkTarget, open_link, resolve_file, sign_link

RESULTS_AREA = "results"


def result_link_token(
    secret: bytes, data_dir: Path, account_id: int, path: Path, *, now: datetime, ttl: timedelta
) -> str:
    """Sign a link to a result file of `account_id`, valid for `ttl` (the retention period)."""
    relative = path.resolve().relative_to(data_dir.resolve()).as_posix()
    return sign_link(secret, LinkTarget(account_id, relative, now + ttl))


async def open_result_link(
    uow: UnitOfWork, secret: bytes, data_dir: Path, token: str, *, now: datetime
) -> Path:
    """The result file a link names, once the link and its owner are checked.

    Raises:
        InvalidLink: the token is altered or expired, the file is not a result of the link's
            account, or it was deleted after the retention period.
    """
    target = open_link(secret, token, now=now)
    parts = PurePosixPath(target.path).parts
    # Results live under results/<batch id>/; a link signed for another account's batch (or
    # any other file under DATA_DIR) opens nothing, even with a valid signature.
    if len(parts) < 3 or parts[0] != RESULTS_AREA or not parts[1].isdigit():
        raise InvalidLink("not a result file")
    async with uow:
        batch = await uow.batches.get(int(parts[1]))
    if batch is None or batch.account_id != target.account_id:
        raise InvalidLink("not a result of this account")
    return resolve_file(data_dir, target)
