"""README §7: identifier shapes and check characters, with the documents' test vectors and properties."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import RejectionCode as C
from gateway.model.identifiers import (
    USCC_ALPHABET,
    check_id_number,
    check_licence_id,
    check_type_code,
    check_uscc,
    gb11643_check_char,
    gb11714_check_char,
    gb32100_check_char,
    mod37_36,
)

VALID_LICENCE = "1.2.156.3005.2.11340000MB0A3K7N3P017.11340100MB1F6Q3A0Y.340100202505200001.001.7"


@pytest.mark.parametrize("number", ["11010519491231002X", "34052419800101001X", "34010419700205811X"])
def test_published_resident_ids_are_valid(number: str) -> None:
    assert check_id_number("RESIDENT_ID", number) is None


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("11010519491231002x", C.BAD_FORMAT),  # lower-case x
        ("340524198002300010", C.BAD_FORMAT),  # 1980-02-30 is no date
        ("3405241980010100", C.BAD_FORMAT),
        ("110105194912310021", C.ID_CHECKSUM),
    ],
)
def test_resident_id_refusals(number: str, code: C) -> None:
    assert check_id_number("RESIDENT_ID", number) is code


def test_foreign_permanent_residence_card_2023_starts_with_9() -> None:
    first17 = "93310119900101001"
    valid = first17 + gb11643_check_char(first17)
    assert check_id_number("FOREIGN_PR", valid) is None
    not_nine = "83310119900101001"
    assert check_id_number("FOREIGN_PR", not_nine + gb11643_check_char(not_nine)) is C.BAD_FORMAT
    assert check_id_number("FOREIGN_PR", first17 + ("0" if valid[-1] != "0" else "1")) is C.ID_CHECKSUM


@pytest.mark.parametrize(
    ("id_type", "number", "code"),
    [
        ("PASSPORT", "E12345678", None),
        ("PASSPORT", "e12345678", C.BAD_FORMAT),
        ("PASSPORT", "E123", C.BAD_FORMAT),
        ("HKMO_PERMIT", "H12345678", None),
        ("HKMO_PERMIT", "M1234567801", None),
        ("HKMO_PERMIT", "H1234567", C.BAD_FORMAT),
        ("HKMO_PERMIT", "H123456780", C.BAD_FORMAT),
        ("TW_PERMIT", "12345678", None),
        ("TW_PERMIT", "1234567A", C.BAD_FORMAT),
    ],
)
def test_permits_and_passports(id_type: str, number: str, code: C | None) -> None:
    assert check_id_number(id_type, number) is code


def test_uscc_samples_and_refusals() -> None:
    assert check_uscc("91310117MBRF8AJ21X") is None
    assert check_uscc("11320500MBYNYFCG7Q") is None
    assert check_uscc("91310117MBRF8AJ21Y") is C.USCC_CHECKSUM
    assert check_uscc("91310117MBRF8AJ2IX") is C.BAD_FORMAT  # I is not in the GB 32100 alphabet
    assert check_uscc("91310117mbrf8aj21x") is C.BAD_FORMAT
    assert gb11714_check_char("MBRF8AJ2") == "1"  # the embedded organisation code passes GB 11714 too


def test_licence_identifier_of_the_readme_and_its_failures() -> None:
    assert check_licence_id(VALID_LICENCE) is None
    assert check_licence_id(VALID_LICENCE[:-1] + "8") is C.LICENCE_ID_CHECKSUM
    assert check_licence_id(VALID_LICENCE.replace(".001.", ".000.")) is C.BAD_FORMAT
    assert check_licence_id(VALID_LICENCE.replace("1.2.156", "1.2.157")) is C.BAD_FORMAT
    assert check_type_code("11340000MB0A3K7N3P017") is None
    assert check_type_code("11340000MB0A3K7N3P01") is C.BAD_FORMAT


def test_lowercase_serial_is_upper_cased_for_the_check() -> None:
    upper = "11340000MB0A3K7N3P017" + "11340100MB1F6Q3A0Y" + "ABC123" + "001"
    ident = f"1.2.156.3005.2.11340000MB0A3K7N3P017.11340100MB1F6Q3A0Y.abc123.001.{mod37_36(upper)}"
    assert check_licence_id(ident) is None


uscc_bodies = st.text(alphabet=USCC_ALPHABET, min_size=17, max_size=17)


@given(uscc_bodies)
def test_every_computed_uscc_check_character_validates(body: str) -> None:
    code = body + gb32100_check_char(body)
    assert check_uscc(code) is None
    wrong = next(c for c in USCC_ALPHABET if c != code[-1])
    assert check_uscc(body + wrong) is C.USCC_CHECKSUM


@given(
    st.text(alphabet="0123456789", min_size=6, max_size=6),
    st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31)),
    st.text("0123456789", min_size=3, max_size=3),
)
def test_every_computed_id_check_character_validates(area: str, birth: date, seq: str) -> None:
    first17 = area + birth.strftime("%Y%m%d") + seq
    assert check_id_number("RESIDENT_ID", first17 + gb11643_check_char(first17)) is None
