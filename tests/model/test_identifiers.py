"""README §7: identifier shapes and check characters, with the documents' test vectors and properties."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import RejectionCode as C
from gateway.model.identifiers import (
    USCC_ALPHABET,
    _real_date,
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


# The check characters are computed in one C call each (a base-13 and a base-34 reading of the digits); these are
# the standards' weighted sums written out, which they must equal for every input.
ID_WEIGHTS = [2 ** (18 - i) % 11 for i in range(1, 18)]  # ISO 7064 MOD 11-2
USCC_WEIGHTS = [3 ** (i - 1) % 31 for i in range(1, 18)]  # GB 32100 §4.2


def _textbook_gb11643(first17: str) -> str:
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def _textbook_gb32100(first17: str) -> str:
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_the_id_check_character_is_the_weighted_sum(first17: str) -> None:
    assert gb11643_check_char(first17) == _textbook_gb11643(first17)


@given(uscc_bodies)
def test_the_uscc_check_character_is_the_weighted_sum(body: str) -> None:
    assert gb32100_check_char(body) == _textbook_gb32100(body)


@pytest.mark.parametrize("char", list(USCC_ALPHABET))
def test_every_uscc_character_counts_at_its_value(char: str) -> None:
    for at in (0, 8, 16):
        body = "0" * at + char + "0" * (16 - at)
        assert gb32100_check_char(body) == _textbook_gb32100(body)


@pytest.mark.parametrize("text", ["1234567890123456", "123456789012345678", "12345678901234A67", "１" * 17])
def test_a_check_character_over_anything_but_17_digits_is_an_error(text: str) -> None:
    with pytest.raises(ValueError, match="17"):
        gb11643_check_char(text)


@pytest.mark.parametrize("text", ["9134040MBCD6699", "91340403MBCD66994U", "91340403MBCD6699I", "9134040３MBCD66994"])
def test_a_uscc_check_character_outside_the_alphabet_is_an_error(text: str) -> None:
    with pytest.raises(ValueError, match="17"):
        gb32100_check_char(text)


def test_the_birth_date_is_checked_as_the_calendar_has_it() -> None:
    """``_real_date`` reads the eight digits in one C call; it agrees with building the date from its parts."""

    def by_parts(text: str) -> bool:
        try:
            date(int(text[:4]), int(text[4:6]), int(text[6:8]))
        except ValueError:
            return False
        return True

    for year in (0, 1, 1899, 1900, 2000, 2023, 2024, 2100, 9999):
        for month in range(100):
            for day in range(100):
                text = f"{year:04d}{month:02d}{day:02d}"
                assert _real_date(text) is by_parts(text), text
