"""Envelope encryption of company secrets (crypto.Keyring) with moto KMS and an in-memory key store."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.unit.fakes import MemoryDataKeyStore
from workplace_hub.crypto import DecryptionError, Keyring

PURPOSE = "integration:slack:bot_token"
SECRET = "xoxb-1111111111-2222222222-SECRETslackTOKEN"


class LateReadStore(MemoryDataKeyStore):
    """Another container wrote the key between our first read and our write (the create race)."""

    def __init__(self, shared: MemoryDataKeyStore) -> None:
        super().__init__()
        self.keys = shared.keys
        self.misses_left = 1

    def get_encrypted_data_key(self, company_id: str) -> bytes | None:
        if self.misses_left:
            self.misses_left -= 1
            return None
        return super().get_encrypted_data_key(company_id)


@pytest.fixture
def keyring(kms_key: tuple[Any, str], store: MemoryDataKeyStore) -> Keyring:
    """This module tests the Keyring against moto's KMS (the conftest keyring uses a fake KMS)."""
    client, key_id = kms_key
    return Keyring(client, key_id, store)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_keyring_seal_then_open_returns_plaintext(keyring: Keyring) -> None:
    # GIVEN a secret sealed for acme's Slack token
    sealed = keyring.seal("acme", PURPOSE, SECRET)

    # WHEN it is opened with the same company and purpose
    opened = keyring.open("acme", PURPOSE, sealed)

    # THEN the plaintext comes back
    assert opened == SECRET


def test_keyring_unicode_and_pem_round_trip(keyring: Keyring) -> None:
    # GIVEN multi-line and non-ASCII values (PEM keys, Japanese text)
    values = ["-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n", "山田 太郎 🎌", ""]

    # WHEN each is sealed and opened
    # THEN each comes back unchanged
    assert [keyring.open("acme", PURPOSE, keyring.seal("acme", PURPOSE, v)) for v in values] == values


def test_keyring_sealed_value_does_not_contain_plaintext(keyring: Keyring) -> None:
    # GIVEN a sealed secret
    sealed = keyring.seal("acme", PURPOSE, SECRET)

    # WHEN it is inspected as stored
    raw = base64.b64decode(sealed.split(":", 1)[1])

    # THEN neither the text nor its bytes appear in it, and it is versioned
    assert sealed.startswith("v1:")
    assert SECRET not in sealed
    assert SECRET.encode() not in raw
    assert "SECRETslackTOKEN" not in sealed


def test_keyring_same_plaintext_sealed_twice_differs(keyring: Keyring) -> None:
    # GIVEN one secret sealed twice
    # WHEN the two ciphertexts are compared
    # THEN they differ (fresh nonce each time) yet both open
    first, second = keyring.seal("acme", PURPOSE, SECRET), keyring.seal("acme", PURPOSE, SECRET)
    assert first != second
    assert keyring.open("acme", PURPOSE, first) == keyring.open("acme", PURPOSE, second) == SECRET


def test_keyring_ciphertext_moved_to_other_company_raises_decryption_error(keyring: Keyring) -> None:
    # GIVEN acme's sealed token, and globex with its own data key
    sealed = keyring.seal("acme", PURPOSE, SECRET)
    keyring.seal("globex", PURPOSE, "globex's own")

    # WHEN globex tries to open acme's ciphertext
    # THEN it does not open, and the error does not reveal the secret
    with pytest.raises(DecryptionError) as raised:
        keyring.open("globex", PURPOSE, sealed)
    assert SECRET not in str(raised.value)


def test_keyring_ciphertext_used_for_other_purpose_raises_decryption_error(keyring: Keyring) -> None:
    # GIVEN a value sealed as acme's Slack bot token
    sealed = keyring.seal("acme", PURPOSE, SECRET)

    # WHEN it is opened as another field (same company, same key)
    # THEN it does not open
    with pytest.raises(DecryptionError):
        keyring.open("acme", "integration:line:channel_secret", sealed)
    with pytest.raises(DecryptionError):
        keyring.open("acme", "link:taro.yamada@acme.example:google_chat_webhook_url", sealed)


@pytest.mark.parametrize("position", [0, 11, 12, -1])
def test_keyring_tampered_ciphertext_raises_decryption_error(keyring: Keyring, position: int) -> None:
    # GIVEN a sealed value with one byte flipped (nonce, ciphertext or tag)
    sealed = keyring.seal("acme", PURPOSE, SECRET)
    raw = bytearray(base64.b64decode(sealed.split(":", 1)[1]))
    raw[position] ^= 0x01
    tampered = "v1:" + base64.b64encode(bytes(raw)).decode()

    # WHEN it is opened
    # THEN it is refused
    with pytest.raises(DecryptionError):
        keyring.open("acme", PURPOSE, tampered)


@pytest.mark.parametrize("sealed", ["v2:AAAA", "plaintext-token", "v1:not*base64!", "v1:", "v1:AAAA"])
def test_keyring_malformed_ciphertext_raises_decryption_error(keyring: Keyring, sealed: str) -> None:
    # GIVEN values that are not a v1 ciphertext (other version, plaintext, bad base64, too short)
    # WHEN they are opened
    # THEN each is refused with DecryptionError, never another exception type
    with pytest.raises(DecryptionError):
        keyring.open("acme", PURPOSE, sealed)


def test_keyring_one_kms_call_per_company_while_cached(keyring: Keyring) -> None:
    # GIVEN a warm keyring
    # WHEN acme seals and opens many values
    for index in range(5):
        keyring.open("acme", PURPOSE, keyring.seal("acme", PURPOSE, f"value-{index}"))

    # THEN KMS was called once (GenerateDataKey), and once more for a second company
    assert keyring.kms_calls == 1
    keyring.seal("globex", PURPOSE, "x")
    keyring.seal("globex", PURPOSE, "y")
    assert keyring.kms_calls == 2


def test_keyring_data_key_stored_only_encrypted_once_per_company(keyring: Keyring, store: MemoryDataKeyStore) -> None:
    # GIVEN two seals for acme
    keyring.seal("acme", PURPOSE, SECRET)
    keyring.seal("acme", PURPOSE, SECRET)

    # WHEN the store is inspected
    # THEN exactly one (KMS-encrypted, not 32 raw bytes) data key was written
    assert store.puts == 1
    assert len(store.keys["acme"]) > 32


def test_keyring_cold_start_reuses_stored_key_with_one_decrypt(
    kms_key: tuple[Any, str], store: MemoryDataKeyStore, keyring: Keyring
) -> None:
    # GIVEN a value sealed by one container
    sealed = keyring.seal("acme", PURPOSE, SECRET)

    # WHEN a new container (new keyring, same store) opens it twice
    client, key_id = kms_key
    cold = Keyring(client, key_id, store)
    first, second = cold.open("acme", PURPOSE, sealed), cold.open("acme", PURPOSE, sealed)

    # THEN it used the stored key (one KMS Decrypt, no new key)
    assert first == second == SECRET
    assert cold.kms_calls == 1
    assert store.puts == 1


def test_keyring_cache_expired_calls_kms_again(kms_key: tuple[Any, str], store: MemoryDataKeyStore) -> None:
    # GIVEN a keyring caching keys for 60 s
    client, key_id = kms_key
    clock = FakeClock()
    keyring = Keyring(client, key_id, store, cache_seconds=60, clock=clock)
    sealed = keyring.seal("acme", PURPOSE, SECRET)

    # WHEN the cache period passes
    clock.now += 59
    keyring.open("acme", PURPOSE, sealed)
    calls_within_period = keyring.kms_calls
    clock.now += 2
    opened = keyring.open("acme", PURPOSE, sealed)

    # THEN the key is fetched again (a Decrypt), and it still opens
    assert calls_within_period == 1
    assert keyring.kms_calls == 2
    assert opened == SECRET


def test_keyring_forget_company_calls_kms_again(keyring: Keyring) -> None:
    # GIVEN warm keys for two companies
    sealed = keyring.seal("acme", PURPOSE, SECRET)
    keyring.seal("globex", PURPOSE, "x")

    # WHEN acme's key is forgotten
    keyring.forget("acme")
    keyring.seal("globex", PURPOSE, "y")
    assert keyring.kms_calls == 2
    opened = keyring.open("acme", PURPOSE, sealed)

    # THEN only acme costs another KMS call
    assert opened == SECRET
    assert keyring.kms_calls == 3


def test_keyring_key_created_concurrently_uses_the_stored_one(
    kms_key: tuple[Any, str], store: MemoryDataKeyStore, keyring: Keyring
) -> None:
    # GIVEN container A created acme's key and sealed a value
    sealed = keyring.seal("acme", PURPOSE, SECRET)

    # WHEN container B, which read "no key" just before, generates one and loses the write race
    client, key_id = kms_key
    late = Keyring(client, key_id, LateReadStore(store))
    opened = late.open("acme", PURPOSE, sealed)

    # THEN B uses A's key (GenerateDataKey + Decrypt) and the stored key is unchanged
    assert opened == SECRET
    assert late.kms_calls == 2
    assert store.puts == 1


def test_keyring_kms_encryption_context_binds_company(kms_key: tuple[Any, str], store: MemoryDataKeyStore) -> None:
    # GIVEN acme's encrypted data key copied under globex's name in the store
    client, key_id = kms_key
    Keyring(client, key_id, store).seal("acme", PURPOSE, SECRET)
    store.keys["globex"] = store.keys["acme"]

    # WHEN a keyring needs globex's key
    # THEN KMS refuses it (the company is the encryption context)
    with pytest.raises(client.exceptions.InvalidCiphertextException):
        Keyring(client, key_id, store).seal("globex", PURPOSE, "x")
