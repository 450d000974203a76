"""Task logic shared by every backend: the question-answering span choice, softmax and
sigmoid, generation parameters and finish reasons."""

import unittest

import helpers
from jbtransformers.pipelines import (BadParameter, Decoding, GenerationParams, best_span,
                                      softmax)


class Spans(unittest.TestCase):
    def test_the_best_product_of_start_and_end_probabilities_wins(self):
        spans = {i: (10 * i, 10 * i + 5) for i in range(1, 6)}
        start = [0.0, 1.0, 5.0, 1.0, 1.0, 1.0]
        end = [0.0, 1.0, 1.0, 1.0, 6.0, 1.0]
        score, s, e = best_span(start, end, spans, 15)
        self.assertEqual((s, e), (20, 45))
        ps, pe = softmax([-10000.0] + start[1:]), softmax([-10000.0] + end[1:])
        self.assertAlmostEqual(score, ps[2] * pe[4])

    def test_tokens_outside_the_context_never_answer(self):
        spans = {3: (0, 4), 4: (5, 9)}
        start = [50.0, 50.0, 50.0, 0.0, 1.0]
        end = [50.0, 50.0, 50.0, 0.0, 1.0]
        _, s, e = best_span(start, end, spans, 15)
        self.assertEqual((s, e), (5, 9))

    def test_end_before_start_and_long_answers_are_excluded(self):
        spans = {i: (i, i + 1) for i in range(40)}
        start = [0.0] * 40
        end = [0.0] * 40
        start[20], end[5] = 9.0, 9.0  # the best end is before the best start
        end[39] = 8.0  # 20 tokens after the start: too long for 15
        end[30] = 7.0
        _, s, e = best_span(start, end, spans, 15)
        self.assertEqual((s, e), (20, 31))

    def test_a_window_without_context_has_no_answer(self):
        self.assertIsNone(best_span([1.0, 2.0], [1.0, 2.0], {}, 15))


class Parameters(unittest.TestCase):
    def test_pinning_sets_the_minimum_to_the_maximum(self):
        d = Decoding.of(GenerationParams(max_new_tokens=15, ignore_eos=True))
        self.assertEqual((d.min_new_tokens, d.max_new_tokens, d.do_sample), (15, 15, False))
        d = Decoding.of(GenerationParams(max_new_tokens=15, min_new_tokens=4))
        self.assertEqual(d.min_new_tokens, 4)

    def test_temperature_above_zero_samples(self):
        d = Decoding.of(GenerationParams(max_new_tokens=2, temperature=0.7, top_p=0.9, seed=3))
        self.assertEqual((d.do_sample, d.temperature, d.top_p, d.seed), (True, 0.7, 0.9, 3))

    def test_out_of_range_values_are_refused(self):
        for p in (GenerationParams(0), GenerationParams(2, min_new_tokens=3),
                  GenerationParams(2, temperature=-1), GenerationParams(2, top_p=0.0)):
            with self.assertRaises(BadParameter):
                p.validate()


class Scores(unittest.TestCase):
    def test_single_label_heads_use_a_sigmoid(self):
        app = helpers.make_app(["m=text-classification:lvwerra/distilbert-imdb"])
        model = app.models["m"]
        model.network.labels = ["toxic"]
        c = model.classify("fine")
        self.assertEqual(len(c.probabilities), 1)
        self.assertTrue(0.0 < c.probabilities[0] < 1.0)
        self.assertNotAlmostEqual(c.probabilities[0], 1.0)


if __name__ == "__main__":
    unittest.main()
