"""The lexer of MLflow's search filters (``domain.search`` parses its tokens).

Strings in single or double quotes (a doubled quote is one quote), backquoted or
dotted fields (``tags.team``, ``tags.`a b```), numbers, comparison operators
(``<>`` and ``==`` read as ``!=`` and ``=``), parentheses, commas and keywords.

Standard library only: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Token:
    kind: str      # field, string, number, op, word, lparen, rparen, comma
    text: str      # the token's value (unquoted for strings and quoted key parts)
    pos: int


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FIELD_KEY = re.compile(r"[A-Za-z0-9_.]+")
_NUMBER = re.compile(r"[-+]?[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?")
_OPERATORS = ("!=", "<>", "<=", ">=", "==", "=", "<", ">")
_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "IS", "NULL"})


class SyntaxProblem(Exception):
    def __init__(self, message: str, pos: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


def _quoted(text: str, start: int, quote: str) -> tuple[str, int]:
    """Read a quoted run starting at ``start`` (the quote); a doubled quote is one quote."""
    out: list[str] = []
    index = start + 1
    while index < len(text):
        char = text[index]
        if char == quote:
            if index + 1 < len(text) and text[index + 1] == quote:
                out.append(quote)
                index += 2
                continue
            return "".join(out), index + 1
        out.append(char)
        index += 1
    raise SyntaxProblem(f"the quote {quote} opened at position {start} is never closed", start)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char.isspace():
            index += 1
            continue
        if char in "'\"":
            value, index_after = _quoted(text, index, char)
            tokens.append(Token("string", value, index))
            index = index_after
            continue
        if char == "`":
            value, index_after = _quoted(text, index, "`")
            tokens.append(Token("field", value, index))
            index = index_after
            continue
        if char == "(":
            tokens.append(Token("lparen", char, index))
            index += 1
            continue
        if char == ")":
            tokens.append(Token("rparen", char, index))
            index += 1
            continue
        if char == ",":
            tokens.append(Token("comma", char, index))
            index += 1
            continue
        operator = next((op for op in _OPERATORS if text.startswith(op, index)), None)
        if operator is not None:
            tokens.append(Token("op", {"<>": "!=", "==": "="}.get(operator, operator), index))
            index += len(operator)
            continue
        number = _NUMBER.match(text, index)
        if number and (char.isdigit() or char in "+-"):
            tokens.append(Token("number", number.group(), index))
            index = number.end()
            continue
        word = _WORD.match(text, index)
        if word:
            token, index = _word_or_field(text, word, index)
            tokens.append(token)
            continue
        raise SyntaxProblem(f"unexpected character {char!r} at position {index}", index)
    return tokens


def _word_or_field(text: str, word: re.Match[str], start: int) -> tuple[Token, int]:
    """A keyword, a bare field (``name``) or a dotted one (``tags.team``, ``tags.`a b```)."""
    index = word.end()
    if index < len(text) and text[index] == ".":
        entity = word.group()
        index += 1
        if index < len(text) and text[index] in "`\"'":
            key, index = _quoted(text, index, text[index])
        else:
            match = _FIELD_KEY.match(text, index)
            if not match:
                raise SyntaxProblem(f"'{entity}.' must be followed by a key at position "
                                     f"{index}", index)
            key, index = match.group(), match.end()
        return Token("field", f"{entity}\x00{key}", start), index
    if word.group().upper() in _KEYWORDS:
        return Token("word", word.group().upper(), start), index
    return Token("field", word.group(), start), index


def describe(token: Token) -> str:
    if token.kind == "string":
        return f"the string '{token.text}'"
    if token.kind == "field":
        return f"'{token.text.replace(chr(0), '.')}'"
    return f"'{token.text}'"
