#!/usr/bin/env python3
"""Writes the seed corpus of each fuzz target into tests/fuzz/corpus/<target>/.

Seeds are small valid inputs, mostly cut from the committed fixtures, in the layout each fuzz
body expects (tests/fuzz/fuzz_targets.hpp): bpe = vocab.json NUL merges.txt NUL text,
wordpiece = vocab.txt NUL text, dataset = one selector byte (bits 0-1: 0 .txt, 1 .jsonl, 2 .ids,
3 .bin; bit 2: labels; bits 3-6: context - 1) followed by the file. The xclbin and manifest
seeds are written by the bitstream tests' author, not here.

Run from anywhere with plain Python 3 (no packages): python3 tests/fuzz/make_seeds.py
"""
import json
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures"
OUT = ROOT / "tests" / "fuzz" / "corpus"


def write(target, name, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def safetensors_file(tensors, metadata=None):
    """tensors: list of (name, dtype, shape, raw bytes), laid out in order."""
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def selector(fmt, labels=False, context=8):
    return bytes([fmt | (4 if labels else 0) | ((context - 1) << 3)])


def main():
    write("safetensors", "python_mixed.safetensors", (FIX / "safetensors" / "python_mixed.safetensors").read_bytes())
    write("safetensors", "all_loadable_dtypes.safetensors", safetensors_file([
        ("f32", "F32", [2, 2], struct.pack("<4f", 1, -2, 3.5, 0)),
        ("f16", "F16", [3], struct.pack("<3e", 1, -0.5, 65504)),
        ("bf16", "BF16", [2], struct.pack("<2H", 0x3F80, 0xC000)),
        ("f64", "F64", [1], struct.pack("<d", 0.25)),
        ("i32", "I32", [2], struct.pack("<2i", 7, -7)),
        ("i64", "I64", [2, 1], struct.pack("<2q", 1, 2)),
        ("scalar", "F32", [], struct.pack("<f", 9)),
        ("empty", "F32", [0, 3], b""),
    ], {"format": "pt"}))

    for model in ("gpt2-tiny", "bert-tiny-cls", "bert-tiny-mlm"):
        write("config", f"{model}.json", (FIX / "models" / model / "config.json").read_bytes())

    bpe_text = "Hello world! It's 2024, and   the cat's café\n costs 3.50€."
    for name, d in (("fixture", FIX / "tokenizers" / "bpe"), ("tiny_gpt2", ROOT / "examples" / "tiny-gpt2")):
        write("bpe", f"{name}.bin", (d / "vocab.json").read_bytes() + b"\0" + (d / "merges.txt").read_bytes() +
              b"\0" + bpe_text.encode())

    wp_text = "Hello, WORLD! Naïve café 東京 don't [SEP] unaffable"
    for name, d in (("fixture", FIX / "tokenizers" / "wordpiece"), ("bert_tiny", FIX / "models" / "bert-tiny-cls")):
        write("wordpiece", f"{name}.bin", (d / "vocab.txt").read_bytes() + b"\0" + wp_text.encode())

    write("dataset", "text.bin", selector(0) + b"Once upon a time.\n\nThe end of the story.\n")
    write("dataset", "jsonl.bin", selector(1) + b'{"text": "a b"}\n\n{"text": ""}\n')
    write("dataset", "jsonl_labels.bin", selector(1, labels=True, context=4) +
          (FIX / "models" / "bert-tiny-cls" / "eval.jsonl").read_bytes())
    write("dataset", "ids.bin", selector(2) + (FIX / "models" / "gpt2-tiny" / "eval_multi.ids").read_bytes())
    header = struct.pack("<3i", 20240520, 1, 5) + bytes(1024 - 12)
    write("dataset", "llmc_u16.bin", selector(3, context=2) + header + struct.pack("<5H", 1, 2, 3, 4, 5))
    header = struct.pack("<3i", 20240801, 7, 3) + bytes(1024 - 12)
    write("dataset", "llmc_u32.bin", selector(3, context=16) + header + struct.pack("<3I", 9, 8, 7))

    write("rules", "scheduler_doc.rules", "# offload the GEMMs of layers 6-11, forward and backward\n"
          "ops=gemm layers=6-11 phases=forward,backward -> opencl:0\n"
          "ops=matmul_backward layers=11 phases=backward -> cpu\n"
          "ops=gelu,optimizer -> opencl\n")
    write("rules", "every_selector.rules", "layers=none,0,2-3 -> cpu  # trailing comment\n\n"
          "ops=* phases=optimizer -> opencl:1\nops=attention,norm,elementwise,embedding,loss,pooling -> cpu\n")


if __name__ == "__main__":
    main()
