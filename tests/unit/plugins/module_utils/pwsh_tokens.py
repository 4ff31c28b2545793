"""A small reader of PowerShell command lines, written from the language specification, to check
the Exchange Management Shell lines ``_render`` produces (it is NOT the renderer's code).

It accepts exactly one command in argument mode: a command name, then parameters ``-Name value``
or ``-Name:$false``. A value is a single-quoted (verbatim) string, a bare word of ASCII letters and
digits, ``$true``/``$false``/``$null``, ``@()``, ``(Get-Credential)``, a hashtable
``@{Key=value; Key=value}`` or a comma-separated list of those. Anything else outside a string
(a statement separator ``;`` or a line break, a pipe ``|``, ``&``, a comment ``#``, a sub-expression,
a double-quoted string, a backtick) raises ``NotOneCommand``: on a shell it could end the command
or run something else.

Rules taken from the PowerShell language specification (lexical grammar, "Literals: string
literals"): a verbatim string begins and ends with a single-quote-character, which is any of
U+0027 ' , U+2018, U+2019, U+201A and U+201B; inside it every character stands for itself (no ``$``
or backtick expansion, a line break is part of the string) except a single-quote-character, which
ends the string unless another single-quote-character follows it, the pair standing for one quote.
"""

from __future__ import annotations

import typing as t

SINGLE_QUOTE_CHARS = frozenset("'\u2018\u2019\u201a\u201b")
DOUBLE_QUOTE_CHARS = frozenset('"\u201c\u201d\u201e')
# PowerShell's whitespace in the lexical grammar is wider, but the renderer only emits a space.
SPACE = " "
ASCII_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
CREDENTIAL = object()  # what ``(Get-Credential)`` reads as


class NotOneCommand(ValueError):
    """The line is not exactly one command with literal arguments."""


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self, size: int = 1) -> str:
        return self.text[self.pos:self.pos + size]

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def fail(self, why: str) -> t.NoReturn:
        raise NotOneCommand("%s at offset %d: ...%r..." % (why, self.pos, self.text[max(0, self.pos - 10):self.pos + 10]))

    def expect(self, literal: str) -> None:
        if self.peek(len(literal)) != literal:
            self.fail("expected %r" % literal)
        self.pos += len(literal)

    # ---- pieces -----------------------------------------------------------------------------
    def verbatim(self) -> str:
        """A single-quoted string; the reader stands on its opening quote."""
        if self.peek() not in SINGLE_QUOTE_CHARS:
            self.fail("expected a single-quote-character")
        self.pos += 1
        out = []
        while True:
            if self.at_end():
                self.fail("unterminated single-quoted string")
            char = self.text[self.pos]
            self.pos += 1
            if char in SINGLE_QUOTE_CHARS:
                following = self.peek()
                if following and following in SINGLE_QUOTE_CHARS:
                    if following != char:
                        # PowerShell reads a mixed pair as one quote too; the renderer must never
                        # write one (it doubles a character with itself), so it is a defect here.
                        self.fail("a pair of two different quote characters")
                    self.pos += 1
                    out.append(char)
                    continue
                return "".join(out)
            out.append(char)

    def bare_word(self) -> str:
        start = self.pos
        while not self.at_end() and self.text[self.pos] in ASCII_WORD:
            self.pos += 1
        if self.pos == start:
            self.fail("expected a value")
        return self.text[start:self.pos]

    def item(self, in_table: bool) -> t.Any:
        char = self.peek()
        if char in SINGLE_QUOTE_CHARS:
            value: t.Any = self.verbatim()
        elif char == "$":
            for word, value in (("$true", True), ("$false", False), ("$null", None)):
                if self.peek(len(word)) == word:
                    self.pos += len(word)
                    break
            else:
                self.fail("a variable or sub-expression")
        elif self.peek(3) == "@()":
            self.pos += 3
            value = []
        elif self.peek(2) == "@{":
            value = self.table()
        elif self.peek(len("(Get-Credential)")) == "(Get-Credential)":
            self.pos += len("(Get-Credential)")
            value = CREDENTIAL
        elif char in DOUBLE_QUOTE_CHARS:
            self.fail("a double-quoted (expanding) string")
        else:
            value = self.bare_word()
        self.after_item(in_table)
        return value

    def after_item(self, in_table: bool) -> None:
        """After a value only a space, a comma, the end (or, in a table, '; ' or '}') may follow."""
        if self.at_end():
            return
        char = self.peek()
        if char in (SPACE, ","):
            return
        if in_table and (char == "}" or self.peek(2) == "; "):
            return
        self.fail("%r right after a value" % char)

    def value(self, in_table: bool = False) -> t.Any:
        items = [self.item(in_table)]
        while self.peek() == ",":
            self.pos += 1
            items.append(self.item(in_table))
        return items[0] if len(items) == 1 else items

    def table(self) -> dict[str, t.Any]:
        self.expect("@{")
        out: dict[str, t.Any] = {}
        while True:
            key = self.bare_word()
            self.expect("=")
            out[key] = self.value(in_table=True)
            if self.peek() == "}":
                self.pos += 1
                return out
            self.expect("; ")

    def command(self) -> tuple[str, list[tuple[str, t.Any]]]:
        name_start = self.pos
        while not self.at_end() and (self.text[self.pos] in ASCII_WORD or self.text[self.pos] == "-"):
            self.pos += 1
        name = self.text[name_start:self.pos]
        if not name or name.startswith("-"):
            self.fail("expected a command name")
        params: list[tuple[str, t.Any]] = []
        while not self.at_end():
            self.expect(SPACE)
            self.expect("-")
            param = self.bare_word_param()
            if self.peek() == ":":
                self.pos += 1
                params.append((param, self.item(False)))
            else:
                self.expect(SPACE)
                params.append((param, self.value()))
        return name, params

    def bare_word_param(self) -> str:
        start = self.pos
        while not self.at_end() and self.text[self.pos] in ASCII_WORD:
            self.pos += 1
        if self.pos == start:
            self.fail("expected a parameter name")
        return self.text[start:self.pos]


def parse_command(line: str) -> tuple[str, list[tuple[str, t.Any]]]:
    """``(command name, [(parameter, value), ...])`` of a line that is exactly one command."""
    return _Reader(line).command()


def read_verbatim(literal: str) -> str:
    """The value of one single-quoted string literal (the whole text must be that literal)."""
    reader = _Reader(literal)
    value = reader.verbatim()
    if not reader.at_end():
        reader.fail("text after the closing quote")
    return value
