"""The built-in table: the study's models, each with a consistent architecture."""

import unittest

from jbtransformers import configs
from jbtransformers.models import kind_of

# project_name of the study's task-specific runs (text_classif_imdb.csv, qa_squad.csv,
# summarize_cnn_15.csv in the released logs) and its general-purpose models.
STUDY = {
    "text-classification": {
        "cardiffnlp/twitter-roberta-base-sentiment-latest",
        "cardiffnlp/twitter-xlm-roberta-base-sentiment",
        "distilbert-base-uncased-finetuned-sst-2-english",
        "finiteautomata/bertweet-base-sentiment-analysis", "lvwerra/distilbert-imdb",
        "nlptown/bert-base-multilingual-uncased-sentiment", "sbcBI/sentiment_analysis_model",
        "siebert/sentiment-roberta-large-english"},
    "question-answering": {
        "bert-large-uncased-whole-word-masking-finetuned-squad",
        "deepset/bert-large-uncased-whole-word-masking-squad2", "deepset/electra-base-squad2",
        "deepset/roberta-base-squad2", "deepset/tinyroberta-squad2",
        "distilbert-base-cased-distilled-squad", "distilbert-base-uncased-distilled-squad",
        "timpal0l/mdeberta-v3-base-squad2"},
    "summarization": {
        "ainize/bart-base-cnn", "facebook/bart-large-cnn", "google/pegasus-large",
        "google/pegasus-multi_news", "google/pegasus-xsum", "pszemraj/led-large-book-summary",
        "sshleifer/distilbart-cnn-12-6", "sshleifer/distilbart-xsum-12-6",
        # the model the study's per-run logs name for the runs its lists call
        # distilbart-xsum-12-6 (data/emissions/base/), which the suite serves
        "sshleifer/distilbart-cnn-6-6"},
    "general-purpose": {
        "google/flan-t5-base", "google/flan-t5-large", "google/flan-t5-xl", "google/flan-t5-xxl",
        "bigscience/bloomz-560m", "bigscience/bloomz-1b7", "bigscience/bloomz-3b",
        "bigscience/bloomz-7b1"},
}


class Table(unittest.TestCase):
    def test_every_study_model_is_built_in_under_its_task(self):
        for task, names in STUDY.items():
            got = {m.name for m in configs.BUILTIN.values() if m.study_task == task}
            self.assertEqual(got, names, task)
        self.assertEqual(len(configs.BUILTIN), 33)

    def test_kinds_follow_the_model_type(self):
        for m in configs.BUILTIN.values():
            self.assertEqual(kind_of(m.model_type, m.config), m.kind, m.name)
            want = {"text-classification": configs.ENCODER, "question-answering": configs.ENCODER,
                    "summarization": configs.SEQ2SEQ}.get(m.study_task)
            if want:
                self.assertEqual(m.kind, want, m.name)

    def test_classifiers_have_labels_and_others_none(self):
        for m in configs.BUILTIN.values():
            self.assertEqual(bool(m.labels), m.study_task == "text-classification", m.name)

    def test_every_entry_has_a_vocabulary_a_tokenizer_family_and_a_study_count(self):
        from jbtransformers.tokenizer import FAMILIES
        for m in configs.BUILTIN.values():
            self.assertIsInstance(m.config.get("vocab_size"), int, m.name)
            self.assertIn(m.tokenizer, FAMILIES, m.name)
            self.assertGreater(m.study_parameters or 0, 1_000_000, m.name)

    def test_position_limits_are_the_public_ones(self):
        limit = {n: configs.position_limit(m.model_type, m.config)
                 for n, m in configs.BUILTIN.items()}
        self.assertEqual(limit["distilbert-base-uncased-finetuned-sst-2-english"], 512)
        self.assertEqual(limit["deepset/roberta-base-squad2"], 512)
        self.assertEqual(limit["finiteautomata/bertweet-base-sentiment-analysis"], 128)
        self.assertEqual(limit["google/pegasus-xsum"], 512)
        self.assertEqual(limit["facebook/bart-large-cnn"], 1024)
        self.assertEqual(limit["pszemraj/led-large-book-summary"], 16384)
        self.assertIsNone(limit["google/flan-t5-xxl"])
        self.assertIsNone(limit["bigscience/bloomz-7b1"])

    def test_hub_ids_the_models_moved_to_resolve(self):
        self.assertIs(configs.builtin("distilbert/distilbert-base-uncased-finetuned-sst-2-english"),
                      configs.BUILTIN["distilbert-base-uncased-finetuned-sst-2-english"])
        self.assertIsNone(configs.builtin("someone/unknown-model"))


if __name__ == "__main__":
    unittest.main()
