"""A small renderer for the Go-template subset that deploy/helm/realtime uses.

It exists so the chart's tests can run where no Helm is installed. It is not a
general Helm: it implements exactly the constructs the chart's templates use
(``define``/``include``, ``if``/``else if``/``else``, ``range``, ``with``,
variables, pipelines, parenthesised sub-expressions, trim markers, comments)
and these functions: add, and, contains, default, eq, include, indent, ne,
nindent, not, or, printf, quote, replace, required, sha256sum, toJson,
toString, toYaml, trimSuffix, trunc. Anything else raises
``TemplateError`` instead of rendering something plausible. Where the real Helm
is installed (the helm-python-sdk package), a test renders the chart with both
and requires the same documents, so this renderer cannot drift unnoticed.

Go semantics kept on purpose: every number in values is a float64 in Helm, so
integers print as Go prints float64 (``1000000`` -> ``1e+06``); ``add`` returns
an int64; a missing map key is nil and prints as an empty string; a field of
nil is an error; toJson sorts keys and escapes ``<``, ``>`` and ``&``.
"""

from __future__ import annotations

import decimal
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import yaml

__all__ = ["TemplateError", "render_chart", "load_values", "merge_values"]


class TemplateError(Exception):
    """The chart uses something this subset does not implement, or fails to render."""


class GoInt(int):
    """An int64 produced by a template function (printed as an integer)."""


class _RequiredError(TemplateError):
    pass


# --------------------------------------------------------------------------
# Value formatting, as Go's fmt and encoding/json do it.


def _go_float(value: float) -> str:
    """Format a float64 like fmt's %v (strconv 'g' with the shortest precision)."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    sign, digits, exponent = decimal.Decimal(repr(float(value))).as_tuple()
    digit_text = "".join(map(str, digits)).rstrip("0") or "0"
    stripped = len("".join(map(str, digits))) - len(digit_text)
    exponent += stripped
    nd = len(digit_text)
    dp = nd + exponent  # position of the decimal point
    exp = dp - 1
    prefix = "-" if sign else ""
    if exp < -4 or exp >= 6:  # shortest: Go decides with precision 6
        mantissa = digit_text[0] + ("." + digit_text[1:] if nd > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if dp <= 0:
        return f"{prefix}0.{'0' * -dp}{digit_text}"
    if dp >= nd:
        return f"{prefix}{digit_text}{'0' * (dp - nd)}"
    return f"{prefix}{digit_text[:dp]}.{digit_text[dp:]}"


def _strval(value: Any) -> str:
    """fmt.Sprintf("%v", value) for the types values.yaml can hold."""
    if value is None:
        return ""  # Helm prints "<no value>" and then strips it
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, GoInt):
        return str(int(value))
    if isinstance(value, (int, float)):
        return _go_float(float(value))
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + " ".join(_strval(v) for v in value) + "]"
    if isinstance(value, dict):
        items = " ".join(f"{k}:{_strval(value[k])}" for k in sorted(value))
        return f"map[{items}]"
    raise TemplateError(f"cannot print a {type(value).__name__}")


def _go_quote(text: str) -> str:
    """strconv.Quote for printable text."""
    return json.dumps(text, ensure_ascii=False)


def _go_json_number(value: float) -> str:
    if isinstance(value, GoInt) or (
        isinstance(value, int) and not isinstance(value, bool)
    ):
        return str(int(value))
    absolute = abs(value)
    if absolute != 0 and (absolute < 1e-6 or absolute >= 1e21):
        text = f"{value:e}"
        mantissa, exp = text.split("e")
        mantissa = mantissa.rstrip("0").rstrip(".")
        sign = exp[0]
        digits = exp[1:].lstrip("0") or "0"
        return f"{mantissa}e{sign}{digits.zfill(2) if sign == '-' else digits}"
    if value == int(value) and absolute < 1e21:
        return str(int(value))
    return repr(value)


def _to_json(value: Any) -> str:
    """encoding/json.Marshal: sorted keys, no spaces, HTML-safe escaping."""

    def encode(item: Any) -> str:
        if item is None:
            return "null"
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, (int, float)):
            return _go_json_number(item)
        if isinstance(item, str):
            text = json.dumps(item, ensure_ascii=False)
            for raw, escaped in (
                ("<", "\\u003c"),
                (">", "\\u003e"),
                ("&", "\\u0026"),
                ("\u2028", "\\u2028"),
                ("\u2029", "\\u2029"),
            ):
                text = text.replace(raw, escaped)
            return text
        if isinstance(item, list):
            return "[" + ",".join(encode(v) for v in item) + "]"
        if isinstance(item, dict):
            return (
                "{"
                + ",".join(f"{encode(str(k))}:{encode(item[k])}" for k in sorted(item))
                + "}"
            )
        raise TemplateError(f"toJson cannot encode a {type(item).__name__}")

    return encode(value)


def _to_yaml(value: Any) -> str:
    if value is None:
        return "null"
    text = yaml.safe_dump(
        value,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=float("inf"),
    )
    if text.endswith("...\n"):  # a bare scalar
        text = text[: -len("...\n")]
    return text.rstrip("\n")


def _truthy(value: Any) -> bool:
    """Go template truth: false, 0, nil and empty strings, maps and lists are false."""
    if value is None:
        return False
    if isinstance(value, (bool, int, float, str, list, dict)):
        return bool(value)
    return True


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str):
        try:
            return int(float(value))
        except ValueError:
            return 0
    return 0


def _printf(fmt: str, *args: Any) -> str:
    values = list(args)
    out: list[str] = []
    pos = 0
    for match in re.finditer(r"%([%svdq])", fmt):
        out.append(fmt[pos : match.start()])
        pos = match.end()
        verb = match.group(1)
        if verb == "%":
            out.append("%")
            continue
        if not values:
            raise TemplateError(f"printf {fmt!r}: missing argument")
        value = values.pop(0)
        if verb in "sq" and not isinstance(value, str):
            raise TemplateError(f"printf %{verb} of a non-string is not in the subset")
        if verb == "d":
            if not isinstance(value, GoInt):
                raise TemplateError(
                    "printf %d of a float64 prints %!d in Go; not in the subset"
                )
            out.append(str(int(value)))
        elif verb == "q":
            out.append(_go_quote(value))
        else:
            out.append(_strval(value))
    out.append(fmt[pos:])
    if values:
        raise TemplateError(f"printf {fmt!r}: extra arguments")
    return "".join(out)


# --------------------------------------------------------------------------
# Lexing and parsing.

_ACTION_START = "{{"


def _split(source: str, name: str) -> list[tuple[str, str]]:
    """Split a template into ("text", s) and ("action", s) parts, applying trim markers."""
    parts: list[tuple[str, str]] = []
    pos = 0
    trim_next = False
    while True:
        start = source.find(_ACTION_START, pos)
        text = source[pos:] if start < 0 else source[pos:start]
        if trim_next:
            text = text.lstrip(" \t\r\n")
        if start < 0:
            parts.append(("text", text))
            return parts
        inner_start = start + 2
        if source.startswith("- ", inner_start) or source.startswith(
            "-\n", inner_start
        ):
            text = text.rstrip(" \t\r\n")
            inner_start += 1
        parts.append(("text", text))
        if source.startswith("/*", inner_start):
            # A comment: it ends at "*/", then an optional " -", then "}}".
            end = source.find("*/", inner_start)
            close = re.compile(r"\*/( -)?\}\}").match(source, end) if end >= 0 else None
            if not close:
                raise TemplateError(f"{name}: unclosed comment at offset {start}")
            trim_next = bool(close.group(1))
            pos = close.end()
            continue
        # Find the closing "}}" outside string literals.
        i = inner_start
        quote: str | None = None
        while i < len(source):
            ch = source[i]
            if quote:
                if ch == "\\" and quote == '"':
                    i += 2
                    continue
                if ch == quote:
                    quote = None
            elif ch in "\"`'":
                quote = ch
            elif source.startswith("}}", i):
                break
            i += 1
        else:
            raise TemplateError(f"{name}: unclosed action at offset {start}")
        inner = source[inner_start:i]
        trim_next = False
        if inner.endswith(" -") or inner.endswith("\n-"):
            inner = inner[:-1]
            trim_next = True
        parts.append(("action", inner.strip()))
        pos = i + 2


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<declare>:=)
  | (?P<assign>=)
  | (?P<punct>[()|,])
  | (?P<variable>\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
  | (?P<field>(?:\.[A-Za-z0-9_]+)+|\.)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise TemplateError(f"cannot parse action {text!r} at {text[pos:]!r}")
        pos = match.end()
        kind = match.lastgroup
        if kind != "ws":
            tokens.append((kind, match.group()))
    return tokens


class _Parser:
    """Parses one action's tokens into a pipeline: (declared vars, commands)."""

    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise TemplateError("unexpected end of action")
        self.pos += 1
        return token

    def pipeline(self, allow_decl: bool = True) -> dict:
        declared: list[str] = []
        if allow_decl:
            # $x := ... or $k, $v := ...
            save = self.pos
            names = []
            while self.peek() and self.peek()[0] == "variable":
                names.append(self.take()[1])
                if self.peek() == ("punct", ","):
                    self.take()
                    continue
                break
            if names and self.peek() and self.peek()[0] in ("declare", "assign"):
                self.take()
                declared = names
            else:
                self.pos = save
        commands = [self.command()]
        while self.peek() == ("punct", "|"):
            self.take()
            commands.append(self.command())
        return {"declare": declared, "commands": commands}

    def command(self) -> list:
        operands = []
        while True:
            token = self.peek()
            if token is None or token in (("punct", "|"), ("punct", ")")):
                break
            operands.append(self.operand())
        if not operands:
            raise TemplateError("empty command")
        return operands

    def operand(self) -> tuple:
        kind, text = self.take()
        if kind == "punct" and text == "(":
            inner = self.pipeline(allow_decl=False)
            if self.take() != ("punct", ")"):
                raise TemplateError("missing )")
            return ("pipeline", inner)
        if kind == "string":
            return ("literal", json.loads(text))
        if kind == "raw":
            return ("literal", text[1:-1])
        if kind == "number":
            return (
                "literal",
                GoInt(int(text)) if re.fullmatch(r"-?\d+", text) else float(text),
            )
        if kind == "ident":
            if text in ("true", "false"):
                return ("literal", text == "true")
            if text == "nil":
                return ("literal", None)
            return ("function", text)
        if kind == "field":
            return ("field", [] if text == "." else text[1:].split("."))
        if kind == "variable":
            name, *path = text.split(".")
            return ("variable", name, path)
        raise TemplateError(f"unexpected {text!r}")


def _parse_pipeline(text: str) -> dict:
    parser = _Parser(_tokenize(text))
    result = parser.pipeline()
    if parser.peek() is not None:
        raise TemplateError(f"trailing tokens in {text!r}")
    return result


def _parse(parts: list[tuple[str, str]], name: str) -> tuple[list, dict[str, list]]:
    """Build a node tree; return (body, defines)."""
    defines: dict[str, list] = {}
    root: list = []
    # Stack of (node, list being filled).
    stack: list[tuple[dict | None, list]] = [(None, root)]
    for kind, text in parts:
        current = stack[-1][1]
        if kind == "text":
            if text:
                current.append({"kind": "text", "text": text})
            continue
        if text.startswith("/*"):
            if not text.endswith("*/"):
                raise TemplateError(f"{name}: bad comment {text!r}")
            continue
        keyword, _, rest = text.partition(" ")
        rest = rest.strip()
        if keyword == "define":
            node = {"kind": "define", "name": json.loads(rest), "body": []}
            stack.append((node, node["body"]))
        elif keyword in ("if", "with", "range"):
            node = {
                "kind": keyword,
                "pipe": _parse_pipeline(rest),
                "body": [],
                "else": [],
            }
            current.append(node)
            stack.append((node, node["body"]))
        elif keyword == "else":
            node, _ = stack[-1]
            if node is None or node["kind"] not in ("if", "with", "range"):
                raise TemplateError(f"{name}: else outside if/with/range")
            if rest.startswith("if "):
                nested = {
                    "kind": "if",
                    "pipe": _parse_pipeline(rest[3:]),
                    "body": [],
                    "else": [],
                }
                node["else"].append(nested)
                nested["chained"] = True
                stack[-1] = (node, node["else"])
                stack.append((nested, nested["body"]))
            else:
                stack[-1] = (node, node["else"])
        elif keyword == "end":
            # Pop chained "else if" nodes together with the if they hang on.
            while True:
                node, _ = stack.pop()
                if node is None:
                    raise TemplateError(f"{name}: end without a block")
                if not node.get("chained"):
                    break
            if node["kind"] == "define":
                defines[node["name"]] = node["body"]
        elif keyword in ("template", "block", "break", "continue"):
            raise TemplateError(f"{name}: {keyword!r} is not in the subset")
        else:
            current.append({"kind": "action", "pipe": _parse_pipeline(text)})
    if len(stack) != 1:
        raise TemplateError(f"{name}: unclosed block")
    return root, defines


# --------------------------------------------------------------------------
# Evaluation.


class _Renderer:
    def __init__(self, defines: dict[str, list]):
        self.defines = defines

    def run(self, body: list, dot: Any) -> str:
        scope = [{"$": dot}]
        return self.nodes(body, dot, scope)

    def nodes(self, body: list, dot: Any, scope: list[dict]) -> str:
        out: list[str] = []
        for node in body:
            kind = node["kind"]
            if kind == "text":
                out.append(node["text"])
            elif kind == "action":
                value = self.pipe(node["pipe"], dot, scope)
                if not node["pipe"]["declare"]:
                    out.append(_strval(value))
            elif kind == "if":
                scope.append({})
                if _truthy(self.pipe(node["pipe"], dot, scope)):
                    out.append(self.nodes(node["body"], dot, scope))
                else:
                    out.append(self.nodes(node["else"], dot, scope))
                scope.pop()
            elif kind == "with":
                scope.append({})
                value = self.pipe(node["pipe"], dot, scope)
                if _truthy(value):
                    out.append(self.nodes(node["body"], value, scope))
                else:
                    out.append(self.nodes(node["else"], dot, scope))
                scope.pop()
            elif kind == "range":
                out.append(self.range(node, dot, scope))
            else:
                raise TemplateError(f"unexpected node {kind}")
        return "".join(out)

    def range(self, node: dict, dot: Any, scope: list[dict]) -> str:
        pipe = dict(node["pipe"])
        names = pipe["declare"]
        pipe["declare"] = []
        scope.append({})
        collection = self.pipe(pipe, dot, scope)
        if isinstance(collection, dict):
            items = [(k, collection[k]) for k in sorted(collection)]
        elif isinstance(collection, list):
            items = list(enumerate(collection))
        elif collection is None:
            items = []
        else:
            raise TemplateError(f"range over a {type(collection).__name__}")
        out = []
        for key, value in items:
            frame = {}
            if len(names) == 1:
                frame[names[0]] = value
            elif len(names) == 2:
                frame[names[0]], frame[names[1]] = key, value
            scope.append(frame)
            out.append(self.nodes(node["body"], value, scope))
            scope.pop()
        if not items:
            out.append(self.nodes(node["else"], dot, scope))
        scope.pop()
        return "".join(out)

    def pipe(self, pipe: dict, dot: Any, scope: list[dict]) -> Any:
        value: Any = _NOTHING
        for command in pipe["commands"]:
            value = self.command(command, dot, scope, value)
        for name in pipe["declare"]:
            scope[-1][name] = value
        return value

    def command(self, operands: list, dot: Any, scope: list[dict], piped: Any) -> Any:
        head = operands[0]
        if head[0] == "function":
            args = [self.operand(op, dot, scope) for op in operands[1:]]
            if piped is not _NOTHING:
                args.append(piped)
            return self.call(head[1], args)
        if len(operands) != 1 or piped is not _NOTHING:
            raise TemplateError("arguments given to a non-function")
        return self.operand(head, dot, scope)

    def operand(self, op: tuple, dot: Any, scope: list[dict]) -> Any:
        kind = op[0]
        if kind == "literal":
            return op[1]
        if kind == "pipeline":
            return self.pipe(op[1], dot, scope)
        if kind == "field":
            return _field(dot, op[1])
        if kind == "variable":
            name, path = op[1], op[2]
            for frame in reversed(scope):
                if name in frame:
                    return _field(frame[name], path)
            raise TemplateError(f"undefined variable {name}")
        if kind == "function":
            return self.call(op[1], [])
        raise TemplateError(f"bad operand {op!r}")

    def call(self, name: str, args: list) -> Any:
        if name == "include":
            template, data = args
            if template not in self.defines:
                raise TemplateError(f"no template {template!r}")
            return self.run(self.defines[template], data)
        function = _FUNCTIONS.get(name)
        if function is None:
            raise TemplateError(f"function {name!r} is not in the subset")
        return function(*args)


_NOTHING = object()


def _field(value: Any, path: list[str]) -> Any:
    for key in path:
        if value is None:
            raise TemplateError(f"nil pointer evaluating .{key}")
        if not isinstance(value, dict):
            raise TemplateError(
                f"can't evaluate field {key} in a {type(value).__name__}"
            )
        value = value.get(key)
    return value


def _default(fallback: Any, *given: Any) -> Any:
    if not given:
        return fallback
    value = given[0]
    return value if _truthy(value) else fallback


def _required(message: str, value: Any) -> Any:
    if value is None or value == "":
        raise _RequiredError(message)
    return value


def _eq(first: Any, *others: Any) -> bool:
    return any(first == other for other in others)


def _indent(width: Any, text: str) -> str:
    pad = " " * _to_int(width)
    return pad + text.replace("\n", "\n" + pad)


_FUNCTIONS = {
    "add": lambda *numbers: GoInt(sum(_to_int(n) for n in numbers)),
    "and": lambda *values: next((v for v in values if not _truthy(v)), values[-1]),
    "or": lambda *values: next((v for v in values if _truthy(v)), values[-1]),
    "not": lambda value: not _truthy(value),
    "eq": _eq,
    "ne": lambda a, b: a != b,
    "contains": lambda needle, haystack: _strval(needle) in _strval(haystack),
    "default": _default,
    "required": _required,
    "quote": lambda *values: " ".join(
        _go_quote(_strval(v)) for v in values if v is not None
    ),
    "toString": _strval,
    "toYaml": _to_yaml,
    "toJson": _to_json,
    "sha256sum": lambda text: hashlib.sha256(text.encode()).hexdigest(),
    "indent": _indent,
    "nindent": lambda width, text: "\n" + _indent(width, text),
    "trunc": lambda n, text: (
        text[: _to_int(n)] if _to_int(n) >= 0 else text[_to_int(n) :]
    ),
    "trimSuffix": lambda suffix, text: (
        text[: -len(suffix)] if suffix and text.endswith(suffix) else text
    ),
    "replace": lambda old, new, text: text.replace(old, new),
    "printf": _printf,
}


# --------------------------------------------------------------------------
# Charts.


def merge_values(base: Any, override: Any) -> Any:
    """Helm's coalescing: maps merge recursively, a null override deletes the key."""
    if not isinstance(base, dict) or not isinstance(override, dict):
        return override
    merged = dict(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_values(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_values(chart_dir: Path, overrides: dict | None = None) -> dict:
    values = yaml.safe_load((chart_dir / "values.yaml").read_text()) or {}
    return merge_values(values, overrides or {})


_CHART_FIELDS = {
    "apiVersion": "APIVersion",
    "appVersion": "AppVersion",
    "kubeVersion": "KubeVersion",
}


def render_chart(
    chart_dir: Path,
    overrides: dict | None = None,
    *,
    release: str = "rt",
    namespace: str = "default",
    is_upgrade: bool = False,
) -> dict[str, str]:
    """Render every template of the chart; keys are "<chart>/templates/<file>" as Helm's."""
    chart_dir = Path(chart_dir)
    meta = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    chart = {_CHART_FIELDS.get(k, k[:1].upper() + k[1:]): v for k, v in meta.items()}
    context = {
        "Values": load_values(chart_dir, overrides),
        "Release": {
            "Name": release,
            "Namespace": namespace,
            "Service": "Helm",
            "IsInstall": not is_upgrade,
            "IsUpgrade": is_upgrade,
            "Revision": GoInt(2 if is_upgrade else 1),
        },
        "Chart": chart,
    }
    templates_dir = chart_dir / "templates"
    parsed: dict[str, list] = {}
    defines: dict[str, list] = {}
    for path in sorted(templates_dir.rglob("*")):
        if not path.is_file():
            continue
        name = f"{meta['name']}/templates/{path.relative_to(templates_dir).as_posix()}"
        body, found = _parse(_split(path.read_text(), name), name)
        defines.update(found)
        if not path.name.startswith("_"):
            parsed[name] = body
    renderer = _Renderer(defines)
    return {name: renderer.run(body, context) for name, body in parsed.items()}
