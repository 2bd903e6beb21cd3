"""What every request must hold before any servicer sees it: the limits of the edge.

One check serves every RPC of every group (`check_request`, called once per call by the
runtime), driven by the request's own descriptor, so a new RPC or field is covered without a
line of code. It refuses, with INVALID_ARGUMENT naming each field by its path (e.g.
`reports[3].execution.explanation`, `samples[0].window_start`), what the storage layer or the
domain cannot hold, on SQLite and PostgreSQL alike:

- strings: a NUL character (PostgreSQL's text refuses it; protobuf's parser already refuses bad
  UTF-8), and more characters than the field's limit;
- repeated and map fields: more entries than the field's limit;
- timestamps outside 0001-01-01..9999-12-31 (what `datetime` and the JSON form can hold: the
  user-activity record of an operator call must always be writable, so a value it could not
  serialise is refused before the call runs);
- doubles that are not finite; amounts in micro-units (a request's `*_micros` integers) beyond
  `MAX_MICROS`, so that the domain's sums and products stay inside int64;
- a report larger than `MAX_REPORT_BYTES` serialised;
- the session id an operator call is recorded under (`x-polytraders-session` metadata) longer
  than the user-activity ledger holds;
- fields with a content rule: decimal strings (finite, under 10^18, a bounded number of decimal
  places), JSON documents (well formed, finite numbers, at most `JSON_DEPTH` levels deep) and
  bus cursors (digits, inside int64).

Each field's limit is stated in its `.proto` comment (`limit_text` writes the sentence; a test
holds the comments to these tables). Empty strings and unset fields always pass: whether a field
is required is the domain's business.

The check is cheap where volume is: a `WireRequest` (PublishReports) is first checked as
columns read in C from its bytes (the header_columns technique: a private view of the message
whose strings are repeated bytes, so each field of every report parses into one list), and only
a request that may be at fault is walked field by field to name what is wrong.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, cast

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message
from google.protobuf.timestamp_pb2 import Timestamp

from .errors import FieldViolation, InvalidArgument
from .requests import WireRequest

MAX_VIOLATIONS = 10
"""A refusal names at most this many fields, so its status always fits gRPC's metadata."""
QUOTE_CHARS = 32
"""At most this much of a caller's value is quoted back (map keys in field paths)."""

DEFAULT_CHARS = 256
FREE_TEXT_CHARS = 16_384
JSON_CHARS = 262_144
JSON_DEPTH = 32
DEFAULT_ITEMS = 1000
MAX_REPORT_BYTES = 1024 * 1024
"""The SDK publisher's own default `max_report_bytes`: what it sends, the bus accepts."""
MAX_INT64 = 2**63 - 1
MAX_MICROS = 10**15
"""A billion pUSD or outcome tokens, in micro-units."""
SESSION_METADATA = "x-polytraders-session"
SESSION_CHARS = 64
"""The user-activity ledger's session id column."""

_MIN_SECONDS = -62_135_596_800  # 0001-01-01T00:00:00Z
_MAX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z
_TIMESTAMP = "google.protobuf.Timestamp"
_REPORT = "polytraders.reports.v1.Report"


# -- content rules ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Content:
    """What a non-empty string field must be, beyond its length."""

    summary: str
    """How the `.proto` comment says it, e.g. "a JSON document at most 32 levels deep"."""
    problem: Callable[[str], str | None]
    """None when the value is fine, else what is wrong with it."""


def decimal(places: int) -> Content:
    """A finite decimal string under 10^18 in magnitude with at most `places` decimal places."""

    def problem(text: str) -> str | None:
        try:
            value = Decimal(text)
        except InvalidOperation:
            return "must be a decimal string"
        if not value.is_finite():
            return "must be a finite decimal"
        if value and value.adjusted() >= 18:
            return "must be less than 10^18 in magnitude"
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -places:
            return f"has more than {places} decimal places"
        return None

    return Content(f"a finite decimal under 10^18 with at most {places} decimal places", problem)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:QUOTE_CHARS]} is not a finite number")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_JSON_TOKENS = re.compile(r'\\.|["\[\]{}]', re.DOTALL)
"""What decides a JSON text's nesting: quotes, brackets, and escapes (a pair, so that an escaped
quote never reads as one). Matched one token at a time: no backtracking, linear in the text."""


def _deeper_than(text: str, limit: int) -> bool:
    """Whether `text` nests brackets deeper than `limit`, counted without parsing it (a parser
    recurses once per level: given a few hundred thousand, it runs out of stack)."""
    depth, in_string = 0, False
    for token in _JSON_TOKENS.findall(text):
        if token == '"':
            in_string = not in_string
        elif in_string or len(token) == 2:
            continue
        elif token in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def json_problem(text: str) -> str | None:
    if _deeper_than(text, JSON_DEPTH):
        return f"nests deeper than {JSON_DEPTH} levels"
    try:
        json.loads(text, parse_float=_finite_float, parse_constant=_no_constant)
    except ValueError:
        return "must be a JSON document with finite numbers"
    return None


JSON = Content(f"a JSON document at most {JSON_DEPTH} levels deep", json_problem)


def is_cursor(text: str) -> bool:
    """A bus cursor: the decimal digits of an archive sequence number inside int64."""
    return text.isascii() and text.isdigit() and len(text) <= 19 and int(text) <= MAX_INT64


CURSOR = Content(
    "a cursor from a previous response (decimal digits, inside int64)",
    lambda text: None if is_cursor(text) else "is not a cursor this bus issued",
)
PRICE = decimal(18)
AMOUNT = decimal(30)


# -- the limits ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """The limits of one field; None leaves that aspect unchecked."""

    chars: int | None = DEFAULT_CHARS
    """Most characters of a string (of each entry of a repeated string)."""
    items: int | None = DEFAULT_ITEMS
    """Most entries of a repeated or map field."""
    content: Content | None = None
    magnitude: int | None = None
    """Largest absolute value of an integer field."""


FREE_TEXT = Rule(chars=FREE_TEXT_CHARS)
SLUG = Rule(chars=128)
MARKET = Rule(chars=80)
"""Condition and token ids as the P&L and attribution tables hold them (a uint256 has 78 digits)."""
DOCUMENT = Rule(chars=JSON_CHARS, content=JSON)


def _names(rule: Rule, *names: str) -> dict[str, Rule]:
    return dict.fromkeys(names, rule)


BY_NAME: dict[str, Rule] = {
    **_names(FREE_TEXT, "explanation", "reason", "note", "description", "summary", "resolution"),
    **_names(SLUG, "bot_slug", "bot_slugs", "slug", "slugs", "strategy_slug", "control_slug", "variant_slug",
             "signal_bot_slugs", "parameters_from_bot", "experiment_id", "authority", "action", "actor", "user"),
    **_names(MARKET, "condition_id", "token_id", "token_ids", "winning_token_id", "from_no_token_ids"),
    "session_id": Rule(chars=SESSION_CHARS),
    "follower": Rule(chars=64),
    **_names(Rule(chars=32, content=PRICE), "best_bid", "best_ask", "last_trade_price"),
    **_names(Rule(chars=64, content=AMOUNT), "control_value", "variant_value", "minimum_detectable_effect", "alpha",
             "risk_adjusted_return", "fee_rate", "fee_exponent", "tick_size"),
    **_names(DOCUMENT, "parameters_json", "parameters_b_json", "details_json"),
    "cursor": Rule(chars=19, content=CURSOR),
}  # fmt: skip
"""A field of this name, in any request message outside the reports, unless FIELDS says otherwise."""

REPORT_FIELD = Rule(chars=1024, items=10_000)
"""A field of a report (polytraders.reports.v1), unless REPORT_BY_NAME or FIELDS says otherwise: a
whole book side fits in its lists. The bus checks the header's ids and slugs itself; what a
follower cannot store of a report it sets aside."""
REPORT_BY_NAME: dict[str, Rule] = {"explanation": FREE_TEXT, "details_json": DOCUMENT}

MICROS = Rule(magnitude=MAX_MICROS)
"""An amount in micro-units (a `*_micros` integer of a request outside the reports): the domain's
sums and products of such amounts stay inside int64."""
_INTEGERS = frozenset({FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_INT64,
                       FieldDescriptor.CPPTYPE_UINT32, FieldDescriptor.CPPTYPE_UINT64})  # fmt: skip

FIELDS: dict[str, Rule] = {
    "polytraders.governance.v1.PublishReportsRequest.reports": Rule(items=None),  # the bus's max_batch_reports
    "polytraders.governance.v1.RegisterStrategyRequest.authority": Rule(chars=128, items=100),
}  # fmt: skip
"""Overrides by full field name."""

MESSAGE_BYTES: dict[str, int] = {_REPORT: MAX_REPORT_BYTES}
"""Most bytes a message of this type may take serialised, wherever it occurs."""
_REPORTS_PACKAGE = "polytraders.reports.v1"


@cache
def rule_for(field: FieldDescriptor) -> Rule:
    if field.full_name in FIELDS:
        return FIELDS[field.full_name]
    owner = _owner(field)
    if owner.GetOptions().map_entry:  # a map's key and value: the map field's own rule decides
        rule = rule_for(next(f for f in _owner(owner).fields if f.message_type is owner))
        return Rule(chars=rule.chars, items=None, content=rule.content if field.name == "value" else None)
    if owner.file.package == _REPORTS_PACKAGE:
        return REPORT_BY_NAME.get(field.name, REPORT_FIELD)
    if field.name.endswith("_micros") and field.cpp_type in _INTEGERS:
        return MICROS
    return BY_NAME.get(field.name, Rule())


def _owner(field: FieldDescriptor | Descriptor) -> Descriptor:
    """The message a field (or a nested message, such as a map's entry) is declared in."""
    owner = field.containing_type
    if owner is None:
        raise ValueError(f"{field.full_name} is declared in no message")
    return owner


def _message_type(field: FieldDescriptor) -> Descriptor:
    """The type of a message (or map) field."""
    message = field.message_type
    if message is None:
        raise ValueError(f"{field.full_name} is not a message field")
    return message


def _is_map(field: FieldDescriptor) -> bool:
    return field.type == FieldDescriptor.TYPE_MESSAGE and _message_type(field).GetOptions().map_entry


def limit_text(field: FieldDescriptor) -> str:
    """The sentence a field's `.proto` comment carries about its limits ("" for none)."""
    rule = rule_for(field)
    parts = []
    if _is_map(field):
        entry = _message_type(field)
        key, value = entry.fields_by_name["key"], entry.fields_by_name["value"]
        if rule.items is not None:
            parts.append(f"at most {rule.items} entries")
        strings = [f.name for f in (key, value) if f.type == FieldDescriptor.TYPE_STRING]
        if strings and rule.chars is not None:
            parts.append(f"{' and '.join(f'each {s}' for s in strings)} at most {rule.chars} characters")
    else:
        if field.is_repeated and rule.items is not None:
            parts.append(f"at most {rule.items} entries")
        if field.type == FieldDescriptor.TYPE_STRING and rule.chars is not None:
            parts.append(f"{'each ' if field.is_repeated else ''}at most {rule.chars} characters")
        if field.type == FieldDescriptor.TYPE_STRING and rule.content is not None:
            parts.append(rule.content.summary)
        if rule.magnitude is not None and field.cpp_type in _INTEGERS:
            parts.append(
                f"{'each ' if field.is_repeated else ''}between -{rule.magnitude} and {rule.magnitude}"
            )
        if field.type == FieldDescriptor.TYPE_MESSAGE and _message_type(field).full_name == _TIMESTAMP:
            parts.append("years 0001 to 9999")
        if field.type == FieldDescriptor.TYPE_MESSAGE and _message_type(field).full_name in MESSAGE_BYTES:
            each = "each " if field.is_repeated else ""
            parts.append(f"{each}at most {MESSAGE_BYTES[_message_type(field).full_name]} bytes serialised")
    if field.type == FieldDescriptor.TYPE_STRING or _is_map(field):
        parts.append("no NUL characters")
    return f"Limits: {', '.join(parts)}." if parts else ""


# -- the check ----------------------------------------------------------------------------------


def check_request(request: Any, metadata: Iterable[tuple[str, Any]] | None = None) -> None:
    """Raise InvalidArgument naming every field (up to MAX_VIOLATIONS) of `request` (a message
    or a WireRequest) that breaks its limits; `metadata` (the call's) for the session id an
    operator call is recorded under."""
    problems: list[FieldViolation] = []
    if metadata is not None:
        problems.extend(_session_problems(metadata))
    if isinstance(request, WireRequest):
        if not _columns_pass(request.message, request.wire):
            _walk(request.message, "", problems)
    elif isinstance(request, Message):
        _walk(request, "", problems)
    if problems:
        raise InvalidArgument(problems[:MAX_VIOLATIONS])


def request_problems(message: Message, prefix: str = "") -> list[FieldViolation]:
    """What `check_request` would refuse in `message`, each field path after `prefix`."""
    problems: list[FieldViolation] = []
    _walk(message, prefix, problems)
    return problems[:MAX_VIOLATIONS]


def _session_problems(metadata: Iterable[tuple[str, Any]]) -> list[FieldViolation]:
    for key, value in metadata:
        if key == SESSION_METADATA:
            text = value if isinstance(value, str) else value.decode("utf-8", "replace")
            if len(text) > SESSION_CHARS or "\x00" in text:
                return [
                    FieldViolation(
                        SESSION_METADATA, f"is not a session id (at most {SESSION_CHARS} characters)"
                    )
                ]
    return []


class _Full(Exception):
    """Enough violations to refuse the request."""


def _walk(message: Message, path: str, problems: list[FieldViolation]) -> None:
    try:
        _walk_message(message, path, problems)
    except _Full:
        pass


def _add(problems: list[FieldViolation], path: str, description: str) -> None:
    problems.append(FieldViolation(path, description))
    if len(problems) >= MAX_VIOLATIONS:
        raise _Full


def _walk_message(message: Message, path: str, problems: list[FieldViolation]) -> None:
    descriptor = message.DESCRIPTOR
    name = descriptor.full_name
    if name == _TIMESTAMP:
        stamp = cast(Timestamp, message)  # by its type's name: the class may be another pool's
        if not (_MIN_SECONDS <= stamp.seconds <= _MAX_SECONDS and 0 <= stamp.nanos <= 999_999_999):
            _add(problems, path, "is not a valid timestamp (years 0001 to 9999, UTC)")
        return
    limit = MESSAGE_BYTES.get(name)
    if limit is not None:
        size = message.ByteSize()
        if size > limit:
            _add(problems, path, f"is {size} bytes serialised; at most {limit} are allowed")
            return
    for field, value in message.ListFields():
        where = f"{path}.{field.name}" if path else field.name
        rule = rule_for(field)
        if field.is_repeated:
            if rule.items is not None and len(value) > rule.items:
                _add(problems, where, f"has {len(value)} entries; at most {rule.items} are allowed")
                continue
            if _is_map(field):
                _walk_map(field, value, where, problems)
            else:
                for index, item in enumerate(value):
                    _check_value(field, item, f"{where}[{index}]", rule, problems)
        else:
            _check_value(field, value, where, rule, problems)


def _walk_map(field: FieldDescriptor, entries: Any, where: str, problems: list[FieldViolation]) -> None:
    entry = _message_type(field)
    key_field, value_field = entry.fields_by_name["key"], entry.fields_by_name["value"]
    key_rule, value_rule = rule_for(key_field), rule_for(value_field)
    for key, value in entries.items():
        at = f"{where}[{_quote(key)}]"
        if isinstance(key, str):
            _check_string(key, f"{at}.key", key_rule, problems)
        _check_value(value_field, value, at, value_rule, problems)


def _check_value(
    field: FieldDescriptor, value: Any, where: str, rule: Rule, problems: list[FieldViolation]
) -> None:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        _check_string(value, where, rule, problems)
    elif kind == FieldDescriptor.TYPE_MESSAGE:
        _walk_message(value, where, problems)
    elif kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT) and not math.isfinite(value):
        _add(problems, where, "must be a finite number")
    elif rule.magnitude is not None and field.cpp_type in _INTEGERS and abs(value) > rule.magnitude:
        _add(problems, where, f"must lie between -{rule.magnitude} and {rule.magnitude}")


def _check_string(value: str, where: str, rule: Rule, problems: list[FieldViolation]) -> None:
    if not value:
        return
    if rule.chars is not None and len(value) > rule.chars:
        _add(problems, where, f"is {len(value)} characters long; at most {rule.chars} are allowed")
        return
    if "\x00" in value:
        _add(problems, where, "holds a NUL character, which cannot be stored")
        return
    if rule.content is not None:
        problem = rule.content.problem(value)
        if problem:
            _add(problems, where, problem)


def _quote(key: Any) -> str:
    if not isinstance(key, str):
        return str(key)
    cut = key[:QUOTE_CHARS]
    return repr(cut + ("…" if len(key) > QUOTE_CHARS else ""))


# -- the columns fast path ----------------------------------------------------------------------

_PACKAGE = "polytraders.servers.views.limits"
_Field = descriptor_pb2.FieldDescriptorProto
_STRING, _MESSAGE = FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_MESSAGE
_FLOATS = (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT)


@dataclass(frozen=True)
class _Nested:
    name: str
    rule: Rule
    repeated: bool
    plan: _Plan


@dataclass(frozen=True)
class _Plan:
    """How to check the view of one message type: a column per string field (every value of
    that field in the request, in one list), a view per message field (all its occurrences
    merged), the doubles, and a timestamp's range."""

    strings: tuple[tuple[str, Rule, bool], ...]
    messages: tuple[_Nested, ...]
    doubles: tuple[str, ...]
    integers: tuple[tuple[str, int], ...]
    """Integer columns with a largest magnitude."""
    timestamp: bool
    size_limit: int | None
    sized_inside: bool
    """A message type with a size limit occurs below this one."""


@dataclass(frozen=True)
class _View:
    message: type[Message]
    elements: type[Message]
    """The request's message fields as repeated bytes: each element as it came."""
    plan: _Plan


class _Unviewable(Exception):
    """A request type the columns cannot check (it contains itself, or a size-limited message
    below its top level): such requests are always walked."""


def _view_name(descriptor: Descriptor) -> str:
    return descriptor.full_name.replace(".", "_")


@cache
def _view(descriptor: Descriptor) -> _View:
    """The view messages of a request type and their plan, built once."""
    file = descriptor_pb2.FileDescriptorProto(
        name=f"polytraders/servers/views/limits_{_view_name(descriptor)}.proto",
        package=_PACKAGE,
        syntax="proto3",
    )
    plans: dict[str, _Plan | None] = {}

    def build(d: Descriptor) -> _Plan:
        name = _view_name(d)
        if name in plans:
            known = plans[name]
            if known is None:
                raise _Unviewable(d.full_name)
            return known
        plans[name] = None
        added = file.message_type.add(name=name)
        strings, messages, doubles, integers = [], [], [], []
        if d.full_name == _TIMESTAMP:
            added.field.add(name="seconds", number=1, type=_Field.TYPE_INT64, label=_Field.LABEL_REPEATED)
            added.field.add(name="nanos", number=2, type=_Field.TYPE_INT32, label=_Field.LABEL_REPEATED)
        for field in d.fields if d.full_name != _TIMESTAMP else ():
            if field.type == _STRING:
                added.field.add(
                    name=field.name, number=field.number, type=_Field.TYPE_BYTES, label=_Field.LABEL_REPEATED
                )
                strings.append((field.name, rule_for(field), field.is_repeated))
            elif field.type == _MESSAGE:
                nested = build(_message_type(field))
                added.field.add(name=field.name, number=field.number, type=_Field.TYPE_MESSAGE, label=_Field.LABEL_OPTIONAL,
                                type_name=f".{_PACKAGE}.{_view_name(_message_type(field))}")  # fmt: skip
                messages.append(_Nested(field.name, rule_for(field), field.is_repeated, nested))
            elif field.type in _FLOATS:
                added.field.add(
                    name=field.name, number=field.number, type=field.type, label=_Field.LABEL_REPEATED
                )
                doubles.append(field.name)
            else:  # declared so that the parser skips it cheaply (an unknown field is kept, at a cost)
                kind = _Field.TYPE_INT32 if field.type == FieldDescriptor.TYPE_ENUM else field.type
                added.field.add(name=field.name, number=field.number, type=kind, label=_Field.LABEL_REPEATED)
                magnitude = rule_for(field).magnitude
                if magnitude is not None and field.cpp_type in _INTEGERS:
                    integers.append((field.name, magnitude))
        sized_inside = any(m.plan.size_limit is not None or m.plan.sized_inside for m in messages)
        plan = _Plan(tuple(strings), tuple(messages), tuple(doubles), tuple(integers), d.full_name == _TIMESTAMP,
                     MESSAGE_BYTES.get(d.full_name), sized_inside)  # fmt: skip
        plans[name] = plan
        return plan

    plan = build(descriptor)
    if plan.size_limit is not None or any(m.plan.sized_inside for m in plan.messages):
        raise _Unviewable(descriptor.full_name)
    elements = file.message_type.add(name=f"{_view_name(descriptor)}__Elements")
    for m in plan.messages:
        number = descriptor.fields_by_name[m.name].number
        elements.field.add(name=m.name, number=number, type=_Field.TYPE_BYTES, label=_Field.LABEL_REPEATED)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)

    def view_class(name: str) -> type[Message]:
        return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))

    return _View(view_class(_view_name(descriptor)), view_class(elements.name), plan)


def _columns_pass(message: Message, wire: bytes) -> bool:
    """True when `wire`, the bytes `message` was parsed from, surely breaks no limit; False
    means "walk it" (it may well be fine).

    Below the top level every value is bounded from above, never read one by one unless it
    has to be: a string's bytes bound its characters, and no string is longer than the largest
    element (of the request's message fields) it sits in; one element's list has at most the
    entries of every element merged, and at most half that element's bytes (an entry takes two
    at least). A NUL byte anywhere in the request sends every string column to be looked at.
    """
    try:
        view = _view(message.DESCRIPTOR)
        elements = view.elements.FromString(wire)
        parsed = view.message.FromString(wire)
    except (_Unviewable, DecodeError):
        return False
    plan, largest = view.plan, 0
    for name, rule, repeated in plan.strings:  # the top level's own lists are counted exactly
        if repeated and rule.items is not None and len(getattr(message, name)) > rule.items:
            return False
    for m in plan.messages:
        if m.repeated and m.rule.items is not None and len(getattr(message, m.name)) > m.rule.items:
            return False
        biggest = max(map(len, getattr(elements, m.name)[:]), default=0)
        if m.plan.size_limit is not None and biggest > m.plan.size_limit:
            return False
        largest = max(largest, biggest)
    return _view_passes(parsed, plan, b"\x00" in wire, largest, top=True)


def _view_passes(view: Any, plan: _Plan, nul: bool, largest: int, *, top: bool = False) -> bool:
    if plan.timestamp:  # a column read whole ([:], in C) is far quicker to scan than the container
        seconds, nanos = view.seconds[:], view.nanos[:]
        return (not seconds or (_MIN_SECONDS <= min(seconds) and max(seconds) <= _MAX_SECONDS)) and (
            not nanos or (0 <= min(nanos) and max(nanos) <= 999_999_999)
        )
    for name, rule, repeated in plan.strings:
        long = top or (rule.chars is not None and rule.chars < largest)
        if not (long or nul or rule.content is not None or (repeated and rule.items is not None)):
            continue  # nothing this column could break
        values = getattr(view, name)
        if not values:
            continue
        if not top and repeated and rule.items is not None and len(values) > rule.items < largest // 2:
            return False
        if long and rule.chars is not None and max(map(len, values)) > rule.chars:
            return False
        if nul and b"\x00" in b"".join(values):
            return False
        if rule.content is not None and any(rule.content.problem(v.decode()) for v in set(values) if v):
            return False
    for name in plan.doubles:
        if not all(map(math.isfinite, getattr(view, name))):
            return False
    for name, magnitude in plan.integers:
        values = getattr(view, name)
        if values and max(map(abs, values)) > magnitude:
            return False
    for m in plan.messages:
        if not view.HasField(m.name):
            continue
        if not top and m.repeated and m.rule.items is not None and m.rule.items < largest // 2:
            return False  # merged views do not count their elements: only the bytes bound tells
        if not _view_passes(getattr(view, m.name), m.plan, nul, largest):
            return False
    return True
