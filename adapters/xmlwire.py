"""Safe XML for the XML dialects: declaration checks, DTD refusal, parsing, and schema-guided trees.

Order of README §10: the encoding (declaration and bytes, step 3), then DOCTYPE/ENTITY (step 4, refused before
any parser sees the bytes), then well-formedness (step 5). The parser never resolves entities, never loads a DTD
and never touches the network. GB18030 is decoded by Python's codec, which implements the GB 18030-2005 mapping
that g60.md §2 requires (libxml2's iconv may follow the 2022 edition).

A parsed record element becomes a tree of dicts the mapping engine reads: child elements by local name (only
those the mapping knows, only in the documented namespace), attributes as ``@name``, element text as ``#text``.
An element that may occur once but occurs twice is ``MALFORMED``; an element with child elements where text is
expected becomes ``COMPLEX`` (``BAD_FORMAT`` at its field's turn); an empty element is absent (README §8).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lxml import etree

from gateway.errors import Refusal
from gateway.errors import RejectionCode as C
from mappings.engine import COMPLEX

__all__ = [
    "build_element",
    "check_xml_declaration",
    "element_tree",
    "parse_xml",
    "plain_values",
    "refuse_dtd",
    "serialise",
]

_WS = r"[ \t\r\n]"
# XMLDecl (XML 1.0 production 23) with version 1.0, an optional encoding and an optional standalone, in that order.
_XML_DECL = re.compile(
    rb"<\?xml" + _WS.encode() + rb"+version" + _WS.encode() + rb"*=" + _WS.encode() + rb"*(?:\"1\.0\"|'1\.0')"
    rb"(?:"
    + _WS.encode()
    + rb"+encoding"
    + _WS.encode()
    + rb"*="
    + _WS.encode()
    + rb"*(?:\"(?P<enc1>[A-Za-z][A-Za-z0-9._\-]*)\"|'(?P<enc2>[A-Za-z][A-Za-z0-9._\-]*)'))?"
    rb"(?:"
    + _WS.encode()
    + rb"+standalone"
    + _WS.encode()
    + rb"*="
    + _WS.encode()
    + rb"*(?:\"(?:yes|no)\"|'(?:yes|no)'))?"
    + _WS.encode()
    + rb"*\?>"
)
_ANY_DECL = re.compile(rb"<\?xml[ \t\r\n]")

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
    collect_ids=False,
)


def check_xml_declaration(
    body: bytes, *, encodings: tuple[str, ...], required: bool, bad_declaration: C
) -> tuple[int, str | None]:
    """Check the XML declaration; return where the document after it starts and the declared encoding.

    ``bad_declaration`` is what a declaration that is not an XML 1.0 declaration earns: ``ENCODING_MISMATCH`` for
    g60 (§2: the declaration is part of the encoding contract), ``MALFORMED`` for shanghai (§1). A declared encoding
    not in ``encodings`` is ``ENCODING_MISMATCH``.
    """
    m = _XML_DECL.match(body)
    if m is None:
        if _ANY_DECL.match(body) or (required and body.lstrip(b" \t\r\n").startswith(b"<?xml")):
            raise Refusal(bad_declaration, None, "the XML declaration is not an XML 1.0 declaration")
        if required:
            raise Refusal(C.ENCODING_MISMATCH, None, "the XML declaration naming the encoding must come first")
        return 0, None
    declared = (m["enc1"] or m["enc2"] or b"").decode("ascii") or None
    if declared is None:
        if required:
            raise Refusal(C.ENCODING_MISMATCH, None, "the XML declaration must name the encoding")
    elif declared.upper() not in encodings:
        raise Refusal(C.ENCODING_MISMATCH, None, "the XML declaration names another encoding")
    return m.end(), declared


def refuse_dtd(text: str) -> None:
    """README §8: a message that contains ``<!DOCTYPE`` or ``<!ENTITY`` anywhere is refused before parsing."""
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise Refusal(C.XML_DTD_FORBIDDEN, None, "DOCTYPE and entity declarations are not allowed")


def parse_xml(text: str) -> Any:
    """Parse a document (its declaration already checked and removed) into an lxml element."""
    try:
        return etree.fromstring(text.encode("utf-8"), _PARSER)
    except etree.XMLSyntaxError:
        raise Refusal(C.MALFORMED, None, "body is not well-formed XML") from None


class _Shape:
    """A shape compiled for one namespace: children by Clark tag (``{ns}Name``), attributes, own text."""

    __slots__ = ("attributes", "children", "text")

    def __init__(self, shape: dict[str, Any], ns: str) -> None:
        self.attributes = [(name, name[1:]) for name in shape if name[0] == "@"]
        self.text = "#text" in shape
        # Clark tag → (name, is_list, sub shape or None for a leaf)
        self.children: dict[str, tuple[str, bool, _Shape | None]] = {}
        for name, sub in shape.items():
            if name[0] in "@#":
                continue
            is_list = isinstance(sub, list)
            inner = (sub[0] if sub else None) if is_list else sub
            self.children[f"{{{ns}}}{name}"] = (name, is_list, None if inner is None else _Shape(inner, ns))


_COMPILED: dict[tuple[int, str], tuple[dict[str, Any], _Shape]] = {}


def _compiled(shape: dict[str, Any], ns: str) -> _Shape:
    found = _COMPILED.get((id(shape), ns))
    if found is None or found[0] is not shape:  # the shape object is kept alive with its compiled form
        found = _COMPILED[(id(shape), ns)] = (shape, _Shape(shape, ns))
    return found[1]


def element_tree(element: Any, shape: dict[str, Any], ns: str) -> dict[str, Any]:
    """The schema-guided tree of ``element`` for the mapping engine (see the module docstring)."""
    return _tree(element, _compiled(shape, ns))


def _tree(element: Any, shape: _Shape) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, attribute in shape.attributes:
        found = element.get(attribute)
        if found is not None:
            out[name] = found
    if shape.text:
        out["#text"] = (element.text or "") if len(element) == 0 else COMPLEX
    children = shape.children
    for child in element:
        known = children.get(child.tag)
        if known is None:
            continue  # elements the documents do not define, or in another namespace, are ignored
        name, is_list, sub = known
        if sub is None:
            value: Any = COMPLEX if len(child) else (child.text or "")
        else:
            value = _tree(child, sub)
        if is_list:
            entries = out.get(name)
            if entries is None:
                out[name] = [value]
            else:
                entries.append(value)
        elif name in out:
            raise Refusal(C.MALFORMED, None, f"element {name} occurs more than once")
        else:
            out[name] = value
    return out


def build_element(parent: Any, tree: dict[str, Any], ns: str) -> None:
    """Write ``tree`` (as the mapping engine encodes it) under ``parent``, in insertion order."""
    for name, value in tree.items():
        if name[0] == "@":
            parent.set(name[1:], value)
        elif name == "#text":
            parent.text = value
        elif isinstance(value, list):
            for entry in value:
                child = etree.SubElement(parent, f"{{{ns}}}{name}")
                if isinstance(entry, dict):
                    build_element(child, entry, ns)
                else:
                    child.text = entry
        elif isinstance(value, dict):
            build_element(etree.SubElement(parent, f"{{{ns}}}{name}"), value, ns)
        else:
            etree.SubElement(parent, f"{{{ns}}}{name}").text = value


def serialise(root: Any) -> str:
    """The element as text, without a declaration (the dialect adds its own and encodes)."""
    text: str = etree.tostring(root, encoding="unicode")
    return text


# --- a fast writer for documents in one default namespace (g60): text straight from the tree -----------------------
# one search per value: a character to escape, or one XML 1.0 does not allow; each written as the one class of the
# characters that are neither (an alternation of two classes tried both at every character: four times slower)
_TEXT_SPECIAL = re.compile("[^\t\n\x20-\x25\x27-\x3b\x3d\x3f-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]").search
_ATTR_SPECIAL = re.compile("[^\x20\x21\x23-\x25\x27-\x3b\x3d\x3f-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]").search
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_ATTR_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}
)
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]").search


def _checked(value: str) -> str:
    if _NOT_XML(value):
        raise Refusal(C.BAD_FORMAT, None, "a value holds a character XML 1.0 does not allow")
    return value


def escape_text(value: str) -> str:
    """Element text as XML 1.0 writes it (a CR as ``&#13;`` so that parsers do not fold it, README §8)."""
    return _checked(value).translate(_TEXT_ESCAPES) if _TEXT_SPECIAL(value) else value


def escape_attribute(value: str) -> str:
    """An attribute value in double quotes (tab, LF and CR as references so they survive normalisation)."""
    return _checked(value).translate(_ATTR_ESCAPES) if _ATTR_SPECIAL(value) else value


def plain_values(values: list[Any]) -> bool:
    """True when every value is a string that is written as it is, as element text and as an attribute: nothing to
    escape, nothing XML 1.0 refuses. One search over them all, for writers that check a whole document at once."""
    try:
        return _ATTR_SPECIAL("".join(values)) is None
    except TypeError:  # a value that is not a string: the escaping writer says what lxml would
        return False


def write_elements(out: list[str], tree: dict[str, Any]) -> None:
    """Append ``tree``'s child elements (as the mapping engine encodes it) to ``out`` as XML text, unprefixed.

    The same documents ``build_element`` makes, written directly: the caller declares the default namespace on the
    root. Attributes (``@name``) and text (``#text``) belong to the element being written, so they are handled by
    the caller of each level (``_open``).
    """
    for name, value in tree.items():
        if name[0] == "@" or name == "#text":
            continue
        if isinstance(value, list):
            for entry in value:
                _write_one(out, name, entry)
        else:
            _write_one(out, name, value)


def _write_one(out: list[str], name: str, value: Any) -> None:
    if isinstance(value, dict):
        attributes = "".join(f' {k[1:]}="{escape_attribute(v)}"' for k, v in value.items() if k[0] == "@")
        text = value.get("#text")
        out.append(f"<{name}{attributes}>")
        if text is not None:
            out.append(escape_text(text))
        write_elements(out, value)
        out.append(f"</{name}>")
    else:
        out.append(f"<{name}>{escape_text(value)}</{name}>")


def signature_in_body(evidence: Mapping[str, str]) -> tuple[str, str]:
    """The XML dialects carry their XMLDSig inside the logged body, so no header describes it."""
    return "XMLDSig / in the body", "-"
