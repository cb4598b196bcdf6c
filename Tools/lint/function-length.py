#!/usr/bin/env python3
"""Checks the library targets against the size limits of the style guide:
no function, initializer or closure-bodied accessor longer than 70 lines,
no file longer than 500 lines. Prints each offender; exits 1 if any.

A function is measured from its declaration line to the line of its closing
brace, found by matching braces outside strings and comments.

Usage: function-length.py [--max-function N] [--max-file N] DIR...
"""
import re
import sys
from pathlib import Path

DECL = re.compile(r'^\s*(?:@[\w()., ]+\s+)*(?:(?:public|internal|private|fileprivate|package|open|static|final|override|mutating|nonisolated|convenience|required|@inline\(__always\)|@discardableResult)\s+)*(?:func\s+[^\s(<]+|init[?!]?|deinit)\b')


def strip(line, in_block):
    """Removes string literals and comments from a line; tracks /* */."""
    out = []
    i = 0
    in_string = False
    while i < len(line):
        c = line[i]
        if in_block:
            if line.startswith('*/', i):
                in_block = False
                i += 2
                continue
            i += 1
            continue
        if in_string:
            if c == '\\':
                i += 2
                continue
            if c == '"':
                in_string = False
            i += 1
            continue
        if line.startswith('//', i):
            break
        if line.startswith('/*', i):
            in_block = True
            i += 2
            continue
        if c == '"':
            in_string = True
            i += 1
            continue
        out.append(c)
        i += 1
    return ''.join(out), in_block


def functions(path):
    lines = path.read_text().splitlines()
    cleaned = []
    in_block = False
    for line in lines:
        text, in_block = strip(line, in_block)
        cleaned.append(text)
    for start, line in enumerate(cleaned):
        if not DECL.match(line):
            continue
        depth = 0
        opened = False
        for end in range(start, len(cleaned)):
            for ch in cleaned[end]:
                if ch == '{':
                    depth += 1
                    opened = True
                elif ch == '}':
                    depth -= 1
            if opened and depth <= 0:
                name = line.strip().split('{')[0][:80]
                yield start + 1, end - start + 1, name
                break
            if not opened and end > start + 8:
                break  # a protocol requirement: no body


def main(argv):
    max_function, max_file = 70, 500
    dirs = []
    args = iter(argv)
    for a in args:
        if a == '--max-function':
            max_function = int(next(args))
        elif a == '--max-file':
            max_file = int(next(args))
        else:
            dirs.append(a)
    bad = 0
    for d in dirs:
        for path in sorted(Path(d).rglob('*.swift')):
            count = len(path.read_text().splitlines())
            if count > max_file:
                print(f'{path}: {count} lines (file limit {max_file})')
                bad += 1
            for line, length, name in functions(path):
                if length > max_function:
                    print(f'{path}:{line}: {length} lines: {name} (function limit {max_function})')
                    bad += 1
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
