"""The server's VAPID key pair for Web Push: made once, kept in `server_secrets`, the same for every replica.

`cryptography` (~9 MiB of OpenSSL bindings) is imported when a key is first needed, not at start-up.
"""

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.delivery.models import ServerSecret
from openhitl.kit import upsert
from openhitl.kit.db import Database

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

VAPID_SECRET_NAME = "vapid_private_key"


@dataclass(frozen=True)
class VapidKeys:
    private_key: "ec.EllipticCurvePrivateKey"

    @property
    def public_key(self) -> str:
        """The applicationServerKey browsers subscribe with: the uncompressed P-256 point, base64url."""
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        point = self.private_key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return b64url_encode(point)


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _encode_private(key: "ec.EllipticCurvePrivateKey") -> str:
    return b64url_encode(key.private_numbers().private_value.to_bytes(32, "big"))


def _decode_private(value: str) -> "ec.EllipticCurvePrivateKey":
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.derive_private_key(int.from_bytes(b64url_decode(value), "big"), ec.SECP256R1())


async def get_or_create(session: AsyncSession, *, now: datetime) -> VapidKeys:
    """Inserts a fresh key pair unless one exists, then reads back whichever won: racing replicas agree."""
    from cryptography.hazmat.primitives.asymmetric import ec

    await session.execute(
        upsert.insert(session, ServerSecret)
        .values(
            name=VAPID_SECRET_NAME,
            value=_encode_private(ec.generate_private_key(ec.SECP256R1())),
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=[ServerSecret.name])
    )
    value = (
        await session.execute(select(ServerSecret.value).where(ServerSecret.name == VAPID_SECRET_NAME))
    ).scalar_one()
    return VapidKeys(_decode_private(value))


async def load(db: Database, *, now: datetime) -> VapidKeys:
    """The key pair, read without taking the writer unless it has yet to be made."""
    async with db.read() as session:
        value = (
            await session.execute(select(ServerSecret.value).where(ServerSecret.name == VAPID_SECRET_NAME))
        ).scalar_one_or_none()
    if value is not None:
        return VapidKeys(_decode_private(value))
    async with db.write() as session:
        return await get_or_create(session, now=now)
