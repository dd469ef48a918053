"""Switching activity from simulation: SAIF (Verilator ``--trace-saif``) and VCD files.

Both readers return an :class:`Activity`: a tree of :class:`Scope` objects (one per
design instance) whose nets carry per-bit toggle counts, plus the simulated duration.
SAIF (IEEE 1801 backward SAIF, as Verilator writes it) is read as an s-expression:
``(INSTANCE name (NET (bit (T0 n) (T1 n) (TX n) (TC n)) ...) (INSTANCE ...))``; a VCD
is reduced to the same numbers by counting, per bit, the changes between 0 and 1.

Malformed input raises :class:`~spikeforge.errors.UserError` saying where.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError

__all__ = ["NetBit", "Scope", "Activity", "parse_saif", "read_saif", "parse_vcd", "read_vcd",
           "read_activity"]

_TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, "ps": 1e-12, "fs": 1e-15}


@dataclass
class NetBit:
    """Toggle record of one net bit: time at 0, at 1, at X, and the toggle count."""

    t0: int = 0
    t1: int = 0
    tx: int = 0
    tc: int = 0


@dataclass
class Scope:
    """One design instance: its nets (bit name -> :class:`NetBit`) and sub-instances."""

    name: str
    nets: dict = field(default_factory=dict)
    children: dict = field(default_factory=dict)

    def walk(self, prefix: tuple = ()):
        """Yield ``(path, scope)`` for this scope and every descendant (path is a tuple
        of instance names relative to this scope)."""
        yield prefix, self
        for name, child in self.children.items():
            yield from child.walk(prefix + (name,))

    def find(self, path) -> "Scope | None":
        scope = self
        for name in path:
            scope = scope.children.get(name)
            if scope is None:
                return None
        return scope


@dataclass
class Activity:
    """Toggle counts of a simulation: ``root`` scope tree and ``duration`` in seconds."""

    root: Scope
    duration_s: float
    source: str = ""
    fmt: str = "saif"

    def clock_cycles(self, clock_net: str = "clk") -> float | None:
        """Cycles simulated, from the toggle count of ``clock_net`` (2 per cycle) in the
        first scope (breadth-first) that has it; None if no such net exists."""
        queue = [self.root]
        while queue:
            scope = queue.pop(0)
            bit = scope.nets.get(clock_net)
            if bit is not None:
                return bit.tc / 2.0
            queue.extend(scope.children.values())
        return None


# ----------------------------------------------------------------------------- SAIF

# One token: a whole net record ``(name (T0 n) (T1 n) ...)`` (groups 1-2: the bulk of a
# file, read by one regex match each), a parenthesis, a quoted string, or an atom
# (backslash escapes allowed).  The whole file is tokenized by one findall (C speed; the
# SAIF of a demo run has some 70,000 net records); what it skips must be white space, or
# the file is malformed.
_ATOM = r'(?:\\.|[^\s()\\"])+'
_KEY = r'(?:T[01XZBC]|I[GK])'                 # the toggle record keywords of SAIF
_TOKEN = re.compile(r'\(\s*(' + _ATOM + r')\s*((?:\(\s*' + _KEY + r'\s+[0-9]+\s*\)\s*)+)\)'
                    r'|(\()|(\))|("[^"]*")|(' + _ATOM + ')')
_RECORD = re.compile(r'\(\s*(' + _KEY + r')\s+([0-9]+)\s*\)')


@dataclass
class _ParsedNet:
    """A net record the tokenizer read whole."""

    name: str
    bit: NetBit


def _net_bit(records) -> NetBit:
    """A :class:`NetBit` from ``(key, value)`` pairs (other keys than T0/T1/TX/TC are
    ignored)."""
    bit = NetBit()
    for key, value in records:
        key = key.upper()
        if key in ("T0", "T1", "TX", "TC"):
            setattr(bit, key.lower(), value)
    if bit.tc and bit.t0 + bit.t1 + bit.tx > 0 and (bit.t0 == 0 or bit.t1 == 0) and bit.tx == 0:
        # Held one value for the whole DURATION: no real transition.  Verilator counts
        # the settling of an initial 1 at time 0 as a toggle.
        bit.tc = 0
    return bit


def _malformed_at(text: str, source: str) -> UserError:
    """The error for text the tokenizer cannot read, naming the first such line."""
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        match = _TOKEN.match(text, pos)
        if not match:
            line = text.count("\n", 0, pos) + 1
            return UserError(f"{source}: malformed SAIF near line {line}: "
                             f"{text[pos:].strip()[:40]!r}")
        pos = match.end()


def _parse_sexpr(text: str, source: str) -> list:
    if _TOKEN.sub("", text).strip():
        raise _malformed_at(text, source)
    stack: list[list] = [[]]
    top = stack[0]
    for name, records, opening, closing, string, atom in _TOKEN.findall(text):
        if name:
            top.append(_ParsedNet(_unescape(name), _net_bit(
                (key, int(value)) for key, value in _RECORD.findall(records))))
        elif opening:
            top = []
            stack.append(top)
        elif closing:
            if len(stack) == 1:
                raise UserError(f"{source}: malformed SAIF: unbalanced ')'")
            done = stack.pop()
            top = stack[-1]
            top.append(done)
        else:
            top.append(string or atom)
    if len(stack) != 1:
        raise UserError(f"{source}: malformed SAIF: {len(stack) - 1} unclosed '(' at end of file "
                        f"(truncated file?)")
    return stack[0]


_ESCAPE = re.compile(r"\\(.)")


def _unescape(name: str) -> str:
    if "\\" not in name:
        return name
    if "\\\\" not in name:            # every backslash escapes the next character
        return name.replace("\\", "")
    return _ESCAPE.sub(r"\1", name)


def _int(value, what: str, source: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UserError(f"{source}: malformed SAIF: {what} is {value!r}, not an integer") from None


def _parse_timescale(items: list, source: str) -> float:
    text = "".join(str(i) for i in items).replace(" ", "")
    match = re.fullmatch(r"([0-9.]+)?([a-z]+)", text)
    if not match or match.group(2) not in _TIME_UNITS:
        raise UserError(f"{source}: malformed SAIF: TIMESCALE {text!r} (expected e.g. 1ps)")
    return float(match.group(1) or 1) * _TIME_UNITS[match.group(2)]


def _parse_instance(node: list, source: str) -> Scope:
    if len(node) < 2 or not isinstance(node[1], str):
        raise UserError(f"{source}: malformed SAIF: INSTANCE without a name")
    scope = Scope(_unescape(node[1]))
    for item in node[2:]:
        if not isinstance(item, list) or not item:
            continue
        keyword = item[0]
        if keyword == "NET":
            for net in item[1:]:
                if isinstance(net, _ParsedNet):
                    scope.nets[net.name] = net.bit
                    continue
                if not isinstance(net, list) or not net or not isinstance(net[0], str):
                    raise UserError(f"{source}: malformed SAIF: bad NET entry in instance "
                                    f"{scope.name!r}")
                records = [(rec[0], _int(rec[1], f"{rec[0]} of {net[0]}", source))
                           for rec in net[1:] if isinstance(rec, list) and len(rec) == 2
                           and isinstance(rec[0], str)
                           and rec[0].upper() in ("T0", "T1", "TX", "TC")]
                scope.nets[_unescape(net[0])] = _net_bit(records)
        elif keyword == "INSTANCE":
            child = _parse_instance(item, source)
            scope.children[child.name] = child
    return scope


def parse_saif(text: str, source: str = "<saif>") -> Activity:
    """Parse SAIF text (see module docstring)."""
    # Verilator starts with a '// Generated by ...' line; SAIF itself has no comments.
    text = re.sub(r"^\s*//[^\n]*", "", text, flags=re.MULTILINE)
    tree = _parse_sexpr(text, source)
    if len(tree) != 1 or not isinstance(tree[0], list) or not tree[0] or tree[0][0] != "SAIFILE":
        raise UserError(f"{source}: not a SAIF file (expected one '(SAIFILE ...)' form)")
    body = tree[0][1:]
    timescale, duration, instances = None, None, []
    for item in body:
        if not isinstance(item, list) or not item:
            continue
        if item[0] == "TIMESCALE":
            timescale = _parse_timescale(item[1:], source)
        elif item[0] == "DURATION":
            if len(item) != 2:
                raise UserError(f"{source}: malformed SAIF: DURATION needs one value")
            duration = _int(item[1], "DURATION", source)
        elif item[0] == "INSTANCE":
            instances.append(_parse_instance(item, source))
    if duration is None:
        raise UserError(f"{source}: malformed SAIF: no DURATION")
    if not instances:
        raise UserError(f"{source}: malformed SAIF: no INSTANCE (nothing was traced)")
    if len(instances) == 1:
        root = instances[0]
    else:
        root = Scope("", children={s.name: s for s in instances})
    return Activity(root=root, duration_s=duration * (timescale or 1e-12), source=source,
                    fmt="saif")


def read_saif(path) -> Activity:
    """Read a SAIF file; a missing or unreadable file is a :class:`UserError`."""
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise UserError(f"cannot read SAIF file {str(path)!r}: {exc.strerror or exc}") from None
    return parse_saif(text, str(path))


# ----------------------------------------------------------------------------- VCD

def parse_vcd(text: str, source: str = "<vcd>") -> Activity:
    """Count per-bit 0<->1 changes in a VCD (X/Z changes count as TX time, not toggles)."""
    timescale = 1e-12
    root = Scope("")
    stack = [root]
    vars_by_id: dict[str, list] = {}
    tokens = iter(text.split())
    # --- header
    for tok in tokens:
        if tok == "$timescale":
            parts = []
            for t in tokens:
                if t == "$end":
                    break
                parts.append(t)
            timescale = _parse_timescale(parts, source)
        elif tok == "$scope":
            parts = []
            for t in tokens:
                if t == "$end":
                    break
                parts.append(t)
            if len(parts) < 2:
                raise UserError(f"{source}: malformed VCD: $scope without a name")
            name = parts[1]
            child = stack[-1].children.setdefault(name, Scope(name))
            stack.append(child)
        elif tok == "$upscope":
            if len(stack) == 1:
                raise UserError(f"{source}: malformed VCD: unbalanced $upscope")
            stack.pop()
        elif tok == "$var":
            parts = []
            for t in tokens:
                if t == "$end":
                    break
                parts.append(t)
            if len(parts) < 4:
                raise UserError(f"{source}: malformed VCD: bad $var {' '.join(parts)!r}")
            width, ident, name = _int(parts[1], "$var width", source), parts[2], parts[3]
            rng = parts[4] if len(parts) > 4 and parts[4].startswith("[") else ""
            low = 0
            m = re.fullmatch(r"\[(\d+)(?::(\d+))?\]", rng)
            if m:
                low = min(int(m.group(1)), int(m.group(2) or m.group(1)))
            bits = []
            for i in range(width):
                bit_name = name if width == 1 and not rng else f"{name}[{low + i}]"
                bit = stack[-1].nets.setdefault(bit_name, NetBit())
                bits.append(bit)
            vars_by_id.setdefault(ident, []).append(bits)
        elif tok == "$enddefinitions":
            for t in tokens:
                if t == "$end":
                    break
            break
    if not vars_by_id:
        raise UserError(f"{source}: malformed VCD: no $var definitions")
    # --- value changes
    state: dict[str, str] = {}
    last_time = 0
    since: dict[str, int] = {}

    def account(ident: str, old: str, now: int):
        for bits in vars_by_id[ident]:
            width = len(bits)
            old_bits = old.rjust(width, old[0] if old and old[0] in "xz" else "0")[-width:]
            for i in range(width):
                v = old_bits[width - 1 - i]
                span = now - since[ident]
                if v == "0":
                    bits[i].t0 += span
                elif v == "1":
                    bits[i].t1 += span
                else:
                    bits[i].tx += span

    def change(ident: str, value: str, now: int):
        if ident not in vars_by_id:
            raise UserError(f"{source}: malformed VCD: value change for unknown id {ident!r}")
        old = state.get(ident)
        if old is not None:
            account(ident, old, now)
            for bits in vars_by_id[ident]:
                width = len(bits)
                a = old.rjust(width, "0")[-width:]
                b = value.rjust(width, value[0] if value[0] in "xz" else "0")[-width:]
                for i in range(width):
                    x, y = a[width - 1 - i], b[width - 1 - i]
                    if x != y and x in "01" and y in "01":
                        bits[i].tc += 1
        state[ident] = value.lower()
        since[ident] = now

    pending = None
    for tok in tokens:
        if pending is not None:
            change(tok, pending, last_time)
            pending = None
        elif tok.startswith("#"):
            last_time = _int(tok[1:], "timestamp", source)
        elif tok[0] in "bBrR":
            if tok[0] in "rR":
                pending = "0"  # real values are not switching activity of bits
                continue
            pending = tok[1:].lower()
        elif tok[0] in "01xzXZ" and len(tok) > 1:
            change(tok[1:], tok[0].lower(), last_time)
        elif tok.startswith("$"):
            continue  # $dumpvars / $end / $comment markers
        else:
            raise UserError(f"{source}: malformed VCD: unexpected token {tok[:40]!r}")
    for ident, value in state.items():
        account(ident, value, last_time)
    return Activity(root=root if len(root.children) != 1 or root.nets else
                    next(iter(root.children.values())),
                    duration_s=last_time * timescale, source=source, fmt="vcd")


def read_vcd(path) -> Activity:
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise UserError(f"cannot read VCD file {str(path)!r}: {exc.strerror or exc}") from None
    return parse_vcd(text, str(path))


def read_activity(path) -> Activity:
    """Read a ``.saif`` or ``.vcd`` file (by extension; otherwise by content)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"activity file {str(path)!r} does not exist")
    if path.suffix.lower() == ".vcd":
        return read_vcd(path)
    if path.suffix.lower() == ".saif":
        return read_saif(path)
    head = path.read_text(errors="replace")[:2000]
    if "(SAIFILE" in head:
        return read_saif(path)
    if "$var" in head or "$timescale" in head or "$scope" in head:
        return read_vcd(path)
    raise UserError(f"{str(path)!r} is neither a SAIF nor a VCD file: use a .saif "
                    f"(Verilator --trace-saif) or .vcd file")
