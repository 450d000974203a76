"""The wire formats, through the real router, pipelines and stand-in tokenizer, over the
stand-in backend: OpenAI, TGI, TEI, KServe v2, health and info, and request validation."""

import unittest

import helpers
from fake_backend import EOS_AFTER
from helpers import call, events, make_app


class Shared(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.app = make_app()
        cls.t5 = cls.app.models["t5"]
        cls.bloom = cls.app.models["bloom"]


class OpenAi(Shared):
    def test_pinned_completion_has_exactly_max_tokens_and_usage(self):
        prompt = "what is the binary sentiment of the following sentence? a fine film"
        status, body, _ = call(self.app, "POST", "/v1/completions", {
            "model": "t5", "prompt": prompt, "max_tokens": 6, "temperature": 0.0,
            "ignore_eos": True, "min_tokens": 6, "stream": False})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["object"], "text_completion")
        self.assertEqual(body["model"], "t5")
        self.assertEqual(body["choices"][0]["finish_reason"], "length")
        prompt_tokens = self.t5.tokenizer.count(prompt)
        self.assertEqual(body["usage"], {"prompt_tokens": prompt_tokens, "completion_tokens": 6,
                                         "total_tokens": prompt_tokens + 6})
        self.assertEqual(len(body["choices"][0]["text"].split()), 6)

    def test_unpinned_completion_stops_at_end_of_sequence(self):
        status, body, _ = call(self.app, "POST", "/v1/completions",
                               {"model": "bloom", "prompt": "hello there", "max_tokens": 10})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["choices"][0]["finish_reason"], "stop")
        self.assertEqual(body["usage"]["completion_tokens"], EOS_AFTER)
        self.assertEqual(body["usage"]["prompt_tokens"], 2, "BLOOM adds no special tokens")

    def test_min_tokens_alone_delays_end_of_sequence(self):
        _, body, _ = call(self.app, "POST", "/v1/completions",
                          {"model": "bloom", "prompt": "hi", "max_tokens": 10, "min_tokens": 5})
        self.assertEqual(body["usage"]["completion_tokens"], 6)

    def test_token_id_prompts_and_one_string_lists(self):
        _, a, _ = call(self.app, "POST", "/v1/completions",
                       {"model": "bloom", "prompt": [500, 501, 502], "max_tokens": 2,
                        "ignore_eos": True})
        self.assertEqual(a["usage"]["prompt_tokens"], 3)
        _, b, _ = call(self.app, "POST", "/v1/completions",
                       {"model": "bloom", "prompt": ["hi"], "max_tokens": 2, "ignore_eos": True})
        self.assertEqual(b["usage"]["prompt_tokens"], 1)

    def test_streamed_completion_sends_a_chunk_per_token_then_usage_and_done(self):
        evs = events(self.app, "/v1/completions", {
            "model": "bloom", "prompt": "hi", "max_tokens": 4, "stream": True,
            "stream_options": {"include_usage": True}, "ignore_eos": True, "min_tokens": 4})
        self.assertEqual(evs[-1], "[DONE]")
        chunks, usage = evs[:4], evs[4]
        self.assertEqual([c["choices"][0]["finish_reason"] for c in chunks],
                         [None, None, None, "length"])
        self.assertTrue(all(c["choices"][0]["text"].strip() for c in chunks))
        self.assertEqual(usage["choices"], [])
        self.assertEqual(usage["usage"]["completion_tokens"], 4)
        self.assertEqual(len(evs), 6)

    def test_stream_without_usage_option_ends_with_done(self):
        evs = events(self.app, "/v1/completions",
                     {"model": "bloom", "prompt": "hi", "max_tokens": 10, "stream": True})
        self.assertEqual(len(evs), EOS_AFTER + 1)
        self.assertEqual(evs[EOS_AFTER - 1]["choices"][0]["finish_reason"], "stop")

    def test_chat_renders_messages_and_answers_a_message(self):
        status, body, _ = call(self.app, "POST", "/v1/chat/completions", {
            "model": "t5", "messages": [{"role": "user", "content": "a fine film"}],
            "max_tokens": 3, "ignore_eos": True})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["object"], "chat.completion")
        self.assertEqual(body["choices"][0]["message"]["role"], "assistant")
        self.assertEqual(body["usage"]["completion_tokens"], 3)
        rendered = "user: a fine film\nassistant:"
        self.assertEqual(body["usage"]["prompt_tokens"], self.t5.tokenizer.count(rendered))

    def test_streamed_chat_starts_with_the_role(self):
        evs = events(self.app, "/v1/chat/completions", {
            "model": "t5", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2,
            "stream": True, "ignore_eos": True})
        self.assertEqual(evs[0]["choices"][0]["delta"], {"role": "assistant", "content": ""})
        self.assertEqual(len(evs), 4)
        self.assertEqual(evs[2]["choices"][0]["finish_reason"], "length")

    def test_models_lists_every_model_with_its_tokenizer(self):
        status, body, _ = call(self.app, "GET", "/v1/models")
        self.assertEqual(status, 200)
        ids = [m["id"] for m in body["data"]]
        self.assertEqual(ids, ["clf", "stars", "qa", "t5", "bart", "bloom"])
        clf = body["data"][0]
        self.assertEqual(clf["labels"], ["NEGATIVE", "POSITIVE"])
        self.assertEqual(clf["tokenizer"], "stand-in (token counts approximate the real tokenizer)")
        self.assertTrue(clf["stand_in_tokenizer"])
        self.assertEqual(clf["max_model_len"], 512)


class Tgi(Shared):
    def test_generate_with_details_and_headers(self):
        # Flan-T5 as text2text-generation decodes greedily with no minimum length, so the
        # stand-in's end of sequence comes after EOS_AFTER tokens.
        status, body, headers = call(self.app, "POST", "/generate", {
            "inputs": "summarize the following text: it rained", "model": "t5",
            "parameters": {"max_new_tokens": 15, "details": True, "do_sample": False}})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["details"]["finish_reason"], "eos_token")
        self.assertEqual(body["details"]["generated_tokens"], EOS_AFTER)
        self.assertEqual(len(body["details"]["tokens"]), EOS_AFTER)
        self.assertEqual([t["special"] for t in body["details"]["tokens"]],
                         [False] * (EOS_AFTER - 1) + [True])
        self.assertEqual(headers["x-generated-tokens"], str(EOS_AFTER))
        t5 = self.app.models["t5"]
        self.assertEqual(headers["x-prompt-tokens"],
                         str(t5.tokenizer.count("summarize the following text: it rained")))

    def test_extensions_pin_the_length_and_full_text_is_prefixed(self):
        _, body, _ = call(self.app, "POST", "/generate", {
            "inputs": "hi", "parameters": {"max_new_tokens": 5, "ignore_eos": True,
                                           "return_full_text": True, "details": True}})
        self.assertEqual(body["details"]["generated_tokens"], 5)
        self.assertTrue(body["generated_text"].startswith("hi "))

    def test_server_wide_ignore_eos_pins_every_protocol(self):
        app = make_app(["bart=summarization:sshleifer/distilbart-cnn-12-6"], ignore_eos=True)
        _, body, _ = call(app, "POST", "/generate", {
            "inputs": "it rained", "parameters": {"max_new_tokens": 15, "details": True}})
        self.assertEqual((body["details"]["generated_tokens"], body["details"]["finish_reason"]),
                         (15, "length"))
        _, body, _ = call(app, "POST", "/v2/models/bart/infer", {
            "inputs": [{"name": "text_input", "datatype": "BYTES", "data": ["x"]}],
            "parameters": {"max_tokens": 7}})
        self.assertEqual(body["outputs"][2]["data"], [7])
        _, info, _ = call(app, "GET", "/info")
        self.assertTrue(info["ignore_eos"])

    def test_first_generator_serves_requests_without_a_model(self):
        _, body, _ = call(self.app, "POST", "/generate",
                          {"inputs": "hi", "parameters": {"max_new_tokens": 1}})
        self.assertNotIn("details", body)
        self.assertEqual(len(body["generated_text"].split()), 1)

    def test_generate_stream_puts_text_and_details_on_the_last_token(self):
        evs = events(self.app, "/generate_stream", {
            "inputs": "hi", "parameters": {"max_new_tokens": 3, "details": True,
                                           "ignore_eos": True}})
        self.assertEqual([e["index"] for e in evs], [0, 1, 2])
        self.assertIsNone(evs[0]["generated_text"])
        self.assertEqual(evs[2]["details"]["generated_tokens"], 3)
        self.assertEqual(evs[2]["generated_text"],
                         "".join(e["token"]["text"] for e in evs))


class Tei(Shared):
    def test_predict_returns_every_label_sorted_with_probabilities(self):
        status, body, headers = call(self.app, "POST", "/predict", {"inputs": "a fine film"})
        self.assertEqual(status, 200, body)
        self.assertEqual(sorted(p["label"] for p in body), ["NEGATIVE", "POSITIVE"])
        self.assertGreaterEqual(body[0]["score"], body[1]["score"])
        self.assertAlmostEqual(sum(p["score"] for p in body), 1.0, places=6)
        self.assertEqual(headers["x-compute-tokens"], "5")
        self.assertIn("x-compute-time", headers)

    def test_named_model_raw_scores_and_batches(self):
        _, body, _ = call(self.app, "POST", "/predict",
                          {"inputs": ["good", "bad"], "model": "stars", "raw_scores": True})
        self.assertEqual(len(body), 2)
        self.assertEqual(len(body[0]), 5)
        self.assertIn("5 stars", [p["label"] for p in body[0]])
        self.assertGreater(sum(abs(p["score"]) for p in body[0]), 1.0, "logits, not softmax")

    def test_question_answering_returns_a_span_of_the_context(self):
        context = "The Eiffel Tower is in Paris. It was finished in 1889."
        status, body, _ = call(self.app, "POST", "/predict", {
            "inputs": {"question": "Where is the tower?", "context": context}})
        self.assertEqual(status, 200, body)
        self.assertEqual(context[body["start"]:body["end"]], body["answer"])
        self.assertTrue(body["answer"])
        self.assertTrue(0.0 < body["score"] <= 1.0)

    def test_long_inputs_are_truncated_unless_the_request_refuses(self):
        long_text = "word " * 700
        status, _, headers = call(self.app, "POST", "/predict", {"inputs": long_text})
        self.assertEqual((status, headers["x-compute-tokens"]), (200, "512"))
        status, body, _ = call(self.app, "POST", "/predict",
                               {"inputs": long_text, "truncate": False})
        self.assertEqual(status, 413)
        self.assertEqual(body["error_type"], "context_length_exceeded")

    def test_long_contexts_take_several_windows(self):
        context = " ".join(f"fact{i} is true." for i in range(400))
        _, _, headers = call(self.app, "POST", "/predict",
                             {"inputs": {"question": "which fact?", "context": context}})
        self.assertGreater(int(headers["x-compute-tokens"]), 384)

    def test_embed_is_normalised(self):
        status, body, _ = call(self.app, "POST", "/embed", {"inputs": ["one", "two"]})
        self.assertEqual(status, 200, body)
        self.assertEqual(len(body), 2)
        self.assertAlmostEqual(sum(v * v for v in body[0]), 1.0, places=6)


class KServe(Shared):
    def infer(self, name, inputs, **extra):
        return call(self.app, "POST", f"/v2/models/{name}/infer", dict(inputs=inputs, **extra))

    def test_classifier_outputs_label_score_logits(self):
        status, body, _ = self.infer("clf", [{"name": "text", "shape": [2], "datatype": "BYTES",
                                              "data": ["good", "bad"]}], id="r1")
        self.assertEqual(status, 200, body)
        self.assertEqual((body["model_name"], body["id"]), ("clf", "r1"))
        names = [o["name"] for o in body["outputs"]]
        self.assertEqual(names, ["label", "score", "logits"])
        self.assertEqual(body["outputs"][2]["shape"], [2, 2])

    def test_question_answering_and_generation(self):
        _, qa, _ = self.infer("qa", [
            {"name": "question", "shape": [1], "datatype": "BYTES", "data": ["who?"]},
            {"name": "context", "shape": [1], "datatype": "BYTES", "data": ["Ada wrote it."]}])
        self.assertIn(qa["outputs"][0]["data"][0], "Ada wrote it.")
        _, gen, _ = self.infer("bloom", [{"name": "text_input", "shape": [1],
                                          "datatype": "BYTES", "data": ["hi"]}],
                               parameters={"max_tokens": 4, "ignore_eos": True})
        out = {o["name"]: o["data"] for o in gen["outputs"]}
        self.assertEqual((out["prompt_tokens"], out["completion_tokens"]), ([1], [4]))

    def test_versioned_path_model_names_with_slashes_and_metadata(self):
        app = make_app(["text-classification:distilbert-base-uncased-finetuned-sst-2-english"])
        name = "distilbert-base-uncased-finetuned-sst-2-english"
        status, body, _ = call(app, "POST", f"/v2/models/{name}/versions/1/infer", {
            "inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["ok"]}]})
        self.assertEqual(status, 200, body)
        app = make_app(["org/clf=text-classification:lvwerra/distilbert-imdb"])
        status, meta, _ = call(app, "GET", "/v2/models/org/clf")
        self.assertEqual((status, meta["name"]), (200, "org/clf"))
        self.assertEqual(meta["inputs"][0]["name"], "text")
        self.assertEqual(call(app, "GET", "/v2/models/org/clf/ready")[0], 200)

    def test_bad_tensors_are_400(self):
        status, body, _ = self.infer("clf", [{"name": "text", "datatype": "FP32", "data": [1]}])
        self.assertEqual(status, 400)
        self.assertIn("must be BYTES", body["error"])
        status, body, _ = self.infer("qa", [{"name": "question", "data": ["q"]}])
        self.assertEqual((status, body["error"]), (400, "missing BYTES input `context`"))


class Errors(Shared):
    def test_unknown_model_is_404_naming_the_served_models(self):
        for path, body, check in (
                ("/v1/completions", {"model": "nope", "prompt": "x"},
                 lambda b: b["error"]["message"]),
                ("/generate", {"inputs": "x", "model": "nope"}, lambda b: b["error"]),
                ("/predict", {"inputs": "x", "model": "nope"}, lambda b: b["error"]),
                ("/v2/models/nope/infer", {"inputs": []}, lambda b: b["error"])):
            status, b, _ = call(self.app, "POST", path, body)
            self.assertEqual(status, 404, path)
            self.assertIn("`clf`, `stars`, `qa`, `t5`, `bart`, `bloom`", check(b), path)
        _, b, _ = call(self.app, "POST", "/v1/completions", {"model": "nope", "prompt": "x"})
        self.assertEqual(b["error"]["code"], "model_not_found")

    def test_bad_bodies_are_400_or_422_with_the_reason(self):
        cases = (
            ("/v1/completions", b"{not json", 400, "invalid JSON body"),
            ("/generate", b"[1, 2]", 422, "expected an object"),
            ("/predict", b"{\"inputs\": 3}", 422, "inputs must be a string"),
            ("/v2/models/clf/infer", b"{\"inputs\": 1}", 400, "must be a list of tensors"),
        )
        for path, raw, status, reason in cases:
            got, body, _ = call(self.app, "POST", path, raw)
            self.assertEqual(got, status, path)
            self.assertIn(reason, str(body), path)

    def test_parameters_out_of_range(self):
        cases = (
            ({"model": "t5", "prompt": "x", "n": 2}, "only n = 1"),
            ({"model": "t5", "prompt": "x", "max_tokens": 0}, "at least 1"),
            ({"model": "t5", "prompt": "x", "max_tokens": -3}, "at least 0"),
            ({"model": "t5", "prompt": "x", "max_tokens": 2, "min_tokens": 3}, "must not exceed"),
            ({"model": "t5", "prompt": "x", "max_tokens": "ten"}, "must be an integer"),
            ({"model": "t5", "prompt": "x", "top_p": 0}, "top_p must be in"),
            ({"model": "t5", "prompt": [["a"], ["b"]]}, "no batches"),
            ({"model": "t5", "prompt": [999999999]}, "out of the vocabulary"),
            ({"model": "clf", "prompt": "x"}, "does text-classification, not text generation"),
        )
        for body, reason in cases:
            status, b, _ = call(self.app, "POST", "/v1/completions", body)
            self.assertEqual(status, 400, body)
            self.assertIn(reason, b["error"]["message"], body)
        status, b, _ = call(self.app, "POST", "/generate",
                            {"inputs": "x", "parameters": {"max_new_tokens": 0}})
        self.assertEqual(status, 422)
        self.assertIn("Input validation error", b["error"])

    def test_causal_prompt_over_the_limit_is_context_length_exceeded(self):
        app = make_app(["bloom=text-generation:bigscience/bloomz-560m"], max_input_tokens=8)
        status, body, _ = call(app, "POST", "/v1/completions",
                               {"model": "bloom", "prompt": "one two three four", "max_tokens": 5})
        self.assertEqual(status, 400)
        self.assertEqual(body["error"]["code"], "context_length_exceeded")
        status, body, _ = call(app, "POST", "/generate",
                               {"inputs": "one two three four",
                                "parameters": {"max_new_tokens": 5}})
        self.assertEqual(status, 422)

    def test_seq2seq_input_over_the_limit_is_cut_as_the_pipeline_tokenizer_does(self):
        app = make_app(["bart=summarization:sshleifer/distilbart-cnn-12-6"])
        status, body, _ = call(app, "POST", "/v1/completions",
                               {"prompt": "word " * 1500, "max_tokens": 2, "ignore_eos": True})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["usage"]["prompt_tokens"], 1024)

    def test_unknown_route_and_method(self):
        status, body, _ = call(self.app, "GET", "/nope")
        self.assertEqual((status, body["error"]), (404, "no route GET /nope"))
        status, _, _ = call(self.app, "GET", "/v1/completions")
        self.assertEqual(status, 405)


class Loading(unittest.TestCase):
    def test_every_route_is_503_until_models_are_loaded(self):
        app = make_app(load=False)
        self.assertEqual(call(app, "GET", "/health")[:2], (503, {"status": "loading"}))
        for path, body in (("/v1/completions", {"prompt": "x"}), ("/generate", {"inputs": "x"}),
                           ("/predict", {"inputs": "x"}), ("/v2/models/clf/infer",
                                                           {"inputs": []})):
            self.assertEqual(call(app, "POST", path, body)[0], 503, path)
        status, info, _ = call(app, "GET", "/info")
        self.assertEqual((status, info["ready"]), (200, False))
        app.load()
        self.assertEqual(call(app, "GET", "/health")[:2], (200, {"status": "ready"}))
        self.assertEqual(call(app, "GET", "/v2/health/ready")[0], 200)

    def test_info_says_the_tokenizer_is_a_stand_in_and_counts_requests(self):
        app = make_app()
        call(app, "POST", "/predict", {"inputs": "x"})
        call(app, "POST", "/predict", {"inputs": "y"})
        _, info, _ = call(app, "GET", "/info")
        self.assertEqual(info["tokenizer"], "stand-in (token counts approximate the real "
                                            "tokenizer)")
        self.assertEqual(info["requests"], {"/predict": 2})
        self.assertEqual((info["batch_size"], info["dtype"], info["random_weights"]),
                         (1, "float32", True))
        self.assertEqual(info["models"][3]["study_parameters"], 222903552)


_ = helpers
if __name__ == "__main__":
    unittest.main()
