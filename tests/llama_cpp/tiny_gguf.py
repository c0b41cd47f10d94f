"""Writes a tiny GGUF with random weights for one architecture, for the agreement tests with
llama.cpp (tests/llama_cpp.rs).

The file has the architecture's real tensor names and metadata keys, as llama.cpp's converter
writes them, and a real tokenizer and chat template: SmolLM2's, copied from the GGUF that
`make models` fetched. The weights are f32 (so the two engines differ only in the order of
their additions) and seeded (so a file is the same on every run).

    python3 tiny_gguf.py ARCH OUT.gguf SMOLLM2.gguf [--pre NAME] [--space-prefix true|false]

`--pre` and `--space-prefix` override the copied tokenizer's pre-tokenizer and SentencePiece
space prefix, so that one vocabulary can be tokenized the ways other models' are (the tokenizer
tests take Gemma's SentencePiece vocabulary as well as SmolLM2's).

Needs the `gguf` package (pinned in the Makefile, installed under .docent/).
"""
import argparse

import numpy as np
from gguf import GGUFReader, GGUFValueType, GGUFWriter

HIDDEN, HEADS, KV_HEADS, FFN = 64, 4, 2, 128
CONTEXT = 2048


def shape(arch):
    """Layers, head size and extra keys per architecture, chosen to reach each one's switches."""
    if arch == "gemma3":
        # Six layers: five local ones and a global one; a window of 8 keys, crossed many times.
        return 6, 32, {"attention.sliding_window": 8}
    if arch == "qwen3":
        # Heads of 32 on a 64-wide model: the attention is wider than the residual stream.
        return 2, 32, {}
    if arch == "phi3":
        # Half of each head rotates (as in Phi-4-mini), with LongRoPE factors.
        return 2, 16, {"rope.dimension_count": 8, "rope.scaling.original_context_length": 1024,
                       "rope.scaling.attn_factor": 1.1}
    return 2, 16, {}


def main(arch, out, tokenizer_from, pre=None, space_prefix=None):
    rng = np.random.default_rng(sum(map(ord, arch)))
    layers, head_dim, extra = shape(arch)
    source = GGUFReader(tokenizer_from)
    vocab = len(source.fields["tokenizer.ggml.tokens"].data)

    writer = GGUFWriter(out, arch)
    # (No "phi3" in the name: llama.cpp keys Phi-3 tokenizer quirks on it.)
    writer.add_name("tiny random model")
    for key, value in {
        "context_length": CONTEXT,
        "embedding_length": HIDDEN,
        "block_count": layers,
        "feed_forward_length": FFN,
        "attention.head_count": HEADS,
        "attention.head_count_kv": KV_HEADS,
        "attention.key_length": head_dim,
        "attention.value_length": head_dim,
        "rope.dimension_count": head_dim,
        **extra,
    }.items():
        (writer.add_float32 if isinstance(value, float) else writer.add_uint32)(f"{arch}.{key}", value)
    writer.add_float32(f"{arch}.attention.layer_norm_rms_epsilon", 1e-6)
    writer.add_float32(f"{arch}.rope.freq_base", 10000.0)
    for name, field in source.fields.items():
        if name.startswith("tokenizer."):
            value = field.contents()
            if name == "tokenizer.ggml.pre" and pre is not None:
                value = pre
            if name == "tokenizer.ggml.add_space_prefix" and space_prefix is not None:
                value = space_prefix
            if name == "tokenizer.ggml.tokens" and arch == "phi3":
                # llama.cpp looks up Phi-3's end-of-turn marker by its text when it loads a
                # phi3 vocabulary; it takes the place of an unused special token.
                value[value.index("<repo_name>")] = "<|end|>"
            sub = field.types[-1] if field.types[0] == GGUFValueType.ARRAY else None
            writer.add_key_value(name, value, field.types[0], sub)

    def tensor(name, *dims, scale=None, mean=0.0):
        scale = 1.0 / np.sqrt(dims[-1]) if scale is None else scale
        writer.add_tensor(name, (mean + scale * rng.standard_normal(dims)).astype(np.float32))

    # Gemma scales its embeddings by √64 and ties its output head to them: small embeddings and
    # a large output norm keep the logits as spread as the others' without the last token
    # drowning out the rest (then a tiny model just repeats it).
    gemma = arch == "gemma3"
    tensor("token_embd.weight", vocab, HIDDEN, scale=0.125 if gemma else 1.0)
    tensor("output_norm.weight", HIDDEN, scale=0.1, mean=8.0 if gemma else 1.0)
    if arch != "gemma3":  # Gemma ties its output to the embeddings
        tensor("output.weight", vocab, HIDDEN, scale=1.0)
    if arch == "phi3":
        tensor("rope_factors_short.weight", extra["rope.dimension_count"] // 2, scale=0.5, mean=1.5)
        tensor("rope_factors_long.weight", extra["rope.dimension_count"] // 2, scale=0.5, mean=4.0)
    q, kv = HEADS * head_dim, KV_HEADS * head_dim
    for i in range(layers):
        blk = f"blk.{i}"
        tensor(f"{blk}.attn_norm.weight", HIDDEN, scale=0.1, mean=1.0)
        tensor(f"{blk}.ffn_norm.weight", HIDDEN, scale=0.1, mean=1.0)
        if arch == "phi3":
            tensor(f"{blk}.attn_qkv.weight", q + 2 * kv, HIDDEN)
            tensor(f"{blk}.ffn_up.weight", 2 * FFN, HIDDEN)
        else:
            tensor(f"{blk}.attn_q.weight", q, HIDDEN)
            tensor(f"{blk}.attn_k.weight", kv, HIDDEN)
            tensor(f"{blk}.attn_v.weight", kv, HIDDEN)
            tensor(f"{blk}.ffn_gate.weight", FFN, HIDDEN)
            tensor(f"{blk}.ffn_up.weight", FFN, HIDDEN)
        tensor(f"{blk}.attn_output.weight", HIDDEN, q)
        tensor(f"{blk}.ffn_down.weight", HIDDEN, FFN)
        if arch == "qwen2":
            tensor(f"{blk}.attn_q.bias", q, scale=0.5)
            tensor(f"{blk}.attn_k.bias", kv, scale=0.5)
            tensor(f"{blk}.attn_v.bias", kv, scale=0.5)
        if arch in ("qwen3", "gemma3"):
            # Sharp attention (scores of spread ~9): each position attends to a few others.
            tensor(f"{blk}.attn_q_norm.weight", head_dim, scale=0.1, mean=3.0)
            tensor(f"{blk}.attn_k_norm.weight", head_dim, scale=0.1, mean=1.0)
        if arch == "gemma3":
            tensor(f"{blk}.post_attention_norm.weight", HIDDEN, scale=0.1, mean=1.0)
            tensor(f"{blk}.post_ffw_norm.weight", HIDDEN, scale=0.1, mean=1.0)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for positional in ("arch", "out", "tokenizer_from"):
        parser.add_argument(positional)
    parser.add_argument("--pre")
    parser.add_argument("--space-prefix", choices=["true", "false"])
    args = parser.parse_args()
    main(args.arch, args.out, args.tokenizer_from, args.pre,
         None if args.space_prefix is None else args.space_prefix == "true")
