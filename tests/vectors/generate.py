#!/usr/bin/env python3
"""generate.py - writes each <name>.hex from <name>.txt with `protoc --encode`.

The .txt files are protobuf text format; their first comment line names the
message type ("# pgml.v1.Frame: ...").  `payload: @other` stands for the bytes
of vector `other`.  protoc (the C++ implementation) is a third encoder, so the
stored bytes come from neither of the two codecs the test compares.

    tests/vectors/generate.py    # from the repository root, needs protoc
"""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.join(HERE, "..", "..", "proto")


def escape(data):
    return "".join("\\%03o" % b for b in data)


def encode(name, done):
    with open(os.path.join(HERE, name + ".txt"), encoding="utf-8") as f:
        text = f.read()
    msg_type = re.match(r"# ([\w.]+):", text).group(1)

    def payload(m):
        return 'payload: "%s"' % escape(done[m.group(1)])

    text = re.sub(r"payload: @(\w+)", payload, text)
    out = subprocess.run(
        ["protoc", "-I", PROTO, "-I", "/usr/include", "--encode=" + msg_type,
         "pgml/v1/database.proto", "pgml/v1/frame.proto"],
        input=text.encode("utf-8"), stdout=subprocess.PIPE, check=True).stdout
    return out


def main():
    names = sorted(n[:-4] for n in os.listdir(HERE) if n.endswith(".txt"))
    # Vectors without a @reference first, so that references resolve.
    names.sort(key=lambda n: "@" in open(os.path.join(HERE, n + ".txt")).read())
    done = {}
    for name in names:
        data = encode(name, done)
        done[name] = data
        hexed = data.hex()
        lines = [hexed[i:i + 64] for i in range(0, len(hexed), 64)] or [""]
        with open(os.path.join(HERE, name + ".hex"), "w") as f:
            f.write("\n".join(lines) + "\n")
        print("%-28s %4d bytes" % (name, len(data)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
