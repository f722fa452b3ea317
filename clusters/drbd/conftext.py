"""Tokenizer and statement tree for drbd.conf-like text (.res files, `drbdadm dump`,
`drbdsetup show`).

The grammar is the one drbdadm's scanner reads: words, "quoted strings" with
backslash escapes, `{ … }` blocks, statements ending in `;`, `#` comments to the end
of the line. A comment on the line of a statement is kept because `drbdsetup show
--show-defaults` marks default values with `# default`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from clusters.drbd.model import DrbdConfigError

_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r\f\v]+)
    | (?P<nl>\n)
    | (?P<comment>\#[^\n]*)
    | (?P<string>"(?:[^"\\\n]|\\.)*")
    | (?P<punct>[{};])
    | (?P<word>[^\s{};"\#]+)
    """,
    re.VERBOSE,
)
_ESCAPE = re.compile(r"\\(.)")


@dataclass(frozen=True)
class Token:
    """One word, quoted string or punctuation mark with its 1-based line."""

    kind: str
    text: str
    line: int


@dataclass
class Statement:
    """`word word …;` or `word word … { statements }`, with its trailing comment."""

    words: list[str]
    line: int
    block: list[Statement] | None = None
    comment: str = ""
    quoted: list[bool] = field(default_factory=list)

    @property
    def keyword(self) -> str:
        """The first word, e.g. `resource`, `on`, `net`, `protocol`."""
        return self.words[0]

    @property
    def args(self) -> list[str]:
        """The words after the keyword."""
        return self.words[1:]


def tokenize(text: str) -> list[Token]:
    """Split text into tokens; comments become `comment` tokens."""
    tokens: list[Token] = []
    line, pos = 1, 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise DrbdConfigError(f"line {line}: unterminated or invalid quoted string")
        kind = match.lastgroup or ""
        value = match.group()
        if kind == "nl":
            line += 1
        elif kind == "string":
            tokens.append(Token("string", _ESCAPE.sub(r"\1", value[1:-1]), line))
        elif kind != "ws":
            tokens.append(Token(kind, value, line))
        pos = match.end()
    return tokens


def parse_statements(text: str) -> list[Statement]:
    """Parse text into a statement tree; DrbdConfigError names the offending line."""
    tokens = tokenize(text)
    statements, pos = _parse_block(tokens, 0, nested=False)
    if pos != len(tokens):  # pragma: no cover - _parse_block consumes everything at top
        raise DrbdConfigError(f"line {tokens[pos].line}: unexpected '{tokens[pos].text}'")
    return statements


def _parse_block(tokens: list[Token], pos: int, nested: bool) -> tuple[list[Statement], int]:
    statements: list[Statement] = []
    current: Statement | None = None
    while pos < len(tokens):
        token = tokens[pos]
        pos += 1
        if token.kind == "comment":
            _attach_comment(statements, current, token)
        elif token.kind in ("word", "string"):
            if current is None:
                current = Statement([], token.line)
            current.words.append(token.text)
            current.quoted.append(token.kind == "string")
        elif token.text == ";":
            if current is None:
                continue  # drbdadm tolerates a stray ';' after a block
            statements.append(current)
            current = None
        elif token.text == "{":
            if current is None:
                raise DrbdConfigError(f"line {token.line}: '{{' without a section keyword")
            current.block, pos = _parse_block(tokens, pos, nested=True)
            statements.append(current)
            current = None
        else:  # "}"
            if not nested:
                raise DrbdConfigError(f"line {token.line}: unbalanced '}}'")
            _require_closed(current)
            return statements, pos
    if nested:
        last = tokens[-1].line if tokens else 1
        raise DrbdConfigError(f"line {last}: missing '}}' at end of input")
    _require_closed(current)
    return statements, pos


def _attach_comment(statements: list[Statement], current: Statement | None, token: Token) -> None:
    if current is None and statements and statements[-1].block is None:
        last = statements[-1]
        if last.line == token.line:
            last.comment = token.text[1:].strip()


def _require_closed(current: Statement | None) -> None:
    if current is not None:
        raise DrbdConfigError(
            f"line {current.line}: statement '{' '.join(current.words)}' is missing its ';'"
        )


def options_of(block: list[Statement], section: str) -> dict[str, str]:
    """An option section (`net`, `disk`, …) as an ordered dict of name to value.

    A flag written without a value (`allow-two-primaries;`, old syntax) means yes.
    """
    options: dict[str, str] = {}
    for stmt in block:
        if stmt.block is not None:
            raise DrbdConfigError(
                f"line {stmt.line}: unexpected block '{stmt.keyword}' in {section}"
            )
        options[stmt.keyword] = " ".join(stmt.args) if stmt.args else "yes"
    return options
