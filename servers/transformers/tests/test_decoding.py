"""Decoding as the study's pipelines did it: each checkpoint's generation settings (beam
search for the BART, Pegasus and LED summarizers), the request's length on top, or greedy for
every model with `--decoding greedy`. The stand-in backend keeps every `Decoding` it receives,
so these tests see exactly what the torch backend would be asked."""

import contextlib
import io
import json
import os
import tempfile
import unittest

import helpers
from fake_backend import EOS_AFTER
from helpers import call, events, make_app
from jbtransformers import cli, configs
from jbtransformers.app import App
from jbtransformers.decoding import CheckpointDecoding
from jbtransformers.models import ModelSpec, Options, resolve
from jbtransformers.pipelines import Decoding, GenerationParams

SUMMARIZERS = (
    "cnn12=summarization:sshleifer/distilbart-cnn-12-6",
    "cnn66=summarization:sshleifer/distilbart-cnn-6-6",
    "xsum=summarization:google/pegasus-xsum",
    "led=summarization:pszemraj/led-large-book-summary",
    "t5=text2text-generation:google/flan-t5-base",
    "t5sum=summarization:google/flan-t5-base",
    "bloom=text-generation:bigscience/bloomz-560m",
)


def last(app, name) -> Decoding:
    """The last `Decoding` the stand-in network of model `name` received."""
    return app.models[name].network.decodings[-1]


def complete(app, model, max_tokens, **extra):
    status, body, _ = call(app, "POST", "/v1/completions",
                           dict({"model": model, "prompt": "it rained all day in the city",
                                 "max_tokens": max_tokens}, **extra))
    assert status == 200, body
    return body


class Checkpoint(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.app = make_app(SUMMARIZERS)  # --random-weights, built-in table, default decoding

    def test_distilbart_cnn_decodes_with_its_checkpoint_beams_clamped_to_the_request(self):
        body = complete(self.app, "cnn12", 15)
        d = last(self.app, "cnn12")
        self.assertEqual((d.num_beams, d.length_penalty, d.no_repeat_ngram_size,
                          d.early_stopping), (4, 2.0, 3, True))
        self.assertEqual((d.forced_bos_token_id, d.forced_eos_token_id), (0, 2))
        self.assertFalse(d.do_sample)
        # max_length 142 does not apply: the request's 15 does; min_length 56 (55 new tokens
        # after the decoder start token) is clamped to those 15.
        self.assertEqual((d.max_new_tokens, d.min_new_tokens), (15, 15))
        self.assertEqual(body["usage"]["completion_tokens"], 15)
        self.assertEqual(body["choices"][0]["finish_reason"], "length")

    def test_the_checkpoint_minimum_counts_the_decoder_start_token_below_the_cap(self):
        complete(self.app, "cnn12", 100)
        d = last(self.app, "cnn12")
        self.assertEqual((d.max_new_tokens, d.min_new_tokens), (100, 55))

    def test_distilbart_cnn_6_6_has_the_cnn_settings(self):
        complete(self.app, "cnn66", 15)
        d = last(self.app, "cnn66")
        self.assertEqual((d.num_beams, d.length_penalty, d.min_new_tokens), (4, 2.0, 15))

    def test_pegasus_xsum_searches_8_beams_without_a_minimum(self):
        body = complete(self.app, "xsum", 15)
        d = last(self.app, "xsum")
        self.assertEqual((d.num_beams, d.length_penalty, d.no_repeat_ngram_size,
                          d.forced_eos_token_id), (8, 0.6, 0, 1))
        self.assertEqual(d.min_new_tokens, 0)
        self.assertEqual(body["usage"]["completion_tokens"], EOS_AFTER, "free to stop")

    def test_led_bans_repeats_and_penalises_repetition(self):
        complete(self.app, "led", 15)
        d = last(self.app, "led")
        self.assertEqual((d.num_beams, d.length_penalty, d.repetition_penalty,
                          d.no_repeat_ngram_size, d.min_new_tokens), (4, 0.8, 3.5, 3, 7))

    def test_pinning_sets_the_minimum_to_the_maximum(self):
        for name in ("cnn12", "xsum", "t5", "bloom"):
            complete(self.app, name, 9, ignore_eos=True)
            d = last(self.app, name)
            self.assertEqual((d.min_new_tokens, d.max_new_tokens), (9, 9), name)
        _, body, _ = call(self.app, "POST", "/generate", {
            "inputs": "x", "model": "xsum",
            "parameters": {"max_new_tokens": 6, "min_new_tokens": 6, "details": True}})
        self.assertEqual((last(self.app, "xsum").min_new_tokens,
                          body["details"]["generated_tokens"]), (6, 6))

    def test_general_purpose_models_decode_greedily_as_their_checkpoints_do(self):
        for name in ("t5", "bloom"):
            body = complete(self.app, name, 15)
            d = last(self.app, name)
            self.assertEqual((d.num_beams, d.min_new_tokens, d.no_repeat_ngram_size),
                             (1, 0, 0), name)
            self.assertEqual(body["usage"]["completion_tokens"], EOS_AFTER, name)

    def test_flan_t5_as_a_summarization_pipeline_takes_its_task_specific_params(self):
        complete(self.app, "t5sum", 15)
        d = last(self.app, "t5sum")
        self.assertEqual((d.num_beams, d.length_penalty, d.no_repeat_ngram_size,
                          d.min_new_tokens), (4, 2.0, 3, 15))

    def test_a_sampled_request_keeps_the_checkpoint_search(self):
        complete(self.app, "cnn12", 4, temperature=0.7, seed=5)
        d = last(self.app, "cnn12")
        self.assertEqual((d.do_sample, d.temperature, d.num_beams, d.seed), (True, 0.7, 4, 5))

    def test_kserve_requests_decode_the_same_way(self):
        _, body, _ = call(self.app, "POST", "/v2/models/cnn12/infer", {
            "inputs": [{"name": "text_input", "datatype": "BYTES", "shape": [1],
                        "data": ["it rained"]}], "parameters": {"max_tokens": 5}})
        self.assertEqual(body["outputs"][2]["data"], [5])
        d = last(self.app, "cnn12")
        self.assertEqual((d.num_beams, d.min_new_tokens), (4, 5))

    def test_info_and_models_state_each_models_decoding(self):
        _, info, _ = call(self.app, "GET", "/info")
        self.assertEqual(info["decoding"], "checkpoint")
        by_name = {m["name"]: m for m in info["models"]}
        self.assertEqual(by_name["cnn12"]["decoding"], "beam search, 4 beams (checkpoint)")
        self.assertEqual(by_name["xsum"]["decoding"], "beam search, 8 beams (checkpoint)")
        self.assertEqual(by_name["t5"]["decoding"], "greedy (checkpoint)")
        self.assertEqual(by_name["bloom"]["decoding"], "greedy (checkpoint)")
        s = by_name["cnn12"]["decoding_settings"]
        self.assertEqual((s["num_beams"], s["min_length"], s["max_length"], s["source"]),
                         (4, 56, 142, "built-in table (task_specific_params.summarization)"))
        _, models, _ = call(self.app, "GET", "/v1/models")
        self.assertEqual(models["data"][0]["decoding"], "beam search, 4 beams (checkpoint)")


class Streams(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.app = make_app(["bart=summarization:sshleifer/distilbart-cnn-12-6",
                            "bloom=text-generation:bigscience/bloomz-560m"])

    def test_a_beam_search_streams_its_whole_text_in_one_chunk_at_the_end(self):
        evs = events(self.app, "/v1/completions", {
            "model": "bart", "prompt": "it rained", "max_tokens": 15, "stream": True,
            "stream_options": {"include_usage": True}})
        self.assertEqual(len(evs), 3, evs)  # one text chunk, usage, [DONE]
        text, usage, done = evs
        _, whole, _ = call(self.app, "POST", "/v1/completions",
                           {"model": "bart", "prompt": "it rained", "max_tokens": 15})
        self.assertEqual(text["choices"][0]["text"], whole["choices"][0]["text"])
        self.assertEqual(text["choices"][0]["finish_reason"], "length")
        self.assertEqual((usage["usage"]["completion_tokens"], done), (15, "[DONE]"))

    def test_a_beam_search_chat_stream_has_the_role_then_one_content_chunk(self):
        evs = events(self.app, "/v1/chat/completions", {
            "model": "bart", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4,
            "stream": True})
        self.assertEqual(evs[0]["choices"][0]["delta"], {"role": "assistant", "content": ""})
        self.assertEqual(len(evs), 3, evs)
        self.assertEqual(evs[1]["choices"][0]["finish_reason"], "length")
        self.assertEqual(len(evs[1]["choices"][0]["delta"]["content"].split()), 4)

    def test_tgi_streams_of_a_beam_search_give_every_token_after_the_search(self):
        evs = events(self.app, "/generate_stream", {
            "inputs": "hi", "model": "bart", "parameters": {"max_new_tokens": 5,
                                                            "details": True}})
        self.assertEqual([e["index"] for e in evs], [0, 1, 2, 3, 4])
        self.assertIsNone(evs[3]["generated_text"])
        self.assertEqual(evs[4]["details"]["generated_tokens"], 5)
        # the stand-in refuses a streamer with beams: the search ran without one
        self.assertEqual(self.app.models["bart"].network.decodings[-1].num_beams, 4)

    def test_greedy_models_still_stream_token_by_token(self):
        evs = events(self.app, "/v1/completions", {
            "model": "bloom", "prompt": "hi", "max_tokens": 4, "stream": True,
            "ignore_eos": True})
        self.assertEqual(len(evs), 5)


class Greedy(unittest.TestCase):
    def test_decoding_greedy_gives_every_model_one_beam_and_no_minimum(self):
        app = make_app(SUMMARIZERS, decoding="greedy")
        for name in ("cnn12", "cnn66", "xsum", "led", "t5sum"):
            body = complete(app, name, 15)
            d = last(app, name)
            self.assertEqual((d.num_beams, d.min_new_tokens, d.no_repeat_ngram_size,
                              d.repetition_penalty, d.forced_bos_token_id,
                              d.forced_eos_token_id), (1, 0, 0, 1.0, None, None), name)
            self.assertEqual(body["usage"]["completion_tokens"], EOS_AFTER, name)
        complete(app, "cnn12", 12, ignore_eos=True)
        self.assertEqual(last(app, "cnn12").min_new_tokens, 12)
        _, info, _ = call(app, "GET", "/info")
        self.assertEqual(info["decoding"], "greedy")
        self.assertEqual(info["models"][0]["decoding"], "greedy (--decoding greedy)")
        # one beam streams token by token again
        evs = events(app, "/v1/completions", {"model": "cnn12", "prompt": "x", "max_tokens": 4,
                                              "stream": True, "ignore_eos": True})
        self.assertEqual(len(evs), 5)

    def test_the_flag_is_parsed_and_checked(self):
        args = cli.parser().parse_args(["--model", "m=summarization:sshleifer/distilbart-cnn-6-6",
                                        "--decoding", "greedy"])
        self.assertEqual(cli.options_of(args, cli.parser()).decoding, "greedy")
        args = cli.parser().parse_args(["--model", "m=summarization:sshleifer/distilbart-cnn-6-6"])
        self.assertEqual(cli.options_of(args, cli.parser()).decoding, "checkpoint")
        err = io.StringIO()
        with contextlib.redirect_stderr(err), self.assertRaises(SystemExit) as e:
            cli.parser().parse_args(["--decoding", "beam"])
        self.assertEqual(e.exception.code, 2)
        self.assertIn("invalid choice", err.getvalue())


class ListBuiltin(unittest.TestCase):
    def test_the_table_says_how_each_generator_decodes_as_the_study_served_it(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertEqual(cli.main(["--list-builtin"]), 0)
        rows = {line.split()[0]: line for line in out.getvalue().splitlines()}
        self.assertTrue(rows["sshleifer/distilbart-cnn-6-6"].endswith(
            "beam search, 4 beams (checkpoint)"))
        self.assertTrue(rows["google/pegasus-xsum"].endswith("beam search, 8 beams (checkpoint)"))
        self.assertTrue(rows["google/flan-t5-xxl"].endswith("greedy (checkpoint)"))
        self.assertTrue(rows["bigscience/bloomz-7b1"].endswith("greedy (checkpoint)"))
        self.assertTrue(rows["lvwerra/distilbert-imdb"].endswith(" -"))


class StartupLog(unittest.TestCase):
    def test_the_log_states_each_generators_decoding(self):
        lines = []
        app = App([ModelSpec.parse(m) for m in (
            "clf=text-classification:lvwerra/distilbert-imdb",
            "bart=summarization:sshleifer/distilbart-cnn-6-6",
            "t5=text2text-generation:google/flan-t5-base")],
            Options(random_weights=True), helpers.Loader, logger=lines.append)
        app.load()
        decoding = [line for line in lines if ": decoding: " in line]
        self.assertEqual(len(decoding), 2, lines)  # the classifier does not generate
        self.assertTrue(decoding[0].startswith(
            "model `bart`: decoding: beam search, 4 beams (checkpoint): 4 beams, "
            "length_penalty 2, early_stopping true, no_repeat_ngram_size 3"), decoding[0])
        self.assertIn("min_length 56 (clamped to each request's max tokens)", decoding[0])
        self.assertIn("from built-in table", decoding[0])
        self.assertTrue(decoding[1].startswith("model `t5`: decoding: greedy (checkpoint)"))


class Files(unittest.TestCase):
    """A checkpoint folder's own files set the decoding (real weights, or random weights from
    a folder's config)."""

    CONFIG = {"model_type": "bart", "vocab_size": 1000, "d_model": 16, "encoder_layers": 1,
              "decoder_layers": 1, "max_position_embeddings": 64, "bos_token_id": 0,
              "num_beams": 2, "min_length": 9, "no_repeat_ngram_size": 2,
              "force_bos_token_to_be_generated": True,
              "task_specific_params": {"summarization": {"num_beams": 3, "length_penalty": 1.5},
                                       "summarization_xsum": {"num_beams": 7}}}

    def folder(self, generation=None) -> str:
        d = tempfile.mkdtemp()
        self.addCleanup(lambda: [os.remove(os.path.join(d, f)) for f in os.listdir(d)]
                        and os.rmdir(d))
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(self.CONFIG, f)
        if generation is not None:
            with open(os.path.join(d, "generation_config.json"), "w") as f:
                json.dump(generation, f)
        return d

    def test_config_json_keys_then_the_tasks_specific_params(self):
        d = self.folder()
        bp = resolve(ModelSpec.parse(f"m=summarization:{d}"), Options())
        c = bp.decoding
        self.assertEqual((c.num_beams, c.length_penalty, c.min_length, c.no_repeat_ngram_size,
                          c.forced_bos_token_id), (3, 1.5, 9, 2, 0))
        self.assertEqual(c.origin, "config.json + task_specific_params.summarization")
        t2t = resolve(ModelSpec.parse(f"m=text2text-generation:{d}"), Options()).decoding
        self.assertEqual((t2t.num_beams, t2t.origin), (2, "config.json"))

    def test_generation_config_json_wins_over_config_json(self):
        d = self.folder({"num_beams": 5, "length_penalty": 0.7, "decoder_start_token_id": 2})
        c = resolve(ModelSpec.parse(f"m=text2text-generation:{d}"),
                    Options(random_weights=True)).decoding
        self.assertEqual((c.num_beams, c.length_penalty, c.min_length, c.forced_bos_token_id),
                         (5, 0.7, 0, None))
        self.assertEqual(c.origin, "generation_config.json")

    def test_greedy_ignores_the_files(self):
        d = self.folder()
        c = resolve(ModelSpec.parse(f"m=summarization:{d}"), Options(decoding="greedy")).decoding
        self.assertEqual((c.num_beams, c.min_length, c.mode), (1, 0, "greedy"))


class Table(unittest.TestCase):
    def resolved(self, name, task):
        return resolve(ModelSpec.parse(f"m={task}:{name}"), Options(random_weights=True)).decoding

    def test_every_study_summarizer_searches_beams_and_every_general_model_is_greedy(self):
        for m in configs.BUILTIN.values():
            if m.study_task == "summarization":
                self.assertGreater(self.resolved(m.name, "summarization").num_beams, 1, m.name)
                self.assertTrue(m.generation_note, m.name)
            elif m.study_task == "general-purpose":
                task = "text-generation" if m.kind == configs.CAUSAL else "text2text-generation"
                self.assertEqual(self.resolved(m.name, task).num_beams, 1, m.name)
                self.assertTrue(m.generation_note, m.name)

    def test_the_public_settings_of_the_study_summarizers(self):
        got = {n: self.resolved(n, "summarization") for n in (
            "sshleifer/distilbart-cnn-12-6", "sshleifer/distilbart-cnn-6-6",
            "facebook/bart-large-cnn", "ainize/bart-base-cnn", "google/pegasus-large",
            "google/pegasus-multi_news", "google/pegasus-xsum",
            "pszemraj/led-large-book-summary", "sshleifer/distilbart-xsum-12-6")}
        row = {n: (c.num_beams, c.length_penalty, c.min_length, c.max_length,
                   c.no_repeat_ngram_size) for n, c in got.items()}
        self.assertEqual(row["sshleifer/distilbart-cnn-12-6"], (4, 2.0, 56, 142, 3))
        self.assertEqual(row["sshleifer/distilbart-cnn-6-6"], (4, 2.0, 56, 142, 3))
        self.assertEqual(row["facebook/bart-large-cnn"], (4, 2.0, 56, 142, 3))
        self.assertEqual(row["ainize/bart-base-cnn"], (4, 1.0, 12, 128, 3))
        self.assertEqual(row["google/pegasus-large"], (8, 0.8, 0, 256, 0))
        self.assertEqual(row["google/pegasus-multi_news"], (8, 0.8, 32, 256, 0))
        self.assertEqual(row["google/pegasus-xsum"], (8, 0.6, 0, 64, 0))
        self.assertEqual(row["pszemraj/led-large-book-summary"], (4, 0.8, 8, 1024, 3))
        self.assertEqual(row["sshleifer/distilbart-xsum-12-6"], (6, 0.5, 11, 62, 3))

    def test_a_causal_minimum_length_counts_the_prompt(self):
        c = CheckpointDecoding.of_settings({"min_length": 12}, "test")
        self.assertEqual(c.min_new_tokens(prompt_tokens=5, seq2seq=False), 7)
        self.assertEqual(c.min_new_tokens(prompt_tokens=5, seq2seq=True), 11)
        d = Decoding.of(GenerationParams(max_new_tokens=4), c, 5, seq2seq=False)
        self.assertEqual(d.min_new_tokens, 4, "clamped to the request's maximum")
        d = Decoding.of(GenerationParams(max_new_tokens=20, min_new_tokens=9), c, 5, False)
        self.assertEqual(d.min_new_tokens, 9, "the request's own minimum when larger")


if __name__ == "__main__":
    unittest.main()
