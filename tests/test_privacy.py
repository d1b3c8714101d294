"""Identity fields tell people apart only when they can: placeholders and fragments are no identity."""

import pytest

from triage.privacy import hashed_identities, identity_keys, usable_identity


@pytest.mark.parametrize("kind, value, usable", [
    ("phone", "13800138000", True), ("phone", "0731-8888888", True), ("phone", "13800138000.0", True),
    ("phone", "无", False), ("phone", "不详", False), ("phone", "12345", False), ("phone", " ", False),
    ("id_number", "43010219900101123x", True), ("id_number", "无", False), ("id_number", "-", False),
    ("name", "陈先生", True), ("name", "先生", False), ("name", "匿名", False),
    ("account", "A000110735", True), ("account", "匿名用户", False),
])
def test_usable_identities(kind, value, usable):
    assert usable_identity(kind, value) is usable


def test_placeholders_are_not_hashed_so_no_two_letters_share_them():
    assert hashed_identities({"phone": "无", "name": "匿名", "account": "游客"}) == []
    assert identity_keys({"phone": "不详"}) == identity_keys({"phone": "无"}) == set()
    assert identity_keys({"phone": "138-0013-8000"}) == identity_keys({"phone": "13800138000.0"}) != set()
