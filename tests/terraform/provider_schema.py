"""The Google provider's schema, read offline from its npm package, and HCL held against it.

The provider itself cannot be downloaded here, so ``terraform validate`` cannot run.
Its schema still ships in a registry package: ``@cdktf/provider-google`` is
generated from ``terraform providers schema -json`` of one provider version
(``package.json`` -> ``cdktf.provider.version``) and keeps, per resource type and
data source, every configurable argument and nested block under its HCL name
(the ``synthesizeHclAttributes`` / ``*ToHclTerraform`` functions of its
``lib/<type>/index.js``) and, in ``index.d.ts``, which arguments are required.
Computed-only attributes are not configurable, so they are not in the package
either: setting one is reported, as Terraform would.

``make setup`` installs the package (exact version and integrity hash in
``tools/provider-schema/package-lock.json``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "tools" / "provider-schema" / "node_modules" / "@cdktf" / "provider-google"

# Terraform's own arguments and blocks, valid in every resource / data block.
META_ARGUMENTS = {"count", "for_each", "depends_on", "provider"}
META_BLOCKS = {"lifecycle", "provisioner", "connection"}

_ENTRY = re.compile(
    r"^\s+(?P<name>[a-z0-9_]+): \{\n\s+value: (?P<value>.*?),\n\s+isBlock: (?P<block>true|false),",
    re.M,
)
_STRUCT_FN = re.compile(r"^function (\w+)ToHclTerraform\(struct\) \{$", re.M)
_CLASS_HCL = re.compile(r"^    synthesizeHclAttributes\(\) \{$", re.M)
_NESTED_FN = re.compile(r"(?<![.\w])(\w+)ToHclTerraform\b")
_PROP = re.compile(r"(?:struct|this)\.(_?\w+)")
_TYPE = re.compile(r'^\w+\.tfResourceType = "([a-z0-9_]+)";$', re.M)


class SchemaUnavailable(RuntimeError):
    """The npm package is not installed: run ``make setup``."""


@dataclass
class BlockSchema:
    """One level of a resource: its arguments, required ones, and nested blocks."""

    arguments: set[str] = field(default_factory=set)
    required: set[str] = field(default_factory=set)
    blocks: dict[str, BlockSchema] = field(default_factory=dict)


def provider_version(package: Path = PACKAGE) -> str:
    """The provider version the package was generated from."""
    try:
        meta = json.loads((package / "package.json").read_text(encoding="utf-8"))
    except OSError as exc:
        raise SchemaUnavailable(f"{package} is missing: run `make setup`") from exc
    return meta["cdktf"]["provider"]["version"]


def _directory(kind: str, type_: str) -> str:
    """lib/ directory name of a type: google_pubsub_topic -> pubsub-topic (data-google-...)."""
    if kind == "provider":
        return "provider"
    bare = type_.removeprefix("google_").replace("_", "-")
    return f"data-google-{bare}" if kind == "data" else bare


def _sources(directory: Path, suffix: str) -> str:
    return "\n".join(
        p.read_text(encoding="utf-8") for p in sorted(directory.rglob(f"*{suffix}")) if p.is_file()
    )


def _body(text: str, start: int) -> str:
    """The ``const attrs = {...}`` object following ``start``."""
    begin = text.index("const attrs = {", start)
    if text.startswith("const attrs = {}", begin):  # a block without arguments
        return ""
    indent = begin - text.rindex("\n", 0, begin) - 1
    end = text.index("\n" + " " * indent + "};", begin)
    return text[begin:end]


def _interfaces(dts: str) -> dict[str, dict[str, bool]]:
    """interface name -> {camelCase property: required}."""
    out: dict[str, dict[str, bool]] = {}
    for match in re.finditer(r"^export interface (\w+)[^{]*\{\n(.*?)^\}", dts, re.M | re.S):
        props = re.findall(r"^    readonly (\w+)(\??):", match.group(2), re.M)
        out[match.group(1)] = {name: not optional for name, optional in props}
    return out


@cache
def load(kind: str, type_: str, package: Path = PACKAGE) -> BlockSchema | None:
    """The schema of ``resource``/``data`` ``type_``; None when the provider has no such type."""
    provider_version(package)  # a clear error when the package is missing
    directory = package / "lib" / _directory(kind, type_)
    if not directory.is_dir():
        return None
    js, dts = _sources(directory, ".js"), _sources(directory, ".d.ts")
    declared = _TYPE.findall(js)
    if declared != [type_]:
        # The directory naming rule guessed wrong: read no further than the package says.
        return None
    interfaces = _interfaces(dts)
    struct_types = dict(
        re.findall(
            r"export declare function (\w+)ToHclTerraform\(struct\?: (?:\w+ \| )?(\w+)\)", dts
        )
    )
    structs = {m.group(1): m.end() for m in _STRUCT_FN.finditer(js)}

    def level(attrs_src: str, interface: dict[str, bool], seen: tuple[str, ...]) -> BlockSchema:
        schema = BlockSchema()
        for entry in _ENTRY.finditer(attrs_src):
            name, value = entry.group("name"), entry.group("value")
            prop = _PROP.search(value)
            camel = prop.group(1).lstrip("_") if prop else None
            if entry.group("block") == "true":
                nested = _NESTED_FN.search(value)
                fn = nested.group(1) if nested else None
                if fn and fn in structs and fn not in seen:
                    inner = interfaces.get(struct_types.get(fn, ""), {})
                    schema.blocks[name] = level(_body(js, structs[fn]), inner, (*seen, fn))
                else:
                    schema.blocks[name] = BlockSchema()
                if camel and interface.get(camel):
                    schema.required.add(name)
            else:
                schema.arguments.add(name)
                if camel and interface.get(camel):
                    schema.required.add(name)
        return schema

    root = _CLASS_HCL.search(js)
    if root is None:
        return None
    config: dict[str, bool] = {}
    class_name = re.search(r"^export declare class (\w+) extends cdktf\.Terraform", dts, re.M)
    if class_name:
        config = interfaces.get(f"{class_name.group(1)}Config", config)
    return level(_body(js, root.start()), config, ())


# --- holding terraform/ against it --------------------------------------------------------


def _parse(path: Path) -> dict[str, Any]:
    return _parse_text(path.read_text(encoding="utf-8"))


@cache
def _parse_text(text: str) -> dict[str, Any]:
    """Parsed once per distinct text: broken copies differ from the original in one file."""
    options = hcl2.SerializationOptions(
        strip_string_quotes=True, explicit_blocks=True, with_comments=False
    )
    return hcl2.loads(text, serialization_options=options)


def _is_block(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) and v.get("__is_block__") for v in value)
    )


def _check_body(body: dict[str, Any], schema: BlockSchema, where: str, *, top: bool) -> list[str]:
    findings: list[str] = []
    present: set[str] = set()
    for key, value in body.items():
        if key == "__is_block__":
            continue
        if key == "dynamic" and _is_block_list(value):
            for dyn in value:
                for name, spec in dyn.items():
                    if name == "__is_block__":
                        continue
                    present.add(name)
                    if name not in schema.blocks:
                        findings.append(f"{where}: dynamic block {name!r} is not a block here")
                        continue
                    for content in spec.get("content", []):
                        findings += _check_body(
                            content, schema.blocks[name], f"{where}.{name}", top=False
                        )
            continue
        present.add(key)
        if _is_block(value):
            if top and key in META_BLOCKS:
                continue
            if key not in schema.blocks:
                what = "an argument, not a block" if key in schema.arguments else "no such block"
                findings.append(f"{where}: block {key!r}: {what}")
                continue
            for item in value:
                findings += _check_body(item, schema.blocks[key], f"{where}.{key}", top=False)
        else:
            if top and key in META_ARGUMENTS:
                continue
            if key not in schema.arguments:
                what = "a block, not an argument" if key in schema.blocks else "no such argument"
                findings.append(f"{where}: argument {key!r}: {what}")
    for missing in sorted(schema.required - present):
        findings.append(f"{where}: required {missing!r} is not set")
    return findings


def _is_block_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, dict) for v in value)


def schema_findings(tf_dir: Path, package: Path = PACKAGE) -> tuple[list[str], int]:
    """(findings, number of resource/data blocks checked) for every ``.tf`` under ``tf_dir``."""
    version = provider_version(package)
    findings: list[str] = []
    checked = 0
    for path in sorted(Path(tf_dir).rglob("*.tf")):
        if ".terraform" in path.parts or path.is_symlink():
            continue
        doc = _parse(path)
        for entry in doc.get("provider", []):
            for name, body in entry.items():
                where = f"{path.relative_to(tf_dir)}: provider {name}"
                schema = load("provider", name, package) if name == "google" else None
                if schema is None:
                    findings.append(f"{where}: not the google provider")
                    continue
                checked += 1
                findings += _check_body(body, schema, where, top=False)
        for kind in ("resource", "data"):
            for entry in doc.get(kind, []):
                for type_, named in entry.items():
                    for name, body in named.items():
                        where = f"{path.relative_to(tf_dir)}: {kind} {type_}.{name}"
                        if not type_.startswith("google_"):
                            findings.append(f"{where}: not a google provider type")
                            continue
                        schema = load(kind, type_, package)
                        if schema is None:
                            findings.append(
                                f"{where}: google provider {version} has no {kind} type {type_!r}"
                            )
                            continue
                        checked += 1
                        findings += _check_body(body, schema, where, top=True)
    return findings, checked
