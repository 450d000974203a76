#!/usr/bin/env python3
"""Cross-check of the Rust quality scorers (report::quality::{squad, rouge}) against their
reference implementations: the official SQuAD v1.1 evaluation logic (evaluate-v1.1.py,
reproduced below verbatim) and Google's rouge-score package (RougeScorer(["rouge1", "rouge2",
"rougeL"], use_stemmer=False), score_multi, F-measure).

Generates deterministic prediction/references pairs (seeded `random`) that exercise the hard
cases -- mixed case, ASCII punctuation, articles inside and at the edges of words, odd white
space (tabs, newlines, NBSP, U+001C..U+001F, U+3000), digits, non-ASCII letters, combining
marks, Greek final sigma, curly quotes and dashes, empty predictions, repeated tokens, 1-3
references, realistic QA answers and summary sentences -- feeds them to the
`score_pairs` example as JSON Lines, and compares every value with a 1e-6 tolerance.

    python3 bench/quality_check.py PATH/TO/score_pairs [N_RANDOM_PAIRS]

Needs python3 with rouge-score installed; `bench/quality_check.sh` sets that up and builds
the example. Never required by the tests. Exits 1 listing the first mismatches if any.
"""

import json
import random
import re
import string
import subprocess
import sys
from collections import Counter

from rouge_score import rouge_scorer

TOLERANCE = 1e-6
SEED = 20240611
METRICS = ("squad_em", "squad_f1", "rouge1", "rouge2", "rougeL")


# --- Official SQuAD v1.1 evaluation logic, verbatim from evaluate-v1.1.py (also Hugging
# --- Face evaluate's metrics/squad/compute_score.py).


def normalize_answer(s):
    """Lower text and remove punctuation, articles and extra whitespace."""

    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def f1_score(prediction, ground_truth):
    prediction_tokens = normalize_answer(prediction).split()
    ground_truth_tokens = normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1


def exact_match_score(prediction, ground_truth):
    return normalize_answer(prediction) == normalize_answer(ground_truth)


def metric_max_over_ground_truths(metric_fn, prediction, ground_truths):
    scores_for_ground_truths = []
    for ground_truth in ground_truths:
        score = metric_fn(prediction, ground_truth)
        scores_for_ground_truths.append(score)
    return max(scores_for_ground_truths)


# --- Pairs.

FIXED = [
    ("The Eiffel Tower", ["Eiffel Tower"]),
    ("an apple", ["A", "apple"]),
    ("A", ["a"]),
    ("theater", ["the ater", "Theater!"]),
    ("Another anthem, then the end.", ["an other an them then end"]),
    ("", ["anything at all"]),
    ("", [""]),
    ("", ["the", "a an"]),
    ("   ", ["..."]),
    ("the the the", ["the cat"]),
    ("paris paris paris france", ["Paris", "paris paris"]),
    ("cat", ["cat"]),
    ("cat", ["dog"]),
    ("a x c e b", ["a b c d e"]),
    ("bird cat dog fish", ["cat dog bird", "dog fish"]),
    ("Straße", ["strasse", "STRASSE", "straße"]),
    ("Über café", ["über Café", "uber cafe"]),
    ("naïve résumé", ["naive resume"]),
    ("\u212aelvin", ["kelvin", "KELVIN"]),
    ("İstanbul", ["i̇stanbul", "istanbul"]),
    ("ΟΔΟΣ ΣΟΦΟΣ", ["οδος σοφος", "οδοσ σοφοσ", "ὁδός"]),
    ("ΑΣ.Β Σ 'Σ' ΣΑ", ["ας.β σ 'σ' σα"]),
    ("the\u0301 a\u0308 an\u0323", ["\u0301 \u0308 \u0323"]),
    ("thé à an̈", ["the a an"]),
    ("“The answer” — is 42…", ['"the answer" -- is 42...', "answer 42"]),
    ("‘Don’t’ stop", ["don't stop", "dont stop"]),
    ("U.S.A.", ["USA", "u s a"]),
    ("e-mail the_end a_b", ["email theend ab", "e mail the end"]),
    ("tab\tseparated\nlines\r\nhere", ["tab separated lines here"]),
    ("nbsp\u00a0em\u2003ideo\u3000space", ["nbsp em ideo space"]),
    ("sep\x1cfile\x1dgroup\x1erecord\x1funit", ["sep file group record unit"]),
    ("zero\u200bwidth", ["zero width", "zerowidth"]),
    ("next\u0085line\u2028ls\u2029ps", ["next line ls ps"]),
    ("3.14 1,000 1984", ["314 1000 1984", "3 14 1 000 1984"]),
    ("½ ² ³ a² the²", ["½ ² ³ a² the²", "1 2 3"]),
    ("Ⓐ ⓐ Ⓣⓗⓔ", ["ⓐ ⓐ ⓣⓗⓔ"]),
    ("ﬁne ﬂow", ["fine flow", "ﬁne ﬂow"]),
    ("日本語 the 東京", ["日本語 東京", "日本語the東京"]),
    ("a‿the a\u200dthe", ["a‿the", "the"]),
    ("ǅ ǈ Ǌ", ["ǆ ǉ ǌ"]),
    ("Madam, in Eden, I'm Adam", ["madam in eden im adam", "Madam in Eden I am Adam"]),
]

WORDS = [
    "the", "The", "THE", "a", "A", "an", "An", "AN", "theater", "another", "anthem",
    "Athens", "than", "then", "and", "banana", "ant", "at", "tea", "thee", "cat", "dog",
    "river", "Paris", "France", "Napoleon", "Bonaparte", "1984", "42", "3.14", "1,000",
    "2nd", "e-mail", "don't", "it's", "U.S.", "café", "Straße", "Über", "ÜBER", "naïve",
    "résumé", "São", "Paulo", "Ångström", "ΣΟΦΟΣ", "Ελλάδα", "İzmir", "\u212aelvin",
    "ﬁle", "thé", "the\u0301", "a\u0308", "東京", "Москва", "Ölçek", "œuvre", "Æther",
    "data", "energy", "model", "joule", "watt", "GPU", "x86_64", "C++", "#1", "@home",
]
PUNCT = list(string.punctuation) + ["“", "”", "‘", "’", "—", "–", "…", "«", "»", "·", "¿", "¡"]
SPACES = [" ", " ", " ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u2003", "\u3000", "\x1c", "\x1f",
          "\u0085", "\u200b", "\u2028"]

ANSWERS = [
    "Denver Broncos", "the Denver Broncos", "Santa Clara, California", "Levi's Stadium",
    "February 7, 2016", "gold", "the 50th Super Bowl", "Carolina Panthers", "24–10",
    "Beyoncé", "an American singer", "Houston, Texas", "in the late 1990s", "Destiny's Child",
    "a Roman Catholic", "the Virgin Mary", "Saint Bernadette Soubirous", "1858",
    "The Observer", "three", "Father Edward Sorin", "an apple a day", "A Tale of Two Cities",
    "Notre Dame", "the University of Notre Dame du Lac", "E = mc²", "≈ 3.0 × 10⁸ m/s",
]
SENTENCES = [
    "The committee approved the new energy budget on Tuesday after a long debate.",
    "Researchers measured the power draw of a GPU server running an inference benchmark.",
    "A storm hit the coast, and thousands of homes lost electricity for two days.",
    "The company's revenue rose 12% to $4.5 billion, beating analysts' expectations.",
    "An old theater in the city centre will reopen as a library next spring.",
    "Scientists in Zürich found that the café's espresso machine used more energy than expected.",
    "The model summarises each article in one sentence — shorter is not always better.",
    "Der Bürgermeister eröffnete die Straße für den Verkehr.",
    "Paris is the capital of France; it has a population of about 2.1 million.",
    "The quick brown fox jumps over the lazy dog.",
    "Water boils at 100 °C at sea level, but at a lower temperature on a mountain.",
    "The team won the final 3–1 and lifted the trophy for the first time since 1998.",
]


def noisy_text(rng, n_min=0, n_max=8):
    """Random words joined by random white space, with random punctuation and case."""
    parts = []
    for _ in range(rng.randint(n_min, n_max)):
        w = rng.choice(WORDS)
        r = rng.random()
        if r < 0.15:
            w = w.upper()
        elif r < 0.25:
            w = w.lower()
        elif r < 0.3:
            w = w.capitalize()
        if rng.random() < 0.25:
            w = w + rng.choice(PUNCT)
        if rng.random() < 0.1:
            w = rng.choice(PUNCT) + w
        if rng.random() < 0.05:
            w = w + w  # e.g. "thethe"
        parts.append(w)
        parts.append(rng.choice(SPACES))
    if parts and rng.random() < 0.5:
        parts.pop()
    if rng.random() < 0.2:
        parts.insert(0, rng.choice(SPACES))
    return "".join(parts)


def perturb(rng, text):
    """A prediction close to `text`: words dropped, swapped, repeated, re-cased, punctuated."""
    words = text.split()
    out = []
    for w in words:
        r = rng.random()
        if r < 0.12:
            continue
        if r < 0.2:
            out.append(w)
            out.append(w)
            continue
        if r < 0.28:
            out.append(rng.choice(WORDS))
            continue
        if r < 0.33:
            w = w.upper()
        elif r < 0.38:
            w = w.lower()
        out.append(w)
    if len(out) > 1 and rng.random() < 0.3:
        i = rng.randrange(len(out) - 1)
        out[i], out[i + 1] = out[i + 1], out[i]
    if rng.random() < 0.3:
        out.insert(rng.randint(0, len(out)), rng.choice(["the", "a", "an", "The", "A"]))
    sep = rng.choice([" ", " ", "  ", "\t", "\n"])
    s = sep.join(out)
    if rng.random() < 0.3:
        s = s + rng.choice(PUNCT)
    return s


def make_pairs(n_random):
    rng = random.Random(SEED)
    pairs = [(p, list(refs)) for p, refs in FIXED]
    for i in range(n_random):
        kind = i % 5
        n_refs = rng.randint(1, 3)
        if kind == 0:  # noise against noise
            refs = [noisy_text(rng, 0, 8) for _ in range(n_refs)]
            pred = noisy_text(rng, 0, 8)
        elif kind == 1:  # QA answers, prediction a perturbed reference
            refs = rng.sample(ANSWERS, n_refs)
            pred = perturb(rng, rng.choice(refs)) if rng.random() < 0.8 else rng.choice(ANSWERS)
        elif kind == 2:  # summary-like sentences
            refs = [perturb(rng, rng.choice(SENTENCES)) for _ in range(n_refs)]
            pred = perturb(rng, rng.choice(SENTENCES + refs))
        elif kind == 3:  # empty or degenerate predictions, repeated tokens
            refs = [rng.choice([noisy_text(rng, 0, 4), rng.choice(ANSWERS), ""]) for _ in range(n_refs)]
            pred = rng.choice([
                "", " ", "\n\t", "the", "a an the", "!!!", "—", rng.choice(WORDS),
                " ".join([rng.choice(WORDS)] * rng.randint(2, 6)),
                " ".join(rng.choice(["cat", "dog", "the"]) for _ in range(rng.randint(1, 8))),
            ])
        else:  # mixed: a sentence with noise appended
            refs = [rng.choice(SENTENCES) + rng.choice(SPACES) + noisy_text(rng, 0, 3) for _ in range(n_refs)]
            pred = noisy_text(rng, 0, 3) + rng.choice(SPACES) + perturb(rng, rng.choice(refs))
        pairs.append((pred, refs))
    return pairs


def reference_scores(scorer, pred, refs):
    rouge = scorer.score_multi(refs, pred)
    return {
        "squad_em": float(metric_max_over_ground_truths(exact_match_score, pred, refs)),
        "squad_f1": float(metric_max_over_ground_truths(f1_score, pred, refs)),
        "rouge1": rouge["rouge1"].fmeasure,
        "rouge2": rouge["rouge2"].fmeasure,
        "rougeL": rouge["rougeL"].fmeasure,
    }


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: quality_check.py PATH/TO/score_pairs [N_RANDOM_PAIRS]")
    binary = sys.argv[1]
    n_random = int(sys.argv[2]) if len(sys.argv) == 3 else 460
    pairs = make_pairs(n_random)
    # Alternate raw UTF-8 and \u-escaped JSON so both decoding paths are exercised.
    lines = [
        json.dumps({"prediction": p, "references": r}, ensure_ascii=(i % 2 == 0))
        for i, (p, r) in enumerate(pairs)
    ]
    proc = subprocess.run(
        [binary], input="\n".join(lines) + "\n", capture_output=True, text=True, encoding="utf-8"
    )
    if proc.returncode != 0:
        sys.exit(f"{binary} failed ({proc.returncode}): {proc.stderr.strip()}")
    got = [json.loads(line) for line in proc.stdout.splitlines()]
    if len(got) != len(pairs):
        sys.exit(f"{binary} wrote {len(got)} lines for {len(pairs)} pairs")

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)
    max_diff = dict.fromkeys(METRICS, 0.0)
    mismatches = []
    for i, ((pred, refs), rust) in enumerate(zip(pairs, got)):
        want = reference_scores(scorer, pred, refs)
        for m in METRICS:
            d = abs(float(rust[m]) - want[m])
            max_diff[m] = max(max_diff[m], d)
            if not d <= TOLERANCE:
                mismatches.append((i, m, rust[m], want[m], pred, refs))

    import rouge_score  # noqa: E402 -- only for its version

    version = getattr(rouge_score, "__version__", None)
    if version is None:
        from importlib.metadata import version as dist_version

        version = dist_version("rouge-score")
    print(f"pairs: {len(pairs)} ({len(FIXED)} fixed, {n_random} random, seed {SEED}); rouge-score {version}")
    for m in METRICS:
        print(f"  max |rust - reference| {m:9} {max_diff[m]:.3g}")
    if mismatches:
        print(f"{len(mismatches)} values differ by more than {TOLERANCE}; first ones:")
        for i, m, r, w, pred, refs in mismatches[:15]:
            print(f"  pair {i} {m}: rust {r!r} reference {w!r}\n    prediction {pred!r}\n    references {refs!r}")
        sys.exit(1)
    print(f"all {len(pairs) * len(METRICS)} values agree within {TOLERANCE}")


if __name__ == "__main__":
    main()
