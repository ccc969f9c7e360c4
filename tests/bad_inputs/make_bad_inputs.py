#!/usr/bin/env python3
"""Writes the bad-input catalogue: malformed files of every format Tandem reads, the list
catalogue.json that tests/cli/test_bad_inputs.cpp runs through the `tandem` program, and
README.md describing each file.

Every file is written here, by hand or derived from a good fixture under tests/fixtures/ (which
one is said in its description). Files made elsewhere and listed too: config_missing_field/,
empty.ids, out_of_vocab.ids (hand-written, also used by tests/cli/test_model_commands.cpp) and
xclbin/ (written by the bitstream tests' author).

catalogue.json entries: file (relative to this folder), run (how the CLI test feeds it to
`tandem`, see test_bad_inputs.cpp), problem (a phrase the one-line error must contain) and what
(the README text).

Run from anywhere with plain Python 3 (no packages): python3 tests/bad_inputs/make_bad_inputs.py
"""
import json
import pathlib
import struct

HERE = pathlib.Path(__file__).resolve().parent
FIX = HERE.parent / "fixtures"
GPT2_CONFIG = json.loads((FIX / "models" / "gpt2-tiny" / "config.json").read_text())
BERT_CONFIG = json.loads((FIX / "models" / "bert-tiny-cls" / "config.json").read_text())
CATALOGUE = []


def add(file, run, problem, what, data=None, names=None, known_issue=None):
    """Writes @data (bytes or str; None: the file exists already) and lists the file. @names: the
    file of the input's folder the error must name when not this one. @known_issue: why Tandem
    does not yet reject it cleanly (the test skips it with that reason)."""
    path = HERE / file
    if data is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
    assert path.exists(), file
    e = {"file": file, "run": run, "problem": problem, "what": what}
    if names:
        e["names"] = names
    if known_issue:
        e["known_issue"] = known_issue
    CATALOGUE.append(e)


def safetensors_bytes(header, data=b"", declared=None):
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    n = len(text) if declared is None else declared
    return struct.pack("<Q", n) + text + data


def entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def config_with(base, **changes):
    c = dict(base)
    for k, v in changes.items():
        if v is ...:
            c.pop(k, None)
        else:
            c[k] = v
    return json.dumps(c, indent=2) + "\n"


def llmc_header(magic, version, count):
    return struct.pack("<3i", magic, version, count) + bytes(1024 - 12)


def weights():
    # Fed as model.safetensors of a model folder holding gpt2-tiny's valid config.json.
    w = "weights"
    add("safetensors/empty.safetensors", w, "truncated", "0 bytes: not even the 8-byte header length", b"")
    add("safetensors/five_bytes.safetensors", w, "truncated", "5 bytes, shorter than the header length field",
        b"\x10\x00\x00\x00\x00")
    add("safetensors/header_length_past_end.safetensors", w, "header length",
        "header length field says 1 MiB; the file has 60 bytes",
        safetensors_bytes({"a": entry("F32", [1], 0, 4)}, bytes(4), declared=1 << 20))
    add("safetensors/header_length_huge.safetensors", w, "header length",
        "header length field is 2^64 - 1", safetensors_bytes(b"{}", declared=(1 << 64) - 1))
    add("safetensors/header_not_json.safetensors", w, "not valid JSON", "header text is '{\"a\": {' (cut JSON)",
        safetensors_bytes(b'{"a": {'))
    add("safetensors/header_is_array.safetensors", w, "not a JSON object", "header is the JSON array [1, 2]",
        safetensors_bytes(b"[1, 2]"))
    add("safetensors/unknown_dtype.safetensors", w, "Q7", "tensor dtype 'Q7', not a safetensors dtype",
        safetensors_bytes({"a": entry("Q7", [2], 0, 8)}, bytes(8)))
    add("safetensors/overlapping_offsets.safetensors", w, "overlap",
        "tensors a [0, 8] and b [4, 12] share bytes 4-7",
        safetensors_bytes({"a": entry("F32", [2], 0, 8), "b": entry("F32", [2], 4, 12)}, bytes(12)))
    add("safetensors/offsets_past_end.safetensors", w, "past the end of the data section",
        "data_offsets [0, 400] with 16 data bytes (a truncated file)",
        safetensors_bytes({"a": entry("F32", [100], 0, 400)}, bytes(16)))
    add("safetensors/shape_size_mismatch.safetensors", w, "needs 12 bytes",
        "shape [3] of F32 needs 12 bytes, data_offsets hold 8",
        safetensors_bytes({"a": entry("F32", [3], 0, 8)}, bytes(8)))
    add("safetensors/duplicate_name.safetensors", w, "duplicate tensor name",
        "tensor name 'a' twice in the header",
        safetensors_bytes(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                          b'"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', bytes(8)))
    add("safetensors/negative_dimension.safetensors", w, "non-negative integer", "shape [-1]",
        safetensors_bytes({"a": entry("F32", [-1], 0, 0)}))
    add("safetensors/shape_overflow.safetensors", w, "too large",
        "shape [2^62, 2^62]: the byte count overflows 64 bits",
        safetensors_bytes({"a": entry("F32", [1 << 62, 1 << 62], 0, 0)}))
    add("safetensors/metadata_not_string.safetensors", w, "__metadata__",
        "__metadata__ value 1 where the format requires strings",
        safetensors_bytes({"__metadata__": {"format": 1}}))
    add("safetensors/weight_is_i32.safetensors", w, "I32",
        "transformer.wte.weight stored as I32; weights must be floating point",
        safetensors_bytes({"transformer.wte.weight": entry("I32", [100, 64], 0, 25600)}, bytes(25600)))
    add("safetensors/missing_weights.safetensors", w, "not found",
        "a valid file holding only an unrelated tensor 'foo'; gpt2-tiny's weights are missing",
        safetensors_bytes({"foo": entry("F32", [1], 0, 4)}, bytes(4)))
    add("safetensors/wrong_shape.safetensors", w, "expected",
        "transformer.wte.weight of shape [10, 64]; gpt2-tiny's config needs [100, 64]",
        safetensors_bytes({"transformer.wte.weight": entry("F32", [10, 64], 0, 2560)}, bytes(2560)))
    mixed = (FIX / "safetensors" / "python_mixed.safetensors").read_bytes()
    add("safetensors/truncated_python_file.safetensors", w, "past the end of the data section",
        "tests/fixtures/safetensors/python_mixed.safetensors (written by the Python library) cut to 1000 bytes",
        mixed[:1000])


def configs():
    # Each is the config.json of a folder given as --model (no weights needed: the config fails first).
    c = "config"
    add("config_missing_field/config.json", c, "n_embd", "gpt2-tiny's config.json without n_embd")
    add("config/not_json/config.json", c, "not valid JSON", "gpt2-tiny's config.json cut in the middle",
        config_with(GPT2_CONFIG)[:200])
    add("config/top_level_array/config.json", c, "JSON object", "a JSON array instead of an object", "[1, 2, 3]\n")
    add("config/unknown_model_type/config.json", c, "llama", "model_type 'llama'",
        config_with(GPT2_CONFIG, model_type="llama"))
    add("config/model_type_with_newline/config.json", c, "is not supported",
        "model_type \"gpt2\\nrm -rf\": a control character that must not break the one-line message",
        config_with(GPT2_CONFIG, model_type="gpt2\nrm -rf"))
    add("config/heads_do_not_divide/config.json", c, "does not divide", "n_head 3 with n_embd 64",
        config_with(GPT2_CONFIG, n_head=3))
    add("config/negative_layers/config.json", c, "n_layer", "n_layer -2", config_with(GPT2_CONFIG, n_layer=-2))
    add("config/dimension_as_string/config.json", c, "n_embd", "n_embd \"64\" (a string)",
        config_with(GPT2_CONFIG, n_embd="64"))
    add("config/huge_dimension/config.json", c, "n_embd", "n_embd 2^62: 4·n_embd would overflow",
        config_with(GPT2_CONFIG, n_embd=1 << 62, n_head=1))
    add("config/larger_than_memory/config.json", c, "more than this machine's",
        "n_layer 4096, n_embd 65536: every dimension in range, but about 2.1e14 parameters",
        config_with(GPT2_CONFIG, n_layer=4096, n_embd=65536, n_head=64))
    add("config/epsilon_out_of_float_range/config.json", c, "layer_norm_epsilon",
        "layer_norm_epsilon 1e300, beyond float's range", config_with(GPT2_CONFIG, layer_norm_epsilon=1e300))
    add("config/bert_bad_architecture/config.json", c, "BertForTokenClassification",
        "bert-tiny-cls's config.json with architecture BertForTokenClassification",
        config_with(BERT_CONFIG, architectures=["BertForTokenClassification"]))


def tokenizers():
    # bpe: vocab.json + merges.txt beside gpt2-tiny's config and weights, evaluated on a .txt file.
    # wordpiece: vocab.txt beside bert-tiny-cls's config and weights, evaluated on its eval.jsonl.
    vocab = json.loads((FIX / "tokenizers" / "bpe" / "vocab.json").read_text())
    merges = (FIX / "tokenizers" / "bpe" / "merges.txt").read_text()
    good_vocab = json.dumps(vocab)
    src = "from tests/fixtures/tokenizers/bpe"
    add("tokenizer/bpe_vocab_not_json/vocab.json", "bpe", "not valid JSON",
        f"vocab.json cut after 100 bytes ({src}); merges.txt valid", good_vocab[:100])
    (HERE / "tokenizer/bpe_vocab_not_json/merges.txt").write_text(merges)
    bad = dict(vocab)
    bad["!"] = "zero"
    add("tokenizer/bpe_id_not_integer/vocab.json", "bpe", "not an integer", f"the id of '!' is \"zero\" ({src})",
        json.dumps(bad))
    (HERE / "tokenizer/bpe_id_not_integer/merges.txt").write_text(merges)
    bad = dict(vocab)
    bad["!"] = vocab['"']
    add("tokenizer/bpe_duplicate_id/vocab.json", "bpe", "is given to both",
        f"'!' and '\"' share one id ({src})", json.dumps(bad))
    (HERE / "tokenizer/bpe_duplicate_id/merges.txt").write_text(merges)
    add("tokenizer/bpe_merge_not_in_vocab/merges.txt", "bpe", "not in vocab.json",
        f"merges.txt line 2 merges 'zzqq' and 'xxyy', not in the vocabulary ({src})",
        "#version: 0.2\nzzqq xxyy\n" + merges.split("\n", 1)[1])
    (HERE / "tokenizer/bpe_merge_not_in_vocab/vocab.json").write_text(good_vocab)
    add("tokenizer/bpe_merge_three_tokens/merges.txt", "bpe", "line 2",
        f"merges.txt line 2 has three tokens ({src})", "#version: 0.2\nĠ t h\n" + merges.split("\n", 1)[1])
    (HERE / "tokenizer/bpe_merge_three_tokens/vocab.json").write_text(good_vocab)
    add("tokenizer/bpe_missing_merges/vocab.json", "bpe", "merges.txt",
        f"a valid vocab.json ({src}) with no merges.txt beside it", good_vocab, names="merges.txt")
    wp = (FIX / "tokenizers" / "wordpiece" / "vocab.txt").read_text().split("\n")
    src = "from tests/fixtures/tokenizers/wordpiece"
    add("tokenizer/wordpiece_no_unk/vocab.txt", "wordpiece", "[UNK]", f"vocab.txt without its [UNK] line ({src})",
        "\n".join(t for t in wp if t != "[UNK]"))
    add("tokenizer/wordpiece_bad_utf8/vocab.txt", "wordpiece", "line 3",
        f"vocab.txt with the bytes ff fe on line 3 ({src})",
        ("\n".join(wp[:2]) + "\n").encode() + b"\xff\xfe\n" + "\n".join(wp[3:]).encode())
    add("tokenizer/wordpiece_empty/vocab.txt", "wordpiece", "empty", "an empty vocab.txt", b"")


def datasets():
    # Fed as --data: .ids and .bin to gpt2-tiny (vocabulary 100), .txt to examples/tiny-gpt2
    # (its byte-level tokenizer), .jsonl to bert-tiny-cls (3 labels).
    d = "data"
    add("empty.ids", d, "no sequence", "only blank lines")
    add("out_of_vocab.ids", d, "token id 100 out of range", "token id 100 on line 2; the vocabulary has 100 ids")
    add("data/not_an_integer.ids", d, "not an integer token id", "'x' among the ids on line 1", "1 2 x 4\n")
    add("data/negative_id.ids", d, "token id -3 out of range", "id -3 on line 2", "1 2\n3 -3\n")
    add("data/id_beyond_int64.ids", d, "out of range", "an id of 21 digits, beyond int64",
        "5 123456789012345678901\n")
    add("data/float_id.ids", d, "not an integer token id", "id '2.5'", "1 2.5\n")
    add("data/bad_magic.bin", d, "bad magic", "llm.c header with magic 12345",
        llmc_header(12345, 1, 2) + struct.pack("<2H", 1, 2))
    add("data/wrong_version.bin", d, "unsupported version", "llm.c magic 20240520 with version 7",
        llmc_header(20240520, 7, 2) + struct.pack("<2H", 1, 2))
    add("data/token_count_mismatch.bin", d, "header says 10 tokens",
        "header says 10 uint16 tokens; 5 follow (a truncated shard)",
        llmc_header(20240520, 1, 10) + struct.pack("<5H", 1, 2, 3, 4, 5))
    add("data/negative_count.bin", d, "negative token count", "header token count -1",
        llmc_header(20240520, 1, -1))
    add("data/short_header.bin", d, "shorter than the 1024-byte llm.c header", "100 bytes, all zero", bytes(100))
    add("data/token_out_of_vocab.bin", d, "out of range", "uint16 token 500 at byte offset 1026",
        llmc_header(20240520, 1, 3) + struct.pack("<3H", 1, 500, 2))
    add("data/invalid_json_line.jsonl", d, ":2: invalid JSON", "line 2 is not JSON",
        '{"text": "good", "label": 0}\n{"text": "cut\n')
    add("data/missing_text.jsonl", d, ":1: missing \"text\"", "line 1 has no \"text\"", '{"label": 1}\n')
    add("data/text_not_string.jsonl", d, "\"text\" is not a string", "\"text\" is a number",
        '{"text": 12, "label": 1}\n')
    add("data/missing_label.jsonl", d, "missing \"label\"", "line 2 has no \"label\" (classification data)",
        '{"text": "a", "label": 0}\n{"text": "b"}\n')
    add("data/label_out_of_range.jsonl", d, "label 7 out of range", "label 7 for bert-tiny-cls's 3 classes",
        '{"text": "a", "label": 7}\n')
    add("data/label_is_string.jsonl", d, "\"label\" is not an integer", "label \"1\"", '{"text": "a", "label": "1"}\n')
    add("data/top_level_array.jsonl", d, "expected a JSON object", "a JSON array on line 1", '["text", 1]\n')
    add("data/invalid_utf8.txt", d, "invalid_utf8.txt", "the bytes c3 28 (ill-formed UTF-8) in line 2",
        b"Once upon a time\nthere was \xc3\x28 a cat.\n")
    add("data/unknown_extension.csv", d, "unknown dataset extension", "a .csv file", "1,2,3\n")


def train_configs():
    # Fed as `tandem finetune --config FILE` with a valid model and data.
    t = "train_config"
    add("train_config/not_json.json", t, "not valid JSON", "'{\"steps\": 10,' (cut)", '{"steps": 10,')
    add("train_config/unknown_key.json", t, "stepz", "key 'stepz' (a typo of steps)", '{"stepz": 10}\n')
    add("train_config/wrong_type.json", t, "steps", "steps \"ten\"", '{"steps": "ten"}\n')
    add("train_config/top_level_array.json", t, "object", "a JSON array", "[]\n")
    add("train_config/negative_lr.json", t, "lr", "lr -0.001", '{"lr": -0.001}\n')


def rules():
    # Fed as `tandem step --policy rules:FILE` on gpt2-tiny.
    r = "rules"
    add("rules/unknown_op.rules", r, ":2:", "line 2 names op 'convolution'",
        "# fine\nops=convolution -> cpu\n")
    add("rules/missing_arrow.rules", r, ":1:", "no '->' and no device", "ops=gemm opencl:0\n")
    add("rules/empty_layer_range.rules", r, "layer range '5-2' is empty", "layers=5-2", "layers=5-2 -> cpu\n")
    add("rules/bad_layer_number.rules", r, "is not a layer number", "layers=x", "layers=x -> cpu\n")
    add("rules/unknown_selector.rules", r, ":1:", "selector 'kernels=' does not exist", "kernels=gemm -> cpu\n")
    add("rules/unknown_phase.rules", r, ":1:", "phase 'sideways'", "phases=sideways -> cpu\n")
    add("rules/bad_device.rules", r, ":1:", "device 'gpu:0'", "ops=gemm -> gpu:0\n")


def manifests():
    # Fed as `tandem step --devices cpu,opencl:0 --fpga-model <card> --bitstream-dir manifest/`
    # on gpt2-tiny; the card is the folder holding the manifest.json. Derived from
    # bitstreams/u55c/manifest.json.
    good = json.loads((HERE.parent.parent / "bitstreams" / "u55c" / "manifest.json").read_text())
    m = "manifest"
    add("manifest/cut_json/manifest.json", m, "manifest.json", "u55c's manifest cut after 300 bytes",
        json.dumps(good, indent=2)[:300])
    bad = dict(good)
    del bad["kernels"]
    add("manifest/no_kernels/manifest.json", m, "kernels", "u55c's manifest without \"kernels\"", json.dumps(bad, indent=2))
    bad = json.loads(json.dumps(good))
    bad["kernels"][0]["banks"]["q"] = ["HBM[40]"]
    add("manifest/bank_outside_platform/manifest.json", m, "HBM[40]",
        "u55c's manifest placing attention_forward's q on HBM[40] of a 32-bank card", json.dumps(bad, indent=2))
    bad = json.loads(json.dumps(good))
    bad["kernels"][0]["compute_units"] = "two"
    add("manifest/compute_units_string/manifest.json", m, "compute_units",
        "u55c's manifest with compute_units \"two\"", json.dumps(bad, indent=2))


def xclbins():
    # Written by the bitstream tests (tests/bad_inputs/xclbin/README.md); only the corrupt ones.
    x = "xclbin"
    add("xclbin/truncated.xclbin", x, "xclbin", "the first 700 bytes of a 6504-byte xclbin")
    add("xclbin/section_out_of_range.xclbin", x, "xclbin", "a section offset of 1 MiB in a 2992-byte file")


def readme():
    lines = ["# Malformed inputs", "",
             "Every file here is fed to the `tandem` program by `tests/cli/test_bad_inputs.cpp` (listed in",
             "`catalogue.json`), which requires for each: a non-zero exit without a signal, nothing but one",
             "line `tandem: ...` on stderr, naming the file and containing the listed problem. The files are",
             "written by `make_bad_inputs.py` (run it after changing it; it rewrites this README), except",
             "`config_missing_field/`, `empty.ids` and `out_of_vocab.ids` (hand-written; also used by",
             "`tests/cli/test_model_commands.cpp`) and `xclbin/` (the bitstream tests' author).", "",
             "How each kind is fed to `tandem`:", "",
             "- weights: as `model.safetensors` of a model folder holding gpt2-tiny's valid `config.json`; `tandem eval`",
             "- config: the folder holding it is `--model` of `tandem eval`",
             "- bpe / wordpiece: the folder's files beside gpt2-tiny's (bert-tiny-cls's) config and weights; `tandem eval`",
             "  on a small `.txt` (bert-tiny-cls's `eval.jsonl`)",
             "- data: `--data` of `tandem eval` with gpt2-tiny (`.ids`, `.bin`, other), `examples/tiny-gpt2` (`.txt`)",
             "  or bert-tiny-cls (`.jsonl`)",
             "- train_config: `tandem finetune --config FILE` with a valid model and data",
             "- rules: `tandem step --policy rules:FILE` on gpt2-tiny",
             "- manifest: `tandem step --devices cpu,opencl:0 --fpga-model CARD --bitstream-dir manifest/` on",
             "  gpt2-tiny, CARD being the folder holding the manifest.json (skipped without an OpenCL device)",
             "- xclbin: `tandem xclbin info FILE`", "",
             "| file | fed as | what is wrong |", "| --- | --- | --- |"]
    for e in CATALOGUE:
        known = f" **Known issue:** {e['known_issue']}." if "known_issue" in e else ""
        lines.append(f"| `{e['file']}` | {e['run']} | {e['what'].replace('|', '/')}{known} |")
    (HERE / "README.md").write_text("\n".join(lines) + "\n")


def main():
    weights()
    configs()
    tokenizers()
    datasets()
    train_configs()
    rules()
    manifests()
    xclbins()
    (HERE / "catalogue.json").write_text(json.dumps(CATALOGUE, indent=1, ensure_ascii=False) + "\n")
    readme()
    print(f"{len(CATALOGUE)} bad inputs")


if __name__ == "__main__":
    main()
