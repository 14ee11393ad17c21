"""The agent's link order: the sections holding the code one run executed, in first-run order.

Reads a callgrind profile taken with --dump-instr=yes (every instruction the run executed) and
gold's link map of the same binary (which input section sits at which address), and prints one
input section name per line, for gold's --section-ordering-file. Sections are named, not
addresses, so the list outlives the layout it was measured on; functions without a symbol
(`.L__unnamed_N`) are found by address, which is why instructions are read rather than names.

Usage: link-order.py PROFILE BINARY LINK_MAP > ORDER
"""
import bisect
import collections
import re
import subprocess
import sys


def text_sections(link_map):
    """(address, size, section name, object file) of every input section gold placed under .text."""
    sections, pending = [], None
    for line in open(link_map):
        if line.startswith(" .text"):
            fields = line.split()
            if len(fields) >= 4 and fields[1].startswith("0x"):
                sections.append((int(fields[1], 16), int(fields[2], 16), fields[0], " ".join(fields[3:])))
            else:
                pending = fields[0]  # a long name; address, size and object follow on the next line
            continue
        if pending:
            fields = line.split()
            if len(fields) >= 3 and fields[0].startswith("0x") and fields[1].startswith("0x"):
                sections.append((int(fields[0], 16), int(fields[1], 16), pending, " ".join(fields[2:])))
            pending = None
    return sorted(s for s in sections if s[0] > 0 and s[1] > 0)


def executed_instructions(profile, binary_name):
    """Addresses executed in the binary, in the order the profile first lists them, and the lowest
    address seen per function name (to find where the binary was loaded)."""
    objects, functions = {}, {}
    current_object = current_function = None
    position, first, lowest = 0, {}, {}
    for line in open(profile):
        match = re.match(r"(c?ob|c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if match:
            kind, number, name = match.groups()
            table = objects if kind.endswith("ob") else functions
            if name:
                table[number] = name.strip()
            if kind == "ob":
                current_object = objects[number]
            elif kind == "fn":
                current_function = functions[number]
            continue
        match = re.match(r"(0x[0-9a-f]+|[+-]\d+|\*)\s", line)
        if not match:
            continue  # calls=, headers, totals
        token = match.group(1)
        if token.startswith("0x"):
            position = int(token, 16)
        elif token != "*":
            position += int(token)
        if current_object and current_object.endswith(binary_name):
            first.setdefault(position, len(first))
            lowest[current_function] = min(lowest.get(current_function, position), position)
    return sorted(first, key=first.get), lowest


def main():
    profile, binary, link_map = sys.argv[1:4]
    sections = text_sections(link_map)
    starts = [s[0] for s in sections]
    symbols = {}
    for line in subprocess.run(["nm", binary], capture_output=True, text=True, check=True).stdout.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[1] in "tT":
            symbols.setdefault(fields[2], int(fields[0], 16))
    addresses, lowest = executed_instructions(profile, binary.rsplit("/", 1)[-1])
    offsets = collections.Counter(lowest[f] - symbols[f] for f in lowest if f in symbols)
    if not offsets:
        sys.exit("link-order.py: no function of the profile is in the binary's symbol table")
    load_offset = offsets.most_common(1)[0][0]
    order, seen = [], set()
    for address in addresses:
        index = bisect.bisect_right(starts, address - load_offset) - 1
        if index < 0 or not (starts[index] <= address - load_offset < starts[index] + sections[index][1]):
            continue
        name = sections[index][2]
        # A bare .text is a whole object file that was not split (the prebuilt Swift libraries):
        # naming it would move every such object, so it stays where it is.
        if name != ".text" and name not in seen:
            seen.add(name)
            order.append(name)
    print("\n".join(order))
    sys.stderr.write(f"{len(addresses)} instructions executed, in {len(order)} sections\n")


if __name__ == "__main__":
    main()
