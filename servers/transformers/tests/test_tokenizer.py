"""The stand-in tokenizer: pieces, counts, special tokens per architecture, truncation,
question-answering windows, decoding."""

import json
import os
import unittest

from jbtransformers.tokenizer import (FAMILIES, MAX_QUESTION_TOKENS, StandInTokenizer,
                                      pieces, pseudo_word)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")

# Ordinary English prose (the README's opening, rewritten without markup).
PROSE = (
    "It measures the energy of one inference of a machine learning model behind a model "
    "server, the way a study of deployment costs did: a thousand sequential, unbatched "
    "inferences per model and dataset, repeated ten times, comparing task-specific models "
    "with general-purpose ones, but on your own hardware, every night if you like, with "
    "figures ready for a paper. Probes read the energy of the graphics card and of the "
    "processor, with counter wraps, permissions and resolution handled. Where nothing can "
    "be read, a stated power model keeps the pipeline running, and every figure it "
    "produces is labelled as an estimate."
)


def tok(family: str, vocab: int = 30522) -> StandInTokenizer:
    return StandInTokenizer(FAMILIES[family], vocab)


class Pieces(unittest.TestCase):
    def test_short_words_are_whole_and_long_words_split_after_seven_letters(self):
        got = [(p, cont) for p, _, _, cont in pieces("the overwhelmingly good film")]
        self.assertEqual(got, [("the", False), ("overwhe", False), ("lmin", True),
                               ("gly", True), ("good", False), ("film", False)])

    def test_digits_in_threes_and_punctuation_alone(self):
        self.assertEqual([p for p, *_ in pieces("12345, don't!")],
                         ["123", "45", ",", "don", "'", "t", "!"])

    def test_offsets_point_into_the_text(self):
        text = "Where is the Eiffel Tower?"
        for p, s, e, _ in pieces(text):
            self.assertEqual(text[s:e], p)


class Counts(unittest.TestCase):
    def test_english_gives_about_one_and_a_third_tokens_per_word(self):
        t = tok("wordpiece-uncased")
        words = len(PROSE.split())
        ratio = (t.count(PROSE) - 2) / words
        self.assertGreater(ratio, 1.15, ratio)
        self.assertLess(ratio, 1.45, ratio)

    def test_bundled_sentences_tokenize_at_a_realistic_rate(self):
        path = os.path.join(ROOT, "suites", "data", "sentiment-sample.jsonl")
        with open(path, encoding="utf-8") as f:
            rows = [json.loads(line)["sentence"] for line in f if line.strip()]
        t = tok("t5", 32128)
        words = sum(len(r.split()) for r in rows)
        tokens = sum(t.count(r) - 1 for r in rows)  # minus </s>
        self.assertTrue(1.1 < tokens / words < 1.5, tokens / words)

    def test_same_text_same_ids_and_uncased_ignores_case(self):
        a, b = tok("wordpiece-uncased"), tok("wordpiece-uncased")
        self.assertEqual(a.encode("Great Film").ids, b.encode("great film").ids)
        cased = tok("wordpiece-cased", 28996)
        self.assertNotEqual(cased.encode("Great").ids, cased.encode("great").ids)


class SpecialTokens(unittest.TestCase):
    def test_each_architecture_frames_inputs_as_its_tokenizer(self):
        text = "a fine film"
        cases = {
            ("wordpiece-uncased", 30522): ((101,), (102,)),
            ("roberta", 50265): ((0,), (2,)),
            ("deberta", 251000): ((1,), (2,)),
            ("pegasus", 96103): ((), (1,)),
            ("t5", 32128): ((), (1,)),
            ("bloom", 250880): ((), ()),
        }
        for (family, vocab), (prefix, suffix) in cases.items():
            ids = tok(family, vocab).encode(text).ids
            self.assertEqual(len(ids), 3 + len(prefix) + len(suffix), family)
            self.assertEqual(tuple(ids[: len(prefix)]), prefix, family)
            self.assertEqual(tuple(ids[len(ids) - len(suffix):]), suffix, family)

    def test_ordinary_ids_stay_in_the_vocabulary_and_off_special_ids(self):
        for name, family in FAMILIES.items():
            vocab = {"t5": 32128, "bloom": 250880, "pegasus": 96103}.get(name, 30522)
            t = StandInTokenizer(family, vocab)
            body = t.encode(PROSE).ids[len(family.prefix): -len(family.suffix) or None]
            self.assertTrue(all(family.first <= i < vocab for i in body), name)
            self.assertFalse(set(body) & set(family.specials), name)


class Truncation(unittest.TestCase):
    def test_cut_to_the_limit_keeping_the_special_tokens(self):
        t = tok("wordpiece-uncased")
        long_text = "word " * 600
        self.assertEqual(t.count(long_text), 602)
        ids = t.encode(long_text, max_length=512).ids
        self.assertEqual(len(ids), 512)
        self.assertEqual((ids[0], ids[-1]), (101, 102))


class QuestionAnswering(unittest.TestCase):
    def test_short_context_is_one_window_with_typed_segments(self):
        t = tok("wordpiece-uncased")
        [f] = t.qa_features("where is it?", "It is in Paris.", 384, 128)
        self.assertEqual(f.ids[0], 101)
        self.assertEqual(f.ids.count(102), 2)
        first_context = min(f.spans)
        self.assertEqual(f.type_ids[first_context - 1], 0)
        self.assertEqual(f.type_ids[first_context], 1)
        self.assertEqual([f.spans[i] for i in sorted(f.spans)][0], (0, 2))

    def test_long_context_windows_overlap_by_the_stride_and_cover_it(self):
        t = tok("roberta", 50265)
        context = " ".join(f"w{i}" for i in range(1000))
        feats = t.qa_features("which word?", context, 384, 128)
        self.assertGreater(len(feats), 1)
        for f in feats:
            self.assertLessEqual(len(f.ids), 384)
        covered = sorted({s for f in feats for s in f.spans.values()})
        self.assertEqual(covered[0][0], 0)
        self.assertEqual(covered[-1][1], len(context))
        a, b = sorted(feats[0].spans.values()), sorted(feats[1].spans.values())
        self.assertEqual(len(set(a) & set(b)), 128)

    def test_questions_are_capped_as_the_pipeline_caps_them(self):
        t = tok("wordpiece-uncased")
        [f] = t.qa_features("why " * 200, "short.", 384, 128)
        self.assertEqual(min(f.spans), 1 + MAX_QUESTION_TOKENS + 1)


class Decoding(unittest.TestCase):
    def test_ordinary_ids_decode_to_words_and_special_ids_to_nothing(self):
        t = tok("t5", 32128)
        self.assertEqual(t.decode([0, 1, 2]), "")
        text = t.decode([500, 501])
        self.assertEqual(text, f" {pseudo_word(500)} {pseudo_word(501)}")
        self.assertNotEqual(pseudo_word(500), pseudo_word(501))


if __name__ == "__main__":
    unittest.main()
