#!/usr/bin/env python3
"""Checks the reference server against Hugging Face `transformers` on the same weights.

For BERT and DistilBERT classifiers, a BERT QA model, GPT-2, BLOOM and T5: builds a small
random model in PyTorch, saves it with `save_pretrained` (config.json + model.safetensors)
and a word-level tokenizer.json, starts `joulebench serve` on the folder, and compares the
served classifier logits (KServe v2), QA span, and greedy tokens (OpenAI completions) with
the PyTorch results.

    python3 bench/reference_hf_check.py [--joulebench target/debug/joulebench]

Needs torch, transformers and tokenizers (a venv is fine); exits 1 on a mismatch.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import torch
import transformers as tf
from tokenizers import Tokenizer, models, pre_tokenizers, processors


def word_tokenizer(vocab_size, bert):
    """`w0 … wN` words; [CLS]/[SEP] framing for encoders (ids 2 and 3)."""
    vocab = {f"w{i}": i for i in range(vocab_size)}
    if bert:
        vocab.update({"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3})
        del vocab["w0"], vocab["w1"], vocab["w2"], vocab["w3"]
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]" if bert else "w0"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    if bert:
        tok.post_processor = processors.BertProcessing(("[SEP]", 3), ("[CLS]", 2))
    return tok


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port, path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", json.dumps(body).encode(),
                                 {"content-type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)


def serve(joulebench, flag, folder):
    port = free_port()
    proc = subprocess.Popen([joulebench, "serve", "--port", str(port), flag, f"m={folder}"],
                            stderr=subprocess.DEVNULL, start_new_session=True)
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health") as r:
                if r.status == 200:
                    return proc, port
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not become ready")


def stop(proc):
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=15)


def check_classifier(joulebench, name, config, model_cls):
    torch.manual_seed(0)
    model = model_cls(config).eval()
    with tempfile.TemporaryDirectory() as d:
        model.save_pretrained(d, safe_serialization=True)
        tok = word_tokenizer(config.vocab_size, bert=True)
        tok.save(os.path.join(d, "tokenizer.json"))
        text = "w10 w11 w57 w99 w4"
        ids = torch.tensor([tok.encode(text).ids])
        with torch.no_grad():
            expected = model(input_ids=ids).logits[0].tolist()
        proc, port = serve(joulebench, "--classifier", d)
        try:
            out = post(port, "/v2/models/m/infer",
                       {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": [text]}]})
        finally:
            stop(proc)
    got = next(o for o in out["outputs"] if o["name"] == "logits")["data"]
    worst = max(abs(a - b) for a, b in zip(got, expected))
    print(f"{name}: served logits {got}, transformers {expected}, max diff {worst:.2e}")
    return worst < 1e-4


def check_qa(joulebench, config):
    torch.manual_seed(0)
    model = tf.BertForQuestionAnswering(config).eval()
    with tempfile.TemporaryDirectory() as d:
        model.save_pretrained(d, safe_serialization=True)
        tok = word_tokenizer(config.vocab_size, bert=True)
        tok.save(os.path.join(d, "tokenizer.json"))
        question, context = "w5 w6", "w20 w21 w22 w23 w24 w25 w26 w27"
        enc = tok.encode(question, context)
        with torch.no_grad():
            out = model(input_ids=torch.tensor([enc.ids]), token_type_ids=torch.tensor([enc.type_ids]))
        ps, pe = out.start_logits[0].softmax(-1), out.end_logits[0].softmax(-1)
        ctx = [i for i, s in enumerate(enc.sequence_ids) if s == 1]
        best = max(((ps[s] * pe[e]).item(), s, e) for s in ctx for e in ctx if s <= e < s + 30)
        expected = context[enc.offsets[best[1]][0]:enc.offsets[best[2]][1]]
        proc, port = serve(joulebench, "--qa", d)
        try:
            got = post(port, "/predict", {"inputs": {"question": question, "context": context}})
        finally:
            stop(proc)
    print(f"bert-qa: served {got['answer']!r} ({got['score']:.4f}), transformers {expected!r} ({best[0]:.4f})")
    return got["answer"] == expected and abs(got["score"] - best[0]) < 1e-4


def check_generator(joulebench, name, model):
    model = model.eval()
    vocab = model.config.vocab_size
    with tempfile.TemporaryDirectory() as d:
        model.save_pretrained(d, safe_serialization=True)
        word_tokenizer(vocab, bert=False).save(os.path.join(d, "tokenizer.json"))
        prompt = [5, 17, 42, 7]
        ids = torch.tensor([prompt])
        expected = []
        with torch.no_grad():
            if model.config.is_encoder_decoder:
                dec = torch.tensor([[model.config.pad_token_id]])  # T5 starts decoding with pad (0)
                for _ in range(8):
                    nxt = int(model(input_ids=ids, decoder_input_ids=dec).logits[0, -1].argmax())
                    expected.append(nxt)
                    dec = torch.cat([dec, torch.tensor([[nxt]])], dim=1)
            else:
                for _ in range(8):
                    nxt = int(model(input_ids=ids).logits[0, -1].argmax())
                    expected.append(nxt)
                    ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
        proc, port = serve(joulebench, "--generator", d)
        try:
            out = post(port, "/v1/completions", {"model": "m", "prompt": " ".join(f"w{i}" for i in prompt),
                                                 "max_tokens": 8, "ignore_eos": True, "temperature": 0})
        finally:
            stop(proc)
    got = [int(w[1:]) for w in out["choices"][0]["text"].split()]
    print(f"{name}: served {got}, transformers {expected}")
    return got == expected


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--joulebench", default="target/debug/joulebench")
    args = parser.parse_args()
    bert = dict(vocab_size=120, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                intermediate_size=96, max_position_embeddings=64)
    torch.manual_seed(0)
    results = [
        check_classifier(args.joulebench, "bert", tf.BertConfig(num_labels=3, **bert),
                         tf.BertForSequenceClassification),
        check_classifier(args.joulebench, "distilbert",
                         tf.DistilBertConfig(vocab_size=120, dim=64, n_layers=2, n_heads=4, hidden_dim=96,
                                             max_position_embeddings=64, num_labels=2),
                         tf.DistilBertForSequenceClassification),
        check_qa(args.joulebench, tf.BertConfig(**bert)),
        check_generator(args.joulebench, "gpt2", tf.GPT2LMHeadModel(tf.GPT2Config(
            vocab_size=300, n_positions=64, n_embd=64, n_layer=2, n_head=4, initializer_range=0.2,
            bos_token_id=299, eos_token_id=299))),
        check_generator(args.joulebench, "t5", tf.T5ForConditionalGeneration(tf.T5Config(
            vocab_size=300, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4,
            feed_forward_proj="gated-gelu", tie_word_embeddings=False, initializer_factor=8.0))),
        check_generator(args.joulebench, "bloom", tf.BloomForCausalLM(tf.BloomConfig(
            vocab_size=300, hidden_size=64, n_layer=2, n_head=4, initializer_range=0.2))),
    ]
    print("all match" if all(results) else "MISMATCH")
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
