"""Secrets at rest: encrypted, readable after key rotation, never searchable."""

import json
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection, models

from core import crypto

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def test_a_secret_round_trips_and_is_not_stored_in_clear(settings):
    settings.ENCRYPTION_KEYS = [OLD]
    token = crypto.encrypt("whsec_abc")
    assert "whsec_abc" not in token
    assert crypto.decrypt(token) == "whsec_abc"
    assert crypto.encrypt("whsec_abc") != token  # randomised: equal secrets do not show


def test_old_keys_still_decrypt_and_rotation_moves_to_the_first_key(settings):
    settings.ENCRYPTION_KEYS = [OLD]
    token = crypto.encrypt("s3cret")
    settings.ENCRYPTION_KEYS = [NEW, OLD]
    assert crypto.decrypt(token) == "s3cret"
    rotated = crypto.rotate(token)
    settings.ENCRYPTION_KEYS = [NEW]
    assert crypto.decrypt(rotated) == "s3cret"
    with pytest.raises(crypto.DecryptionError) as caught:
        crypto.decrypt(token)
    assert "s3cret" not in str(caught.value)


def test_without_keys_one_is_derived_from_the_secret_key(settings):
    settings.ENCRYPTION_KEYS = []
    token = crypto.encrypt("x")
    assert crypto.decrypt(token) == "x"
    settings.SECRET_KEY = "another-secret-key-" + "y" * 40
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token)


def test_a_malformed_key_is_a_clear_configuration_error(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.ENCRYPTION_KEYS = ["not-a-key"]
    with pytest.raises(ImproperlyConfigured, match="Fernet keys"):
        crypto.encrypt("x")


def test_keyed_hashes_differ_by_purpose_and_are_stable():
    a = crypto.keyed_hash("customer-email", "maya@example.com")
    assert a == crypto.keyed_hash("customer-email", "maya@example.com")
    assert a != crypto.keyed_hash("network", "maya@example.com")
    assert len(a) == 64 and "maya" not in a


def test_the_field_refuses_lookups_other_than_isnull():
    field = crypto.EncryptedTextField()
    assert field.get_lookup("exact") is None
    assert field.get_lookup("isnull") is not None


class _Secretive(models.Model):
    secret = crypto.EncryptedTextField(blank=True)

    class Meta:
        app_label = "core"
        db_table = "core_test_secretive"

    def __str__(self):
        return f"secretive #{self.pk}"


@pytest.fixture
def secretive_table(transactional_db):
    with connection.schema_editor() as editor:
        editor.create_model(_Secretive)
    yield _Secretive
    with connection.schema_editor() as editor:
        editor.delete_model(_Secretive)


def test_rotate_encryption_keys_rewrites_every_stored_secret(settings, secretive_table):
    settings.ENCRYPTION_KEYS = [OLD]
    row = secretive_table.objects.create(secret="token-1")
    empty = secretive_table.objects.create(secret="")
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM core_test_secretive WHERE id = %s", [row.pk])
        assert "token-1" not in cursor.fetchone()[0]
    settings.ENCRYPTION_KEYS = [NEW, OLD]
    out = StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    report = json.loads(out.getvalue())
    assert report["rotated"] >= 1 and report["unreadable"] == []
    settings.ENCRYPTION_KEYS = [NEW]
    assert secretive_table.objects.get(pk=row.pk).secret == "token-1"
    assert secretive_table.objects.get(pk=empty.pk).secret == ""
