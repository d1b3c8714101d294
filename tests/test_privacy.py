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


def test_a_writers_own_name_is_masked_wherever_the_text_writes_it_and_no_one_elses():
    """The letter's name field is held only as a keyed hash and a masked form (王**); a span of the text with that
    first character and length whose hash is the name's is the writer's name, introduced or not. Another person
    of the same surname and length is left alone; a letter with no name field is unchanged."""
    from triage.privacy import mask_own_name, masked_petitioner

    def own(text, petitioner):
        return mask_own_name(text, masked_petitioner(petitioner), {f"{k}:{h}" for k, h in hashed_identities(petitioner)})

    text = "王建国反映小区停车收费不合理，物业经理王建军不理睬。王建国同志：您好"
    assert own(text, {"name": "王建国", "phone": "13800138000"}) == "王**反映小区停车收费不合理，物业经理王建军不理睬。王**同志：您好"
    assert own("欧阳晓明反映", {"name": "欧阳晓明"}) == "欧***反映"
    assert own(text, {"phone": "13800138000"}) == text and own(text, {"name": "匿名"}) == text
    assert own(text, {"name": "王建"}) == text.replace("王建", "王*")
    assert own("", {"name": "王建国"}) == "" and own(None, {"name": "王建国"}) is None
