#!/usr/bin/env python3
"""Checks the relative links of README.md, CHANGELOG.md and the book (docs/src/**/*.md).

Every relative link, image and reference definition must name a file or folder that exists, and
every #anchor a heading of the file it points into (slugged as GitHub and mdBook both do: lower
case, letters, digits, '-' and '_' kept, spaces to '-', the rest dropped; a repeated heading gets
-1, -2, ...). Links inside code blocks and code spans are not links. The book's pages may link
only within docs/src (mdBook publishes nothing else), and every page must be in SUMMARY.md (mdBook
builds only those). Remote links (http, https, mailto) are not fetched: there is no network here.

Usage: python3 ci/check-links.py [--html BUILT_BOOK] [REPO_ROOT]. With --html (mdbook's output
folder), every anchor a book page links to must also be an id in the page mdBook built, so the
slugs above are checked against mdBook's own. `--self-test` checks the checker on a small tree of
good and broken links. Exit 0 when every link resolves, 1 otherwise, each broken link printed as
FILE:LINE: what is wrong.
"""

import os
import re
import sys

INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFDEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
EXPLICIT_ID = re.compile(r"\s*\{#([A-Za-z0-9_-]+)\}\s*$")
FENCE = re.compile(r"^\s{0,3}(```|~~~)")


def slug(text):
    text = re.sub(r"`([^`]*)`", r"\1", text)  # code spans keep their text
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links keep their text
    text = re.sub(r"[*_]{1,2}([^*_]+)[*_]{1,2}", r"\1", text)  # emphasis
    out = []
    for ch in text.strip().lower():
        if ch.isalnum() or ch in "-_":
            out.append(ch)
        elif ch.isspace():
            out.append("-")
    return "".join(out)


def unfenced_lines(path):
    """(line number, raw line) of the lines outside fenced code blocks."""
    fenced = None
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            m = FENCE.match(line)
            if m:
                if fenced is None:
                    fenced = m.group(1)
                elif line.strip().startswith(fenced):
                    fenced = None
                continue
            if fenced is None:
                yield n, line.rstrip("\n")


def prose_lines(path):
    """(line number, text) of the lines outside fenced code blocks, code spans blanked."""
    for n, line in unfenced_lines(path):
        yield n, re.sub(r"`[^`]*`", lambda s: " " * len(s.group(0)), line)


_anchors = {}


def anchors(path):
    if path not in _anchors:
        seen = {}
        # Headings are read from the raw lines: code spans keep their text in the slug.
        found = set()
        for _, line in unfenced_lines(path):
            m = HEADING.match(line)
            if not m:
                continue
            text = m.group(2)
            explicit = EXPLICIT_ID.search(text)
            if explicit:
                found.add(explicit.group(1))
                continue
            s = slug(text)
            n = seen.get(s, 0)
            seen[s] = n + 1
            found.add(s if n == 0 else f"{s}-{n}")
        _anchors[path] = found
    return _anchors[path]


def check(root, html=None):
    book = os.path.join(root, "docs", "src")
    files = [os.path.join(root, name) for name in ("README.md", "CHANGELOG.md") if os.path.exists(os.path.join(root, name))]
    for d, _, names in os.walk(book):
        files += [os.path.join(d, n) for n in sorted(names) if n.endswith(".md")]
    errors = []
    checked = 0
    for path in files:
        rel = os.path.relpath(path, root)
        in_book = os.path.commonpath([path, book]) == book
        for n, line in prose_lines(path):
            targets = [m.group(1) for m in INLINE.finditer(line)]
            d = REFDEF.match(line)
            if d:
                targets.append(d.group(1))
            for target in targets:
                if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                    continue
                checked += 1
                file_part, _, anchor = target.partition("#")
                dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
                if not os.path.exists(dest):
                    errors.append(f"{rel}:{n}: {target}: no such file {os.path.relpath(dest, root)}")
                    continue
                if in_book and os.path.commonpath([dest, book]) != book:
                    errors.append(f"{rel}:{n}: {target}: the book links outside docs/src (mdBook does not publish it)")
                    continue
                if anchor:
                    if not dest.endswith(".md"):
                        errors.append(f"{rel}:{n}: {target}: an anchor into a file that is not markdown")
                    elif anchor not in anchors(dest):
                        errors.append(f"{rel}:{n}: {target}: {os.path.relpath(dest, root)} has no heading #{anchor}")
                    elif html and in_book:
                        page = os.path.join(html, os.path.relpath(dest, book)[: -len(".md")] + ".html")
                        ids = set(re.findall(r'\bid="([^"]+)"', open(page, encoding="utf-8").read())) if os.path.exists(page) else set()
                        if anchor not in ids:
                            errors.append(f"{rel}:{n}: {target}: mdBook's {os.path.relpath(page, html)} has no id {anchor}")
    summary = os.path.join(book, "SUMMARY.md")
    if os.path.exists(summary):
        listed = set()
        for _, line in prose_lines(summary):
            for m in INLINE.finditer(line):
                listed.add(os.path.normpath(os.path.join(book, m.group(1).partition("#")[0])))
        for path in files:
            if os.path.commonpath([path, book]) == book and path != summary and path not in listed:
                errors.append(f"{os.path.relpath(path, root)}: not in docs/src/SUMMARY.md, so mdBook does not build it")
    return checked, errors


def self_test():
    """The checker finds each kind of broken link in a small tree, and passes the good ones."""
    import tempfile

    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "docs", "src", "sub"))
        files = {
            "README.md": "# Top\n\n## Exit codes\n\n[ok](#exit-codes) [ok](docs/src/a.md#a-b-c) [bad](#nope) [bad](missing.md)\n"
            "```\n[not a link](nowhere.md)\n```\n[ref]: docs/src/sub/b.md#gone\n",
            "docs/src/SUMMARY.md": "# Summary\n\n- [A](a.md)\n",
            "docs/src/a.md": "# A `b` c!\n\n[up](../../README.md) [ok](#a-b-c) `[span](nowhere.md)`\n",
            "docs/src/sub/b.md": "# B\n",
        }
        for name, text in files.items():
            with open(os.path.join(root, name), "w", encoding="utf-8") as f:
                f.write(text)
        _anchors.clear()
        checked, errors = check(root)
        _anchors.clear()
        want = ["README.md:5: #nope", "README.md:5: missing.md", "README.md:9: docs/src/sub/b.md#gone", "docs/src/a.md:3: ../../README.md",
                "docs/src/sub/b.md: not in docs/src/SUMMARY.md"]
        found = [w for w in want if any(e.startswith(w) for e in errors)]
        if found != want or len(errors) != len(want) or checked != 8:
            print(f"check-links self-test failed: {checked} checked, errors {errors}", file=sys.stderr)
            return 1
    print("check-links self-test: passed", file=sys.stderr)
    return 0


def main():
    args = sys.argv[1:]
    if args == ["--self-test"]:
        return self_test()
    html = None
    if args[:1] == ["--html"]:
        html, args = os.path.abspath(args[1]), args[2:]
    root = os.path.abspath(args[0] if args else os.path.join(os.path.dirname(__file__), ".."))
    checked, errors = check(root, html)
    for e in errors:
        print(e)
    print(f"check-links: {checked} relative links checked, {len(errors)} broken", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
