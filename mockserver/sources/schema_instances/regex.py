"""A small length-aware generator of strings matching an ECMA-262-style pattern."""

from __future__ import annotations

import random
import re
import string
from typing import Any, Iterator


_PRINTABLE = "".join(chr(c) for c in range(32, 127))
_NICE = string.ascii_letters + string.digits
_EXTRA_CHARS = "éüñçøåßÉ€£"
_R_DIGIT = ((48, 57),)
_R_WORD = ((48, 57), (65, 90), (95, 95), (97, 122))
_R_SPACE = ((9, 13), (32, 32), (160, 160), (0x2028, 0x2029), (0xFEFF, 0xFEFF))
_UNICODE_CLASSES = {
    "L": ((65, 90), (97, 122), (0xC0, 0xD6), (0xD8, 0xF6), (0xF8, 0x24F)),
    "Lu": ((65, 90), (0xC0, 0xD6), (0xD8, 0xDE)),
    "Ll": ((97, 122), (0xDF, 0xF6), (0xF8, 0xFF)),
    "N": _R_DIGIT, "Nd": _R_DIGIT,
    "P": ((33, 35), (37, 42), (44, 47), (58, 59), (63, 64), (91, 93), (95, 95), (123, 123), (125, 125)),
    "Zs": ((32, 32),), "Z": ((32, 32),),
    "S": ((36, 36), (43, 43), (60, 62), (94, 94), (96, 96), (124, 124), (126, 126)),
}
for _alias, _canon in (("Letter", "L"), ("Alphabetic", "L"), ("Alpha", "L"),
                       ("Uppercase_Letter", "Lu"), ("Lowercase_Letter", "Ll"),
                       ("Number", "N"), ("Decimal_Number", "Nd"), ("digit", "Nd"),
                       ("Punctuation", "P"), ("Space_Separator", "Zs"), ("Symbol", "S")):
    _UNICODE_CLASSES[_alias] = _UNICODE_CLASSES[_canon]


class _RegexUnsupported(Exception):
    """The pattern uses syntax the generator does not model."""


class _R:
    """A regex AST node with the min/max length of what it can match."""

    __slots__ = ("kind", "a", "lo", "hi", "mn", "mx")

    def __init__(self, kind: str, a: Any = None, lo: int = 0, hi: int | None = 0,
                 mn: int = 0, mx: int | None = 0) -> None:
        self.kind, self.a, self.lo, self.hi, self.mn, self.mx = kind, a, lo, hi, mn, mx


def _r_lit(ch: str) -> _R:
    return _R("lit", ch, mn=1, mx=1)


def _r_set(chars: str) -> _R:
    return _R("set", chars, mn=1, mx=1)


def _r_seq(items: list[_R]) -> _R:
    if len(items) == 1:
        return items[0]
    mn = sum(i.mn for i in items)
    mx = None if any(i.mx is None for i in items) else sum(i.mx for i in items)
    return _R("seq", items, mn=mn, mx=mx)


def _r_alt(branches: list[_R]) -> _R:
    if len(branches) == 1:
        return branches[0]
    mn = min(b.mn for b in branches)
    mx = None if any(b.mx is None for b in branches) else max(b.mx for b in branches)
    return _R("alt", branches, mn=mn, mx=mx)


def _r_rep(child: _R, lo: int, hi: int | None) -> _R:
    mn = lo * child.mn
    if child.mx == 0 or hi == 0:
        mx: int | None = 0
    elif hi is None or child.mx is None:
        mx = None
    else:
        mx = hi * child.mx
    return _R("rep", child, lo=lo, hi=hi, mn=mn, mx=mx)


class _RegexParser:
    """Recursive-descent parser for the common subset of ECMA-262 patterns.

    Supported: literals and escapes, ``.``, classes (ranges, negation,
    ``\\d\\w\\s`` and their negations, a few ``\\p{..}``), groups (capturing,
    ``(?:``, named), alternation, quantifiers ``* + ? {n} {n,} {n,m}`` (lazy and
    possessive suffixes ignored), anchors ``^ $ \\b \\B``, backreferences;
    lookarounds are parsed and ignored (the result is verified anyway).
    """

    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0
        self.groups = 0
        self.names: dict[str, int] = {}
        self.approx = False  # lookarounds, \\b, backrefs: lengths are only estimates

    def parse(self) -> _R:
        node = self.alt()
        if self.i != len(self.p):
            raise _RegexUnsupported("unbalanced parenthesis")
        return node

    def peek(self) -> str:
        return self.p[self.i] if self.i < len(self.p) else ""

    def alt(self) -> _R:
        branches = [self.seq()]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.seq())
        return _r_alt(branches)

    def seq(self) -> _R:
        items: list[_R] = []
        while self.i < len(self.p) and self.p[self.i] not in "|)":
            items.append(self.quant(self.atom()))
        if not items:
            return _R("empty")
        return _r_seq(items)

    def quant(self, atom: _R) -> _R:
        c = self.peek()
        if c == "*":
            lo, hi = 0, None
            self.i += 1
        elif c == "+":
            lo, hi = 1, None
            self.i += 1
        elif c == "?":
            lo, hi = 0, 1
            self.i += 1
        elif c == "{":
            m = re.compile(r"\{(\d+)(,(\d*))?\}").match(self.p, self.i)
            if not m:
                return atom
            lo = int(m.group(1))
            hi = lo if m.group(2) is None else (int(m.group(3)) if m.group(3) else None)
            if hi is not None and hi < lo:
                raise _RegexUnsupported("numbers out of order in {} quantifier")
            self.i = m.end()
        else:
            return atom
        if self.peek() in ("?", "+"):
            self.i += 1
        if atom.kind in ("bol", "eol", "empty"):
            return atom
        return _r_rep(atom, lo, hi)

    def atom(self) -> _R:
        c = self.p[self.i]
        self.i += 1
        if c == "(":
            return self.group()
        if c == "[":
            return self.char_class()
        if c == ".":
            return _r_set(_NICE)
        if c == "^":
            return _R("bol")
        if c == "$":
            return _R("eol")
        if c == "\\":
            return self.escape(in_class=False)
        if c in "*+?":
            raise _RegexUnsupported("nothing to repeat")
        return _r_lit(c)

    def group(self) -> _R:
        p = self.p
        index: int | None = None
        if p.startswith("?:", self.i):
            self.i += 2
        elif p.startswith(("?=", "?!"), self.i) or p.startswith(("?<=", "?<!"), self.i):
            self.i += 3 if p[self.i + 1] == "<" else 2
            self.alt()
            self.expect(")")
            self.approx = True
            return _R("empty")
        elif p.startswith(("?<", "?P<"), self.i):
            j = p.index(">", self.i)
            name = p[self.i + (3 if p[self.i + 1] == "P" else 2): j]
            self.i = j + 1
            self.groups += 1
            index = self.groups
            self.names[name] = index
        elif self.peek() == "?":
            raise _RegexUnsupported("inline flags or extensions")
        else:
            self.groups += 1
            index = self.groups
        inner = self.alt()
        self.expect(")")
        return _R("group", (inner, index), mn=inner.mn, mx=inner.mx)

    def expect(self, ch: str) -> None:
        if self.peek() != ch:
            raise _RegexUnsupported(f"expected {ch!r}")
        self.i += 1

    def _hex(self, n: int) -> str:
        s = self.p[self.i: self.i + n]
        if len(s) != n or not all(c in string.hexdigits for c in s):
            raise _RegexUnsupported("bad hex escape")
        self.i += n
        return chr(int(s, 16))

    def _prop_ranges(self) -> tuple[tuple[int, int], ...]:
        if self.peek() != "{":
            raise _RegexUnsupported("bad \\p escape")
        j = self.p.index("}", self.i)
        name = self.p[self.i + 1: j].split("=")[-1]
        self.i = j + 1
        ranges = _UNICODE_CLASSES.get(name)
        if ranges is None:
            raise _RegexUnsupported(f"unicode property {name}")
        return ranges

    def class_escape(self) -> tuple[str, Any]:
        """One escape inside or outside a class: ('char', c) / ('ranges', r) / ('neg', r)."""
        c = self.p[self.i] if self.i < len(self.p) else ""
        if not c:
            raise _RegexUnsupported("trailing backslash")
        self.i += 1
        table = {"d": _R_DIGIT, "w": _R_WORD, "s": _R_SPACE}
        if c in table:
            return ("ranges", table[c])
        if c.lower() in table:
            return ("neg", table[c.lower()])
        if c in "pP":
            r = self._prop_ranges()
            return ("ranges" if c == "p" else "neg", r)
        simple = {"n": "\n", "r": "\r", "t": "\t", "f": "\f", "v": "\v", "0": "\0"}
        if c in simple:
            return ("char", simple[c])
        if c == "x":
            return ("char", self._hex(2))
        if c == "u":
            if self.peek() == "{":
                j = self.p.index("}", self.i)
                cp = int(self.p[self.i + 1: j], 16)
                self.i = j + 1
                return ("char", chr(cp))
            return ("char", self._hex(4))
        if c == "c" and self.peek().isalpha():
            ch = self.p[self.i]
            self.i += 1
            return ("char", chr(ord(ch.upper()) % 32))
        return ("char", c)

    def escape(self, *, in_class: bool) -> _R:
        c = self.peek()
        if c in ("b", "B"):
            self.i += 1
            self.approx = True
            return _R("empty")
        if c.isdigit() and c != "0":
            m = re.compile(r"\d+").match(self.p, self.i)
            self.i = m.end()
            self.approx = True
            return _R("bref", int(m.group()), mn=0, mx=None)
        if c == "k" and self.p.startswith("k<", self.i):
            j = self.p.index(">", self.i)
            name = self.p[self.i + 2: j]
            self.i = j + 1
            if name not in self.names:
                raise _RegexUnsupported("unknown group name")
            self.approx = True
            return _R("bref", self.names[name], mn=0, mx=None)
        kind, val = self.class_escape()
        if kind == "char":
            return _r_lit(val)
        return _r_set(_chars_for([] if kind == "neg" else list(val), [val] if kind == "neg" else [], False))

    def char_class(self) -> _R:
        negate = False
        if self.peek() == "^":
            negate = True
            self.i += 1
        ranges: list[tuple[int, int]] = []
        negs: list[tuple[tuple[int, int], ...]] = []
        first = True
        while True:
            if self.i >= len(self.p):
                raise _RegexUnsupported("unterminated class")
            c = self.p[self.i]
            if c == "]" and not first:
                self.i += 1
                break
            if c == "]" and first:  # ECMA: [] matches nothing, [^] matches anything
                self.i += 1
                return _r_set(_NICE if negate else "")
            first = False
            self.i += 1
            if c == "\\":
                if self.peek() == "b":
                    self.i += 1
                    lo_item: tuple[str, Any] = ("char", "\b")
                else:
                    lo_item = self.class_escape()
            else:
                lo_item = ("char", c)
            if lo_item[0] == "ranges":
                ranges.extend(lo_item[1])
                continue
            if lo_item[0] == "neg":
                negs.append(lo_item[1])
                continue
            lo_ch = lo_item[1]
            if self.peek() == "-" and self.i + 1 < len(self.p) and self.p[self.i + 1] != "]":
                self.i += 1
                c2 = self.p[self.i]
                self.i += 1
                if c2 == "\\":
                    hi_item = self.class_escape()
                    if hi_item[0] != "char":
                        # [a-\d]: '-' is literal in ECMA annex B
                        ranges.extend(((ord(lo_ch), ord(lo_ch)), (45, 45)))
                        (ranges.extend if hi_item[0] == "ranges" else (lambda r: negs.append(r)))(hi_item[1])
                        continue
                    hi_ch = hi_item[1]
                else:
                    hi_ch = c2
                if ord(hi_ch) < ord(lo_ch):
                    raise _RegexUnsupported("range out of order")
                ranges.append((ord(lo_ch), ord(hi_ch)))
            else:
                ranges.append((ord(lo_ch), ord(lo_ch)))
        return _r_set(_chars_for(ranges, negs, negate))


def _chars_for(ranges: list, negs: list, negate: bool) -> str:
    """Concrete characters a class can produce, printable ASCII preferred."""

    def member(ch: str) -> bool:
        cp = ord(ch)
        if any(lo <= cp <= hi for lo, hi in ranges):
            return True
        return any(not any(lo <= cp <= hi for lo, hi in neg) for neg in negs)

    if negate:
        chars = [c for c in _PRINTABLE if not member(c)]
        if not chars:
            chars = [c for c in _EXTRA_CHARS if not member(c)]
    else:
        chars = [c for c in _PRINTABLE if member(c)]
        if not chars:
            chars = [chr(cp) for lo, hi in ranges for cp in range(lo, min(hi, lo + 63) + 1)]
            chars += [c for c in _EXTRA_CHARS if member(c) and c not in chars]
    # Prefer letters/digits when the class allows them, for readable output.
    nice = [c for c in chars if c in _NICE]
    if len(nice) >= 5 and len(chars) > 40:
        return "".join(nice)
    return "".join(chars)


_REGEX_CACHE: dict[str, tuple[_R | None, bool]] = {}


def _parse_regex_ex(pattern: str) -> tuple[_R | None, bool]:
    """(AST or None if unsupported, whether the AST's lengths are exact)."""
    hit = _REGEX_CACHE.get(pattern)
    if hit is None:
        parser = _RegexParser(pattern)
        try:
            hit = (parser.parse(), not parser.approx)
        except (_RegexUnsupported, ValueError, IndexError):
            hit = (None, False)
        if len(_REGEX_CACHE) > 2048:
            _REGEX_CACHE.clear()
        _REGEX_CACHE[pattern] = hit
    return hit


def _parse_regex(pattern: str) -> _R | None:
    return _parse_regex_ex(pattern)[0]


def _regex_impossible(pattern: str, lo: int, hi: int | None) -> bool:
    """True only when the pattern provably has no match within [lo, hi]."""
    ast, exact = _parse_regex_ex(pattern)
    if ast is None or not exact:
        return False
    if hi is not None and ast.mn > hi:
        return True
    if ast.mx is not None and ast.mx < lo and _anchored(ast, True) and _anchored(ast, False):
        return True
    return False


def _anchored(node: _R, end: bool) -> bool:
    if node.kind == ("eol" if end else "bol"):
        return True
    if node.kind == "seq":
        items = [i for i in node.a if i.kind != "empty"]
        return bool(items) and _anchored(items[-1] if end else items[0], end)
    if node.kind == "alt":
        return all(_anchored(b, end) for b in node.a)
    if node.kind == "group":
        return _anchored(node.a[0], end)
    return False


def _split(rng: random.Random, total: int, mins: list[int], maxs: list[int | None]) -> list[int]:
    """Share ``total`` among parts within their [min, max], randomly."""
    alloc = list(mins)
    extra = total - sum(mins)
    if extra <= 0:
        return alloc
    order = [i for i in range(len(mins)) if maxs[i] is None or maxs[i] > mins[i]]
    rng.shuffle(order)
    for k, i in enumerate(order):
        cap = extra if maxs[i] is None else min(extra, maxs[i] - mins[i])
        give = cap if k == len(order) - 1 else rng.randint(0, cap)
        alloc[i] += give
        extra -= give
    for i in order:  # leftovers after the random pass
        if extra <= 0:
            break
        cap = extra if maxs[i] is None else min(extra, maxs[i] - alloc[i])
        alloc[i] += cap
        extra -= cap
    return alloc


def _emit(node: _R, target: int, rng: random.Random, out: list[str], groups: dict[int, str]) -> None:
    """Append a match of ``node`` whose length is as close to ``target`` as it can be."""
    kind = node.kind
    if kind == "lit":
        out.append(node.a)
    elif kind == "set":
        if not node.a:
            raise _RegexUnsupported("empty class")
        out.append(node.a[rng.randrange(len(node.a))])
    elif kind == "seq":
        items = node.a
        sizes = _split(rng, target, [i.mn for i in items], [i.mx for i in items])
        for item, size in zip(items, sizes):
            _emit(item, size, rng, out, groups)
    elif kind == "alt":
        fits = [b for b in node.a if b.mn <= target and (b.mx is None or target <= b.mx)]
        if not fits:
            fits = sorted(node.a, key=lambda b: abs(b.mn - target))[:1]
        _emit(fits[rng.randrange(len(fits))], target, rng, out, groups)
    elif kind == "rep":
        child, lo, hi = node.a, node.lo, node.hi
        cmn, cmx = child.mn, child.mx
        # Feasible counts c: lo <= c <= hi and c*cmn <= target <= c*cmx.
        c_lo = lo
        if cmx is not None and cmx > 0:
            c_lo = max(lo, -(-target // cmx))
        c_hi = hi if hi is not None else None
        if cmn > 0:
            c_hi = target // cmn if c_hi is None else min(c_hi, target // cmn)
        if c_hi is None:
            c_hi = c_lo + 1
        if cmx == 0:
            count = lo
        elif c_lo <= c_hi:
            count = rng.randint(c_lo, min(c_hi, c_lo + 1))
        elif target < lo * cmn:
            count = lo
        else:
            count = hi if hi is not None else c_lo
        count = min(count, 10000)
        sizes = _split(rng, target, [cmn] * count, [cmx] * count)
        for size in sizes:
            _emit(child, size, rng, out, groups)
    elif kind == "group":
        inner, index = node.a
        start = len(out)
        _emit(inner, target, rng, out, groups)
        if index is not None:
            groups[index] = "".join(out[start:])
    elif kind == "bref":
        out.append(groups.get(node.a, ""))
    # bol / eol / empty produce nothing


def _regex_strings(pattern: str, lo: int, hi: int | None, rng: random.Random,
                   minimal: bool, tries: int = 12) -> Iterator[str]:
    """Candidate strings for ``pattern`` within [lo, hi] characters (unverified)."""
    ast = _parse_regex(pattern)
    if ast is None:
        yield from _fallback_strings(lo, hi)
        return
    pmx = ast.mx if ast.mx is not None else max(lo, ast.mn) + 64
    L = max(lo, ast.mn)
    H = pmx if hi is None else min(hi, pmx)
    pad_end = not _anchored(ast, True)
    pad_start = not _anchored(ast, False)
    if L > H:
        # Too long a string is wanted: only padding around an unanchored match helps.
        if not (pad_end or pad_start) or (hi is not None and ast.mn > hi):
            return
        L = H = min(pmx, hi) if hi is not None else pmx
    spread = 0 if minimal else 8
    for attempt in range(tries):
        if attempt == 0:
            target = L if minimal else rng.randint(L, min(H, L + spread))
        else:
            target = rng.randint(L, min(H, L + 2 + attempt * 4))
        out: list[str] = []
        try:
            _emit(ast, target, rng, out, {})
        except _RegexUnsupported:
            return
        s = "".join(out)
        if len(s) < lo and (pad_end or pad_start):
            fill = "x" * (lo - len(s))
            s = s + fill if pad_end else fill + s
        yield s


def _fallback_strings(lo: int, hi: int | None) -> Iterator[str]:
    """Blind guesses for patterns the regex generator cannot model."""
    for base in ("a", "abc", "A1", "example", "test123", "ABC", "1", "12345", "a-b_c",
                 "2024-01-01", "user@example.com", "https://example.com", "Hello World"):
        if len(base) < lo:
            base = base + "a" * (lo - len(base))
        if hi is None or len(base) <= hi:
            yield base

