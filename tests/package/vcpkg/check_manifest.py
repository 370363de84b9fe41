#!/usr/bin/env python3
"""Check ports/unetpp/vcpkg.json against vcpkg's manifest rules, without the vcpkg tool.

    check_manifest.py <port dir> <unetpp source dir>
    check_manifest.py --self-test

The rules are the documented ones of the vcpkg.json reference and its JSON schema: strict JSON,
the known top-level fields and their types, exactly one version field, identifiers made of
lowercase letters, digits and single hyphens, dependency and feature objects with their known
fields, every default feature declared. On top of those, project rules: the port's version
equals the version in CMakeLists.txt and conanfile.py, the dependencies and features are the ones
unetpp needs, every feature is mapped to a CMake option in portfile.cmake, and the usage file
exists. Standard library only, so it runs with Debian's /usr/bin/python3.
"""
import json
import re
import sys
from pathlib import Path

IDENTIFIER = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
RESERVED = {"prn", "aux", "nul", "con", "core", "default"} | {f"lpt{i}" for i in range(1, 10)} \
    | {f"com{i}" for i in range(1, 10)}
RELAXED_VERSION = re.compile(r"^\d+(\.\d+)*$")
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$")
DATE_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(\.\d+)*$")
VERSION_FIELDS = ("version", "version-semver", "version-date", "version-string")
TOP_LEVEL = {"name", *VERSION_FIELDS, "port-version", "maintainers", "summary", "description",
             "homepage", "documentation", "license", "supports", "dependencies",
             "default-features", "features", "builtin-baseline", "overrides",
             "vcpkg-configuration"}
DEPENDENCY_FIELDS = {"name", "features", "default-features", "host", "platform", "version>="}
FEATURE_FIELDS = {"description", "dependencies", "supports", "license"}

# What unetpp's port must declare.
REQUIRED_DEPENDENCIES = {"eigen3": False, "xsimd": False, "vcpkg-cmake": True,
                         "vcpkg-cmake-config": True}  # name -> host
REQUIRED_FEATURES = {"openmp": set(), "cuda": {"cuda", "cudnn"}}
FEATURE_OPTIONS = {"openmp": "UNETPP_WITH_OPENMP", "cuda": "UNETPP_WITH_CUDA"}


def no_duplicates(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


def is_str_or_str_list(value):
    return isinstance(value, str) or (
        isinstance(value, list) and value and all(isinstance(v, str) for v in value))


def check_identifier(errors, where, name):
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        errors.append(f"{where}: {name!r} is not an identifier (lowercase letters, digits, hyphens)")
    elif name in RESERVED:
        errors.append(f"{where}: {name!r} is a reserved name")


def check_fields(errors, where, obj, allowed):
    for key in obj:
        if not key.startswith("$") and key not in allowed:
            errors.append(f"{where}: unknown field {key!r}")


def check_dependency(errors, where, dep):
    if isinstance(dep, str):
        check_identifier(errors, where, dep)
        return dep
    if not isinstance(dep, dict):
        errors.append(f"{where}: a dependency is a string or an object")
        return None
    check_fields(errors, where, dep, DEPENDENCY_FIELDS)
    if "name" not in dep:
        errors.append(f"{where}: dependency object without 'name'")
        return None
    check_identifier(errors, where, dep["name"])
    for flag in ("host", "default-features"):
        if flag in dep and not isinstance(dep[flag], bool):
            errors.append(f"{where}: '{flag}' must be true or false")
    for feature in dep.get("features", []):
        name = feature.get("name") if isinstance(feature, dict) else feature
        check_identifier(errors, f"{where} features", name)
    if "platform" in dep and not isinstance(dep["platform"], str):
        errors.append(f"{where}: 'platform' must be a string")
    if "version>=" in dep and not isinstance(dep["version>="], str):
        errors.append(f"{where}: 'version>=' must be a string")
    return dep["name"]


def check_dependency_list(errors, where, deps):
    if not isinstance(deps, list):
        errors.append(f"{where}: 'dependencies' must be an array")
        return {}
    found = {}
    for i, dep in enumerate(deps):
        name = check_dependency(errors, f"{where}[{i}]", dep)
        if name is None:
            continue
        if name in found:
            errors.append(f"{where}: {name!r} listed twice")
        found[name] = dep
    return found


def check_schema(m):
    """The generic vcpkg.json rules. Returns a list of error strings."""
    errors = []
    if not isinstance(m, dict):
        return ["the manifest must be a JSON object"]
    check_fields(errors, "top level", m, TOP_LEVEL)
    if "name" not in m:
        errors.append("a port needs 'name'")
    else:
        check_identifier(errors, "name", m["name"])
    versions = [f for f in VERSION_FIELDS if f in m]
    if len(versions) != 1:
        errors.append(f"exactly one of {', '.join(VERSION_FIELDS)} is required, found {versions}")
    else:
        field, value = versions[0], m[versions[0]]
        pattern = {"version": RELAXED_VERSION, "version-semver": SEMVER,
                   "version-date": DATE_VERSION, "version-string": re.compile(r"^[^#]+$")}[field]
        if not isinstance(value, str) or not pattern.match(value):
            errors.append(f"{field}: {value!r} is not a valid {field}")
    if "port-version" in m and (not isinstance(m["port-version"], int)
                                or isinstance(m["port-version"], bool) or m["port-version"] < 0):
        errors.append("'port-version' must be a non-negative integer")
    if "description" not in m:
        errors.append("a port needs 'description'")
    for field in ("description", "maintainers"):
        if field in m and not is_str_or_str_list(m[field]):
            errors.append(f"'{field}' must be a string or an array of strings")
    for field in ("summary", "homepage", "documentation", "supports", "builtin-baseline"):
        if field in m and not isinstance(m[field], str):
            errors.append(f"'{field}' must be a string")
    for field in ("homepage", "documentation"):
        if isinstance(m.get(field), str) and not re.match(r"^[a-z][a-z0-9+.-]*://\S+$", m[field]):
            errors.append(f"'{field}' must be a URI")
    if "license" in m and not (m["license"] is None or isinstance(m["license"], str)):
        errors.append("'license' must be an SPDX expression string or null")

    check_dependency_list(errors, "dependencies", m.get("dependencies", []))

    features = m.get("features", {})
    if not isinstance(features, dict):
        errors.append("'features' must be an object")
        features = {}
    for name, feature in features.items():
        where = f"features.{name}"
        if name.startswith("$"):
            errors.append(f"{where}: '$' comment keys are not allowed in 'features'")
            continue
        check_identifier(errors, where, name)
        if not isinstance(feature, dict):
            errors.append(f"{where}: a feature is an object")
            continue
        check_fields(errors, where, feature, FEATURE_FIELDS)
        if "description" not in feature or not is_str_or_str_list(feature["description"]):
            errors.append(f"{where}: needs a 'description' string")
        check_dependency_list(errors, f"{where}.dependencies", feature.get("dependencies", []))

    default_features = m.get("default-features", [])
    if not isinstance(default_features, list):
        errors.append("'default-features' must be an array")
        default_features = []
    for entry in default_features:
        name = entry.get("name") if isinstance(entry, dict) else entry
        if name not in features:
            errors.append(f"default feature {name!r} is not declared in 'features'")
    return errors


def check_project(m, port_dir, source_dir):
    """unetpp's own rules for its port."""
    errors = []
    cmake = (source_dir / "CMakeLists.txt").read_text()
    match = re.search(r"project\(\s*unetpp\s+VERSION\s+([0-9.]+)", cmake)
    if not match or m.get("version") != match.group(1):
        errors.append(f"version {m.get('version')!r} differs from CMakeLists.txt "
                      f"({match.group(1) if match else 'not found'})")
    conanfile = source_dir / "conanfile.py"
    if conanfile.exists():
        match = re.search(r'^\s*version\s*=\s*"([^"]+)"', conanfile.read_text(), re.M)
        if not match or match.group(1) != m.get("version"):
            errors.append(f"version {m.get('version')!r} differs from conanfile.py")
    if m.get("name") != port_dir.name:
        errors.append(f"name {m.get('name')!r} differs from the port directory {port_dir.name!r}")
    has_license_file = any(source_dir.glob("LICENSE*")) or any(source_dir.glob("COPYING*"))
    if "license" in m and m["license"] is not None and not has_license_file:
        errors.append("'license' is set but the project has no license file")

    deps = check_dependency_list([], "dependencies", m.get("dependencies", []))
    for name, host in REQUIRED_DEPENDENCIES.items():
        if name not in deps:
            errors.append(f"missing dependency {name!r}")
        elif bool(isinstance(deps[name], dict) and deps[name].get("host")) != host:
            errors.append(f"dependency {name!r} must {'' if host else 'not '}be a host dependency")
    features = m.get("features", {})
    for name, needed in REQUIRED_FEATURES.items():
        if name not in features:
            errors.append(f"missing feature {name!r}")
            continue
        fdeps = set(check_dependency_list([], name, features[name].get("dependencies", [])))
        if fdeps != needed:
            errors.append(f"feature {name!r} depends on {sorted(fdeps)}, expected {sorted(needed)}")
    defaults = [d.get("name") if isinstance(d, dict) else d for d in m.get("default-features", [])]
    if defaults != ["openmp"]:
        errors.append(f"default features {defaults}, expected ['openmp'] (UNETPP_WITH_OPENMP "
                      "defaults to ON)")

    portfile = (port_dir / "portfile.cmake").read_text()
    block = re.search(r"vcpkg_check_features\((.*?)\)", portfile, re.S)
    mapped = dict(re.findall(r"^\s*([a-z0-9-]+)\s+(UNETPP_\w+)\s*$", block.group(1), re.M)) \
        if block else {}
    for name in features:
        if mapped.get(name) != FEATURE_OPTIONS.get(name):
            errors.append(f"feature {name!r} is not mapped to {FEATURE_OPTIONS.get(name)} "
                          "in portfile.cmake")
    if not (port_dir / "usage").is_file():
        errors.append("ports/unetpp/usage is missing")
    return errors


def load(path):
    return json.loads(Path(path).read_text(), object_pairs_hook=no_duplicates)


def self_test():
    """The checker must reject broken manifests, or passing it proves nothing."""
    good = {"name": "p", "version": "1.0", "description": "d",
            "dependencies": ["a", {"name": "b", "host": True}],
            "default-features": ["f"], "features": {"f": {"description": "x"}}}
    assert check_schema(good) == [], check_schema(good)
    bad = [
        {**good, "name": "Bad_Name"},
        {**good, "name": "core"},
        {**good, "version-string": "1"},
        {k: v for k, v in good.items() if k != "version"},
        {**good, "version": "1.0-"},
        {**good, "port-version": -1},
        {**good, "dependencies": [{"host": True}]},
        {**good, "dependencies": ["a", "a"]},
        {**good, "dependencies": [{"name": "a", "hots": True}]},
        {**good, "default-features": ["missing"]},
        {**good, "features": {"f": {}}},
        {**good, "features": {"default": {"description": "x"}}},
        {**good, "homepage": "not a uri"},
        {**good, "license": 3},
        {**good, "unknown": 1},
    ]
    for case in bad:
        assert check_schema(case), f"accepted a broken manifest: {case}"
    for text in ('{"name": "p", "name": "q"}', '{"name": "p",}', '{"name": "p" // c\n}'):
        try:
            json.loads(text, object_pairs_hook=no_duplicates)
        except ValueError:
            continue
        raise AssertionError(f"accepted invalid JSON: {text}")
    print(f"self-test: {len(bad) + 3} broken manifests rejected")


def main(argv):
    if argv[1:] == ["--self-test"]:
        self_test()
        return 0
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    self_test()
    port_dir, source_dir = Path(argv[1]).resolve(), Path(argv[2]).resolve()
    try:
        manifest = load(port_dir / "vcpkg.json")
    except ValueError as e:
        print(f"FAIL: {port_dir / 'vcpkg.json'} is not strict JSON: {e}")
        return 1
    errors = check_schema(manifest) + check_project(manifest, port_dir, source_dir)
    for e in errors:
        print(f"FAIL: vcpkg.json: {e}")
    if errors:
        return 1
    print(f"PASS: {port_dir / 'vcpkg.json'} follows the manifest rules")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
