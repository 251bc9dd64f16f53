"""Static checks of the Terraform configuration against the code, offline.

The HCL is parsed with python-hcl2; nothing needs a provider or a cloud.
Each ``*_findings`` function takes a Terraform directory (plus what it is
held against) and returns findings: one readable sentence per problem, an
empty list when all is well. ``test_terraform.py`` runs them on the real
``terraform/`` and on deliberately broken copies.

Expressions are evaluated only as far as these checks need: literals,
``local.*``, ``var.*`` defaults, ``each.key`` / ``each.value`` of a
``for_each`` over a map written in locals, and index or attribute steps on
those. A filter of a local map, ``{for k, v in local.m : k => v if ...}``,
stands for the whole map: every entry it may keep is checked. Anything else
is reported as not statically checkable, so a change of style fails loudly
instead of passing unchecked.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

# --- loading ------------------------------------------------------------------------------


@dataclass
class Block:
    """One ``resource`` or ``data`` block."""

    kind: str  # "resource" | "data"
    type: str
    name: str
    body: dict[str, Any]
    file: Path

    @property
    def address(self) -> str:
        prefix = "data." if self.kind == "data" else ""
        return f"{prefix}{self.type}.{self.name} ({self.file.parent.name}/{self.file.name})"


@dataclass
class Module:
    """The blocks of one directory of ``.tf`` files, with its locals and variables."""

    dir: Path
    locals: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)

    def of_type(self, *types: str, kind: str = "resource") -> list[Block]:
        return [b for b in self.blocks if b.kind == kind and b.type in types]

    def find(self, type_: str, name: str) -> Block | None:
        return next(
            (b for b in self.blocks if b.kind == "resource" and (b.type, b.name) == (type_, name)),
            None,
        )


def _parse(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    options_cls = getattr(hcl2, "SerializationOptions", None)
    if options_cls is None:  # python-hcl2 < 8 already strips quotes
        return hcl2.loads(text)
    options = options_cls(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
    return hcl2.loads(text, serialization_options=options)


def load(tf_dir: Path) -> list[Module]:
    """Every directory under ``tf_dir`` holding ``.tf`` files, parsed."""
    modules: dict[Path, Module] = {}
    for path in sorted(Path(tf_dir).rglob("*.tf")):
        if ".terraform" in path.parts:
            continue
        module = modules.setdefault(path.parent, Module(path.parent))
        doc = _parse(path)
        for entry in doc.get("locals", []):
            module.locals.update(entry)
        for entry in doc.get("variable", []):
            module.variables.update(entry)
        for kind in ("resource", "data"):
            for entry in doc.get(kind, []):
                for type_, named in entry.items():
                    for name, body in named.items():
                        module.blocks.append(Block(kind, type_, name, body, path))
    return list(modules.values())


# --- evaluating the few expressions the checks need ---------------------------------------


class Unresolved(str):
    """An expression these checks cannot evaluate statically."""


_WHOLE_REF = re.compile(r"^\$\{([^{}]*)\}$")
_MAP_FILTER = re.compile(
    r"^\$\{\{\s*for\s+(\w+)\s*,\s*(\w+)\s+in\s+(local\.[\w.]+)\s*:"
    r"\s*\1\s*=>\s*\2\s+if\s+[^{}]*\}\}$"
)
_ROOT = re.compile(r"^([A-Za-z_][\w-]*)")
_STEP = re.compile(r'^(?:\.([A-Za-z_][\w-]*)|\["([^"]*)"\]|\[([A-Za-z_][\w.]*)\])')


@dataclass(frozen=True)
class Scope:
    module: Module
    each_key: Any = None
    each_value: Any = None
    # Iterator of a dynamic block: (name, key, value).
    iterator: tuple[str, Any, Any] | None = None


def _steps(path: str, scope: Scope) -> list[Any] | None:
    """Split ``.a["b"][each.key]`` into keys; None when a step is not understood."""
    keys: list[Any] = []
    while path:
        match = _STEP.match(path)
        if not match:
            return None
        attr, quoted, ref = match.groups()
        if ref is not None:
            key = resolve("${" + ref + "}", scope)
            if isinstance(key, Unresolved):
                return None
            keys.append(key)
        else:
            keys.append(attr if attr is not None else quoted)
        path = path[match.end() :]
    return keys


def resolve(value: Any, scope: Scope, depth: int = 0) -> Any:
    """The value of ``value`` in ``scope``, or :class:`Unresolved`."""
    if not isinstance(value, str) or isinstance(value, Unresolved):
        return value
    if "${" not in value:
        return value
    kept = _MAP_FILTER.match(value)
    if kept:  # every entry the filter may keep
        whole = resolve("${" + kept.group(3) + "}", scope, depth + 1)
        return whole if isinstance(whole, dict) else Unresolved(value)
    match = _WHOLE_REF.match(value)
    if not match or depth > 20:
        return Unresolved(value)
    expr = match.group(1).strip()
    root_match = _ROOT.match(expr)
    if not root_match:
        return Unresolved(value)
    root, rest = root_match.group(1), expr[root_match.end() :]
    steps = _steps(rest, scope)
    if steps is None:
        return Unresolved(value)

    if root == "local":
        if not steps or steps[0] not in scope.module.locals:
            return Unresolved(value)
        current, steps = scope.module.locals[steps[0]], steps[1:]
    elif root == "var":
        variable = scope.module.variables.get(steps[0]) if steps else None
        if variable is None or "default" not in variable:
            return Unresolved(value)
        current, steps = variable["default"], steps[1:]
    elif root == "each":
        if not steps or steps[0] not in ("key", "value") or scope.each_key is None:
            return Unresolved(value)
        current = scope.each_key if steps[0] == "key" else scope.each_value
        steps = steps[1:]
    elif scope.iterator is not None and root == scope.iterator[0]:
        if not steps or steps[0] not in ("key", "value"):
            return Unresolved(value)
        current = scope.iterator[1] if steps[0] == "key" else scope.iterator[2]
        steps = steps[1:]
    else:
        return Unresolved(value)

    for step in steps:
        current = resolve(current, scope, depth + 1)
        if isinstance(current, dict) and step in current:
            current = current[step]
        else:
            return Unresolved(value)
    return resolve(current, scope, depth + 1)


def instances(block: Block, module: Module) -> list[Scope]:
    """One scope per instance of ``block`` (``for_each`` over a map or a list of strings)."""
    for_each = block.body.get("for_each")
    if for_each is None:
        return [Scope(module)]
    value = resolve(for_each, Scope(module))
    if isinstance(value, dict):
        return [Scope(module, key, item) for key, item in value.items()]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return [Scope(module, item, item) for item in value]
    return [Scope(module, Unresolved(str(for_each)), None)]


def first(body: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The first nested block ``name`` of ``body`` ({} when absent)."""
    value = body.get(name)
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return value[0]
    return {}


def _label(block: Block, scope: Scope) -> str:
    return block.address if scope.each_key is None else f"{block.address}[{scope.each_key!r}]"


# --- 1. functions: deployed, from their own source, with the right entry point ------------

_DECORATORS = {"cloud_event", "http", "typed"}


def entry_points(main_py: Path) -> list[str]:
    """Functions of ``main_py`` registered with a functions_framework decorator."""
    tree = ast.parse(main_py.read_text(encoding="utf-8"), filename=str(main_py))
    found = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if isinstance(target, ast.Attribute) and target.attr in _DECORATORS:
                if isinstance(target.value, ast.Name) and target.value.id == "functions_framework":
                    found.append(node.name)
            elif isinstance(target, ast.Name) and target.id in _DECORATORS:
                found.append(node.name)
    return found


_OBJECT_REF = re.compile(r"^\$\{([a-z0-9_]+)\.([A-Za-z0-9_-]+)(\[[^\]]+\])?\.name\}$")


def _source_name(function: Block, scope: Scope) -> str | Unresolved:
    """Which ``functions/<name>`` the function is built from, via its source archive."""
    storage = first(first(first(function.body, "build_config"), "source"), "storage_source")
    object_expr = storage.get("object", "")
    match = _OBJECT_REF.match(str(object_expr))
    if not match:
        return Unresolved(f"build_config.source.storage_source.object = {object_expr!r}")
    obj = scope.module.find(match.group(1), match.group(2))
    if obj is None:
        return Unresolved(f"no resource {match.group(1)}.{match.group(2)}")
    key = None
    if match.group(3):
        key = resolve("${" + match.group(3)[1:-1] + "}", scope)
        if match.group(3).startswith('["'):
            key = match.group(3)[2:-2]
    archive = str(obj.body.get("source", ""))
    if key is not None and not isinstance(key, Unresolved):
        archive = archive.replace("${each.key}", str(key))
    base = archive.rsplit("/", 1)[-1]
    if "${" in base or not base.endswith(".zip"):
        return Unresolved(f"{obj.address}: source = {archive!r}")
    return base[: -len(".zip")]


def function_findings(
    tf_dir: Path, functions_dir: Path, *, runtime: str = "python311"
) -> list[str]:
    """Every ``functions/<name>/main.py`` is deployed from its own archive, with its entry point."""
    findings: list[str] = []
    expected: dict[str, list[str]] = {}
    for directory in sorted(p for p in Path(functions_dir).iterdir() if p.is_dir()):
        if directory.name.startswith((".", "_")):
            continue
        main_py = directory / "main.py"
        if not main_py.is_file():
            findings.append(f"functions/{directory.name} has no main.py")
            continue
        names = entry_points(main_py)
        if len(names) != 1:
            findings.append(
                f"functions/{directory.name}/main.py must register exactly one function "
                f"with functions_framework, found {names}"
            )
        expected[directory.name] = names

    deployed: dict[str, list[str]] = {}
    for module in load(tf_dir):
        for block in module.of_type("google_cloudfunctions2_function"):
            for scope in instances(block, module):
                label = _label(block, scope)
                build = first(block.body, "build_config")
                source = _source_name(block, scope)
                entry = resolve(build.get("entry_point"), scope)
                rt = resolve(build.get("runtime"), scope)
                if isinstance(source, Unresolved):
                    findings.append(f"{label}: cannot tell which source it deploys ({source})")
                    continue
                if isinstance(entry, Unresolved) or entry is None:
                    findings.append(f"{label}: entry_point is not statically known ({entry})")
                    continue
                if rt != runtime:
                    findings.append(f"{label}: runtime is {rt!r}, expected {runtime!r}")
                deployed.setdefault(source, []).append(entry)
                if source not in expected:
                    findings.append(f"{label}: deploys archive {source!r}, not a functions/ dir")
                elif entry not in expected[source]:
                    findings.append(
                        f"{label}: entry_point {entry!r} is not the function registered in "
                        f"functions/{source}/main.py {expected[source]}"
                    )
    for name in expected:
        if name not in deployed:
            findings.append(
                f"functions/{name} is not deployed by any google_cloudfunctions2_function"
            )
    return findings


# --- 2. environment: exactly the settings the code reads ----------------------------------


def _model_class(annotation: Any) -> type | None:
    """The pydantic model class inside ``annotation`` (``X``, ``X | None``), if any."""
    from pydantic import BaseModel

    candidates = getattr(annotation, "__args__", None) or (annotation,)
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def settings_env_names(settings_cls: type) -> tuple[set[str], set[str]]:
    """(names the settings class reads, the leaf names each needing a value or a default).

    A nested model read with ``env_nested_delimiter`` can be set whole (JSON in
    the parent's variable) or field by field (``PARENT__CHILD``); both count as
    read, and the leaves are what must be set or allowed to default.
    """
    config = getattr(settings_cls, "model_config", {})
    prefix = str(config.get("env_prefix") or "").upper()
    delimiter = config.get("env_nested_delimiter")
    readable: set[str] = set()
    leaves: set[str] = set()

    def walk(model: type, base: str) -> None:
        for name, info in model.model_fields.items():
            alias = info.validation_alias if isinstance(info.validation_alias, str) else None
            env = (base + (alias or info.alias or name)).upper() if base else None
            if env is None:
                env = prefix + (alias or name).upper()
            nested = _model_class(info.annotation)
            readable.add(env)
            if nested is not None and delimiter:
                walk(nested, env + delimiter)
            else:
                leaves.add(env)

    walk(settings_cls, "")
    return readable, leaves


def _secret_env_names(service: Mapping[str, Any], scope: Scope) -> set[str] | Unresolved:
    names: set[str] = set()
    for block in service.get("secret_environment_variables", []) or []:
        key = resolve(block.get("key"), scope)
        if isinstance(key, Unresolved) or key is None:
            return Unresolved(f"secret_environment_variables.key = {block.get('key')!r}")
        names.add(str(key))
    for dynamic in service.get("dynamic", []) or []:
        spec = dynamic.get("secret_environment_variables")
        if spec is None:
            continue
        iterator = spec.get("iterator", "secret_environment_variables")
        items = resolve(spec.get("for_each"), scope)
        if isinstance(items, list):
            items = {item: item for item in items}
        if not isinstance(items, dict):
            return Unresolved(f"dynamic secret_environment_variables for_each = {items!r}")
        for content in spec.get("content", []):
            for key, value in items.items():
                inner = Scope(
                    scope.module, scope.each_key, scope.each_value, (iterator, key, value)
                )
                name = resolve(content.get("key"), inner)
                if isinstance(name, Unresolved) or name is None:
                    return Unresolved(f"secret_environment_variables key = {content.get('key')!r}")
                names.add(str(name))
    return names


def deployed_environment(tf_dir: Path) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """({function instance: {env var: value}} including secret env vars, findings)."""
    envs: dict[str, dict[str, Any]] = {}
    findings: list[str] = []
    for module in load(tf_dir):
        for block in module.of_type("google_cloudfunctions2_function"):
            for scope in instances(block, module):
                label = _label(block, scope)
                service = first(block.body, "service_config")
                env = resolve(service.get("environment_variables", {}), scope)
                if not isinstance(env, dict):
                    findings.append(f"{label}: environment_variables not statically known ({env})")
                    continue
                secrets = _secret_env_names(service, scope)
                if isinstance(secrets, Unresolved):
                    findings.append(f"{label}: {secrets}")
                    continue
                merged = {str(k): resolve(v, scope) for k, v in env.items()}
                merged.update({name: "<secret>" for name in secrets})
                envs[label] = merged
    return envs, findings


def env_findings(
    tf_dir: Path, settings_cls: type, allowed_defaults: Mapping[str, str]
) -> list[str]:
    """Terraform sets what the code reads, and nothing else.

    ``allowed_defaults`` maps a setting's env name (or a nested group's prefix
    ending in the delimiter) to why its default is right in the cloud.
    """
    readable, leaves = settings_env_names(settings_cls)
    envs, findings = deployed_environment(tf_dir)
    if not envs and not findings:
        findings.append("no google_cloudfunctions2_function found")
    set_anywhere: set[str] = set()
    for label, env in sorted(envs.items()):
        for name in sorted(env):
            set_anywhere.add(name.upper())
            if name.upper() not in readable:
                findings.append(f"{label}: sets {name}, which shared.config.Settings does not read")
            elif name != name.upper():
                findings.append(f"{label}: {name} should be spelled {name.upper()}")
        tick_now = env.get("ALLOW_TICK_NOW")
        if tick_now is not None and str(tick_now).lower() != "false":
            findings.append(f"{label}: ALLOW_TICK_NOW must be false in the cloud, is {tick_now!r}")

    def allowed(name: str) -> bool:
        return any(
            name == entry or (entry.endswith("__") and name.startswith(entry))
            for entry in allowed_defaults
        )

    delimiter = getattr(settings_cls, "model_config", {}).get("env_nested_delimiter")

    def covered(name: str) -> bool:
        """Set itself, or inside a nested group set whole (JSON in the parent variable)."""
        if not delimiter:
            return name in set_anywhere
        parts = name.split(delimiter)
        prefixes = (delimiter.join(parts[:i]) for i in range(1, len(parts) + 1))
        return any(prefix in set_anywhere for prefix in prefixes)

    for name in sorted(leaves):
        if not covered(name) and not allowed(name):
            findings.append(
                f"{name} is read by the code but no function gets it from Terraform: set it "
                "in the module's environment, or allow its default (with the reason) in the test"
            )
    for entry in sorted(allowed_defaults):
        if entry.endswith("__"):
            if not any(name.startswith(entry) for name in leaves):
                findings.append(f"allowed default {entry}* matches no setting")
        elif entry not in leaves:
            findings.append(f"allowed default {entry} is not a setting (any more)")
    return findings


# --- 3. Firestore: every composite query has its index ------------------------------------

IndexSpec = tuple[str, tuple[tuple[str, str], ...]]


def declared_indexes(tf_dir: Path) -> tuple[list[tuple[str, IndexSpec]], list[str]]:
    """([(query scope, (collection, fields))], findings) of google_firestore_index resources."""
    declared: list[tuple[str, IndexSpec]] = []
    findings: list[str] = []
    for module in load(tf_dir):
        for block in module.of_type("google_firestore_index"):
            for scope in instances(block, module):
                label = _label(block, scope)
                collection = resolve(block.body.get("collection"), scope)
                query_scope = resolve(block.body.get("query_scope", "COLLECTION"), scope)
                fields: list[tuple[str, str]] = []
                for spec in block.body.get("fields", []) or []:
                    path = resolve(spec.get("field_path"), scope)
                    order = resolve(spec.get("order") or spec.get("array_config"), scope)
                    fields.append((path, order))
                if fields and fields[-1][0] == "__name__":
                    fields.pop()
                unknown = [
                    v
                    for v in (collection, query_scope, *sum(fields, ()))
                    if isinstance(v, Unresolved)
                ]
                if unknown:
                    findings.append(f"{label}: not statically known: {unknown}")
                    continue
                declared.append((str(query_scope), (str(collection), tuple(fields))))
    return declared, findings


def index_findings(tf_dir: Path, composite_indexes: Iterable[IndexSpec]) -> list[str]:
    """Each (collection, ((field, order), ...)) the code queries has a matching index."""
    declared, findings = declared_indexes(tf_dir)
    for collection, fields in composite_indexes:
        wanted = ("COLLECTION", (collection, tuple((f, o) for f, o in fields)))
        if wanted not in declared:
            shown = ", ".join(f"{f} {o}" for f, o in fields)
            findings.append(
                f"no google_firestore_index for collection {collection!r} on ({shown}); "
                "the query fails in the cloud (the emulator does not check indexes)"
            )
    return findings


# --- 4. IAM: only allowed roles, each on an allowed kind of resource ----------------------


def _iam_grants(tf_dir: Path) -> Iterator[tuple[str, Block, Scope]]:
    for module in load(tf_dir):
        for block in module.blocks:
            if block.kind == "resource" and "_iam_" in block.type:
                for scope in instances(block, module):
                    yield "resource", block, scope
            elif block.kind == "data" and block.type == "google_iam_policy":
                yield "policy", block, Scope(module)


def role_findings(tf_dir: Path, allowed_roles: Mapping[str, Iterable[str]]) -> list[str]:
    """Every granted role is in ``allowed_roles`` ({role: resource types it may be granted on})."""
    findings: list[str] = []
    for origin, block, scope in _iam_grants(tf_dir):
        label = _label(block, scope)
        if origin == "policy":
            findings.append(f"{label}: authoritative IAM policies are not allowed; grant members")
            continue
        if block.type.endswith("_iam_audit_config"):
            continue
        if block.type.endswith("_iam_policy"):
            findings.append(f"{label}: authoritative IAM policies are not allowed; grant members")
            continue
        if block.type.endswith("_iam_custom_role"):
            findings.append(f"{label}: custom roles are not in the allowed list")
            continue
        role = resolve(block.body.get("role"), scope)
        if isinstance(role, Unresolved) or not isinstance(role, str):
            findings.append(f"{label}: role is not statically known ({role}); write it literally")
            continue
        where = set(allowed_roles.get(role, ()))
        if not where:
            findings.append(f"{label}: grants {role}, which is not an allowed role")
        elif block.type not in where:
            findings.append(
                f"{label}: grants {role} on {block.type}; allowed only on {sorted(where)}"
            )
    return findings


# --- 5. nothing public --------------------------------------------------------------------

_PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
_ACL_TYPES = {
    "google_storage_bucket_acl",
    "google_storage_bucket_access_control",
    "google_storage_default_object_acl",
    "google_storage_default_object_access_control",
    "google_storage_object_acl",
    "google_storage_object_access_control",
}
_PRIVATE_INGRESS = {"ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"}


def _members(body: Mapping[str, Any]) -> list[Any]:
    members: list[Any] = []
    if "member" in body:
        members.append(body["member"])
    value = body.get("members")
    members.extend(value if isinstance(value, list) else [value] if value else [])
    return members


def public_findings(tf_dir: Path) -> list[str]:
    """No public IAM member, no ACL, buckets private, functions not reachable from outside."""
    findings: list[str] = []
    for module in load(tf_dir):
        for block in module.blocks:
            if block.kind == "data" and block.type == "google_iam_policy":
                bodies = block.body.get("binding", []) or []
            elif block.kind == "resource" and "_iam_" in block.type:
                bodies = [block.body]
            else:
                bodies = []
            for body in bodies:
                for member in _members(body):
                    text = str(member)
                    if any(public in text for public in _PUBLIC_MEMBERS):
                        findings.append(f"{block.address}: grants to {text}")
            if block.kind != "resource":
                continue
            if block.type in _ACL_TYPES:
                findings.append(f"{block.address}: ACLs are not allowed (uniform access only)")
            for scope in instances(block, module):
                label = _label(block, scope)
                if block.type == "google_storage_bucket":
                    pap = resolve(block.body.get("public_access_prevention"), scope)
                    if pap != "enforced":
                        findings.append(
                            f"{label}: public_access_prevention is {pap!r}, not 'enforced'"
                        )
                    if resolve(block.body.get("uniform_bucket_level_access"), scope) is not True:
                        findings.append(f"{label}: uniform_bucket_level_access is not true")
                elif block.type == "google_storage_bucket_object":
                    if block.body.get("predefined_acl") is not None:
                        findings.append(f"{label}: sets predefined_acl")
                elif block.type == "google_cloudfunctions2_function":
                    service = first(block.body, "service_config")
                    ingress = resolve(service.get("ingress_settings", "ALLOW_ALL"), scope)
                    if ingress not in _PRIVATE_INGRESS:
                        findings.append(
                            f"{label}: ingress_settings is {ingress!r}; must be internal"
                        )
    return findings
