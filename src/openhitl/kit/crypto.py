"""Secrets: API-key generation and HMAC digests, random codes, password hashing."""

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

API_KEY_PREFIX = "hitl_live_"
INVITE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_passwords = PasswordHasher()


def generate_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_hex(32)


def token_digest(secret_key: str, token: str) -> str:
    """API keys are high-entropy, so a keyed HMAC is enough: unlike a password's, their digest needs no
    deliberately slow hash."""
    return hmac.new(secret_key.encode(), token.encode(), hashlib.sha256).hexdigest()


def random_code(length: int, alphabet: str = INVITE_ALPHABET) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def hash_password(password: str) -> str:
    return _passwords.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _passwords.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
