"""The command line and model specs: parsing, where architectures come from, and errors."""

import contextlib
import io
import json
import os
import tempfile
import unittest

import helpers
from jbtransformers import cli
from jbtransformers.models import LoadError, ModelSpec, Options, resolve


class Specs(unittest.TestCase):
    def test_name_task_source(self):
        s = ModelSpec.parse(
            "sst2=text-classification:distilbert-base-uncased-finetuned-sst-2-english")
        self.assertEqual((s.name, s.task, s.source), (
            "sst2", "text-classification", "distilbert-base-uncased-finetuned-sst-2-english"))

    def test_name_defaults_to_the_source(self):
        s = ModelSpec.parse("text-generation:bigscience/bloomz-560m")
        self.assertEqual(s.name, "bigscience/bloomz-560m")

    def test_bad_specs_say_what_is_expected(self):
        with self.assertRaisesRegex(ValueError, "NAME=TASK:SOURCE"):
            ModelSpec.parse("just-a-model")
        with self.assertRaisesRegex(ValueError, "unknown task `fill-mask`.*text-generation"):
            ModelSpec.parse("m=fill-mask:bert-base-uncased")


class Resolve(unittest.TestCase):
    def test_builtin_needs_random_weights_when_not_cached(self):
        old = os.environ.get("HF_HOME")
        with tempfile.TemporaryDirectory() as d:
            os.environ["HF_HOME"] = d
            try:
                spec = ModelSpec.parse("t5=text2text-generation:google/flan-t5-base")
                with self.assertRaisesRegex(LoadError, "--random-weights"):
                    resolve(spec, Options())
                bp = resolve(spec, Options(random_weights=True))
                self.assertEqual((bp.model_type, bp.kind, bp.max_input_tokens), ("t5", "seq2seq",
                                                                                 None))
            finally:
                if old is None:
                    del os.environ["HF_HOME"]
                else:
                    os.environ["HF_HOME"] = old

    def test_unknown_source_lists_the_builtin_models(self):
        spec = ModelSpec.parse("m=text-generation:someone/not-a-model")
        with self.assertRaisesRegex(LoadError, "not built in; built-in models: .*bloomz-560m"):
            resolve(spec, Options(random_weights=True))

    def test_task_must_fit_the_architecture(self):
        spec = ModelSpec.parse("m=text-generation:google/flan-t5-base")
        with self.assertRaisesRegex(LoadError, "needs a causal model.*is a seq2seq model"):
            resolve(spec, Options(random_weights=True))
        spec = ModelSpec.parse("m=summarization:deepset/roberta-base-squad2")
        with self.assertRaisesRegex(LoadError, "needs a seq2seq model.*is an encoder model"):
            resolve(spec, Options(random_weights=True))

    def test_a_folder_config_sets_architecture_labels_and_limit(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "config.json"), "w") as f:
                json.dump({"model_type": "bert", "vocab_size": 1000, "hidden_size": 64,
                           "max_position_embeddings": 128,
                           "id2label": {"1": "good", "0": "bad", "2": "meh"}}, f)
            bp = resolve(ModelSpec.parse(f"m=text-classification:{d}"), Options())
            self.assertEqual(bp.labels, ["bad", "good", "meh"])
            self.assertEqual((bp.max_input_tokens, bp.vocab_size, bp.folder), (128, 1000, d))

    def test_max_input_tokens_overrides_the_positions(self):
        spec = ModelSpec.parse("m=question-answering:deepset/roberta-base-squad2")
        bp = resolve(spec, Options(random_weights=True, max_input_tokens=64))
        self.assertEqual(bp.max_input_tokens, 64)


class CommandLine(unittest.TestCase):
    def run_main(self, argv):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(argv, loader_factory=helpers.Loader)
            except SystemExit as e:
                code = e.code
        return code, out.getvalue(), err.getvalue()

    def test_list_builtin_prints_the_table_without_torch(self):
        code, out, _ = self.run_main(["--list-builtin"])
        self.assertEqual(code, 0)
        self.assertIn("google/flan-t5-xxl", out)
        self.assertIn("11,003,736,064", out)

    def test_usage_errors_exit_2_with_a_reason(self):
        for argv, reason in ([[], "at least one --model"],
                             [["--model", "x"], "NAME=TASK:SOURCE"],
                             [["--model", "a=text-generation:bigscience/bloomz-560m",
                               "--model", "a=text-generation:bigscience/bloomz-1b7"],
                              "names used twice: a"],
                             [["--model", "text-generation:bigscience/bloomz-560m",
                               "--device", "gpu"], "expected cpu, cuda or cuda:N"],
                             [["--model", "text-generation:bigscience/bloomz-560m",
                               "--dtype", "int8"], "invalid choice"]):
            code, _, err = self.run_main(argv)
            self.assertEqual(code, 2, argv)
            self.assertIn(reason, err, argv)

    def test_a_model_that_cannot_load_exits_1_saying_why(self):
        code, _, err = self.run_main(["--port", "0", "--model",
                                      "m=text-generation:someone/not-a-model",
                                      "--random-weights"])
        self.assertEqual(code, 1)
        self.assertIn("error: m: `someone/not-a-model` is not a folder", err)


if __name__ == "__main__":
    unittest.main()
