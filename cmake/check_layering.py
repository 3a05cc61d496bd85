#!/usr/bin/env python3
"""The layering check: every include follows the library graph.

    check_layering.py SOURCE_ROOT MANIFEST

MANIFEST has one line per library (written by ringpost_library in
cmake/ringpost_helpers.cmake): name, folder, sources, headers, ringpost deps, pure,
tab-separated, lists comma-separated. A file of library L may include a project
header only when the header's library is L or one L depends on, directly or not;
a PURE library (protocol engines, codecs, delivery policy) also includes no header
that opens sockets, files or rings, or reads the clock. Prints every violation and
exits 1, so the build fails before anything crosses a wall the link graph draws.
"""
import os
import re
import sys

PROJECT_FOLDERS = ("core/", "queue/", "net/", "dns/", "tools/", "tests/", "bench/")
# Headers a pure library must not include: sockets, files, the ring, threads, the
# clock. (Address types and text conversions, <netinet/in.h> and <arpa/inet.h>, are
# pure and allowed.)
PURE_FORBIDDEN_SYSTEM = re.compile(
    r"^(sys/socket\.h|sys/epoll\.h|sys/uio\.h|sys/stat\.h|sys/mman\.h|netdb\.h|ifaddrs\.h|poll\.h|"
    r"unistd\.h|fcntl\.h|liburing\.h|liburing/.*|pthread\.h|thread|mutex|fstream|filesystem)$")
PURE_FORBIDDEN_PROJECT = re.compile(r"^(absl/time/clock\.h|absl/synchronization/.*|core/ring\.h|"
                                    r"core/shard\.h|core/runtime\.h|core/buffer_ring\.h)$")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


class Library:
    def __init__(self, fields):
        self.name, self.folder, sources, headers, deps, pure = fields
        self.sources = [s for s in sources.split(",") if s]
        self.headers = [h for h in headers.split(",") if h]
        self.deps = [d for d in deps.split(",") if d]
        self.pure = pure == "1"


def read_manifest(path):
    libraries = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            fields = line.split("\t")
            if len(fields) != 6:
                sys.exit(f"layering: bad manifest line: {line!r}")
            library = Library(fields)
            libraries[library.name] = library
    return libraries


def closure(libraries, name):
    seen, stack = set(), [name]
    while stack:
        current = stack.pop()
        if current in seen or current not in libraries:
            continue
        seen.add(current)
        stack.extend(libraries[current].deps)
    return seen


def owners(root, libraries, errors):
    """Maps every .h/.cc in a library folder (relative path) to its library."""
    owner = {}
    by_folder = {}
    for library in libraries.values():
        by_folder.setdefault(library.folder, []).append(library.name)
        for source in library.sources:
            path = os.path.normpath(os.path.join(library.folder, source))
            owner[path] = library.name
            header = path[:-3] + ".h" if path.endswith(".cc") else None
            if header and os.path.exists(os.path.join(root, header)):
                owner.setdefault(header, library.name)
        for header in library.headers:
            owner[os.path.normpath(os.path.join(library.folder, header))] = library.name
    for folder, names in by_folder.items():
        for entry in sorted(os.listdir(os.path.join(root, folder))):
            path = os.path.normpath(os.path.join(folder, entry))
            if not entry.endswith((".h", ".cc")) or path in owner:
                continue
            if len(names) == 1:
                owner[path] = names[0]
            else:
                errors.append(f"{path} belongs to none of {', '.join(sorted(names))}: "
                              "list it in one library's SOURCES or HEADERS")
    return owner


def check(root, libraries):
    errors = []
    owner = owners(root, libraries, errors)
    for path, name in sorted(owner.items()):
        library = libraries[name]
        allowed = closure(libraries, name)
        with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                match = INCLUDE.match(line)
                if not match:
                    continue
                quote, included = match.groups()
                where = f"{path}:{number}"
                if library.pure and quote == "<" and PURE_FORBIDDEN_SYSTEM.match(included):
                    errors.append(f"{where}: {name} is pure but includes <{included}>")
                if quote != '"':
                    continue
                if library.pure and PURE_FORBIDDEN_PROJECT.match(included):
                    errors.append(f"{where}: {name} is pure but includes \"{included}\"")
                if not included.startswith(PROJECT_FOLDERS):
                    continue
                target = owner.get(os.path.normpath(included))
                if target is None:
                    if included.startswith(("tools/", "tests/", "bench/")):
                        errors.append(f"{where}: a library includes {included} (binaries and tests are above it)")
                    elif not os.path.exists(os.path.join(root, included)):
                        errors.append(f"{where}: {included} does not exist")
                    else:
                        errors.append(f"{where}: {included} belongs to no library")
                    continue
                if target not in allowed:
                    errors.append(f"{where}: {name} includes {included} ({target}), "
                                  f"which {name} does not depend on")
    return errors


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    root, manifest = sys.argv[1], sys.argv[2]
    errors = check(root, read_manifest(manifest))
    for error in errors:
        print(f"layering: {error}", file=sys.stderr)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
