#!/usr/bin/env python3
"""PyTorch (CPU) latency of the reference server's `small` encoder configuration.

Same dimensions as `joulebench serve --classifier small` (BERT-Small: 4 layers, 512 wide,
8 heads, 2,048 inner, 30,522 tokens, 2 labels), random weights, one unbatched sequence at a
time, the same token lengths as `cargo bench -p joulebench-reference --bench cost`.

    python3 bench/reference_torch.py [--threads N] [--runs N] [--plain]

bench/encoder_vs_torch.sh runs it beside candle with the thread counts fixed.

Uses `transformers.BertForSequenceClassification` when installed, else an equivalent
hand-written BERT in plain torch.
"""

import argparse
import time

import torch


def hand_written_bert(vocab=30522, hidden=512, layers=4, heads=8, inner=2048, positions=512, labels=2):
    """A post-LN BERT encoder with pooler and classifier, as BertForSequenceClassification."""
    nn = torch.nn

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(hidden, 3 * hidden)
            self.out = nn.Linear(hidden, hidden)
            self.ln1 = nn.LayerNorm(hidden, eps=1e-12)
            self.ffn_in = nn.Linear(hidden, inner)
            self.ffn_out = nn.Linear(inner, hidden)
            self.ln2 = nn.LayerNorm(hidden, eps=1e-12)

        def forward(self, x):
            b, n, _ = x.shape
            q, k, v = self.qkv(x).view(b, n, 3, heads, hidden // heads).permute(2, 0, 3, 1, 4)
            scores = (q @ k.transpose(-1, -2)) / (hidden // heads) ** 0.5
            ctx = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, n, hidden)
            a = self.ln1(x + self.out(ctx))
            return self.ln2(a + self.ffn_out(torch.nn.functional.gelu(self.ffn_in(a))))

    class Bert(nn.Module):
        def __init__(self):
            super().__init__()
            self.word = nn.Embedding(vocab, hidden)
            self.pos = nn.Embedding(positions, hidden)
            self.types = nn.Embedding(2, hidden)
            self.ln = nn.LayerNorm(hidden, eps=1e-12)
            self.layers = nn.ModuleList(Layer() for _ in range(layers))
            self.pooler = nn.Linear(hidden, hidden)
            self.classifier = nn.Linear(hidden, labels)

        def forward(self, input_ids):
            n = input_ids.shape[1]
            pos = torch.arange(n).unsqueeze(0)
            x = self.ln(self.word(input_ids) + self.pos(pos) + self.types(torch.zeros_like(input_ids)))
            for layer in self.layers:
                x = layer(x)
            return self.classifier(torch.tanh(self.pooler(x[:, 0])))

    return Bert(), "hand-written BERT (plain torch)"


def build():
    try:
        from transformers import BertConfig, BertForSequenceClassification

        config = BertConfig(vocab_size=30522, hidden_size=512, num_hidden_layers=4, num_attention_heads=8,
                            intermediate_size=2048, max_position_embeddings=512, num_labels=2)
        model = BertForSequenceClassification(config)
        return (lambda ids: model(input_ids=ids).logits), model, "transformers.BertForSequenceClassification (eager)"
    except ImportError:
        model, what = hand_written_bert()
        return model, model, what


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--plain", action="store_true", help="only `tokens ms` lines, for bench/encoder_vs_torch.sh")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    run, model, what = build()
    model.eval()
    params = sum(p.numel() for p in model.parameters())
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {what}, {params:,} parameters")

    def best(f):
        """Minimum of the runs after a warm-up, as the Rust benchmark reports."""
        f()
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            f()
            times.append(time.perf_counter() - t)
        return min(times)

    with torch.inference_mode():
        if args.plain:
            for tokens in [16, 32, 64, 128, 256, 512]:
                ids = torch.randint(1000, 30000, (1, tokens))
                print(f"{tokens} {best(lambda: run(ids)) * 1e3:.4f}")
            return
        for n, k, m in [(128, 512, 2048), (1024, 1024, 1024)]:
            a, b = torch.randn(n, k), torch.randn(k, m)
            s = best(lambda: a @ b)
            print(f"matmul [{n}x{k}] x [{k}x{m}]: {2 * n * k * m / s / 1e9:.1f} GFLOP/s")
        print("| tokens | best latency ms |")
        print("|---|---|")
        for tokens in [16, 32, 64, 128, 256, 512]:
            ids = torch.randint(1000, 30000, (1, tokens))
            s = best(lambda: run(ids))
            print(f"| {tokens} | {s * 1e3:.2f} |")


if __name__ == "__main__":
    main()
