#!/usr/bin/env python3
"""The training step bench_train.cpp times, in PyTorch fp32, for a side-by-side figure.

One step = forward + backward + AdamW of GPT-2 small (12 layers, 768 wide, 12 heads,
vocabulary 50257, 1024 positions; transformers' GPT2LMHeadModel with its own random
initialisation, dropout off as in Tandem) on a batch of random token ids, with
torch.optim.AdamW (lr 1e-4, weight decay 0.01, none on biases and LayerNorm parameters, as
Tandem's Session does) and torch.set_num_threads(THREADS).

Run (torch and transformers from pip; ~5 GB of memory at --seq 512):
    python3 bench/train_step_pytorch.py --seq 128 512 --steps 3

Prints, per sequence length, the time of every timed step and the median tokens/s over them
(one untimed warm-up step first), and tokens per second of process CPU time (all threads; on
a shared machine, what the step actually got); --json FILE also writes them as JSON.
"""

import argparse
import json
import statistics
import time

import torch
import transformers


def build_model() -> transformers.GPT2LMHeadModel:
    config = transformers.GPT2Config(
        n_embd=768, n_layer=12, n_head=12, n_positions=1024, vocab_size=50257,
        activation_function="gelu_new", layer_norm_epsilon=1e-5,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model = transformers.GPT2LMHeadModel(config)
    model.train()
    return model


def build_optimizer(model: torch.nn.Module) -> torch.optim.AdamW:
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                              {"params": no_decay, "weight_decay": 0.0}], lr=1e-4)


def time_steps(seq: int, batch: int, steps: int) -> tuple[list[float], list[float]]:
    """Wall-clock and process-CPU seconds (all threads) of each timed step."""
    torch.manual_seed(1000 + seq)
    model = build_model()
    optimizer = build_optimizer(model)
    ids = torch.randint(0, model.config.vocab_size, (batch, seq))
    times, cpu_times = [], []
    for i in range(steps + 1):
        start, cpu_start = time.perf_counter(), time.process_time()
        optimizer.zero_grad()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        if i > 0:
            times.append(elapsed)
            cpu_times.append(cpu)
    return times, cpu_times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per sequence length")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, "
          f"threads {torch.get_num_threads()}, batch {args.batch}")
    results = []
    for seq in args.seq:
        times, cpu_times = time_steps(seq, args.batch, args.steps)
        tokens = args.batch * seq
        median = statistics.median(times)
        per_cpu = tokens / statistics.median(cpu_times)
        print(f"  seq {seq:4d}: steps " + " ".join(f"{t * 1e3:.0f} ms" for t in times)
              + f"; median {median * 1e3:.0f} ms = {tokens / median:.1f} tokens/s, {per_cpu:.1f} tokens/cpu-s")
        results.append({"seq": seq, "batch": args.batch, "step_seconds": times, "step_cpu_seconds": cpu_times,
                        "median_tokens_per_second": tokens / median, "median_tokens_per_cpu_second": per_cpu})
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"torch": torch.__version__, "transformers": transformers.__version__,
                       "threads": torch.get_num_threads(), "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
