"""Models in PyTorch with Hugging Face `transformers`: weights from a checkpoint or from a
seed, and the `Network` interface of `pipelines` over them. torch and transformers are
imported here only, when the first model loads.
"""

from __future__ import annotations

import os
from typing import Callable, List, Optional, Sequence

from .models import Blueprint, LoadError, Options
from .pipelines import Decoding
from .tokenizer import HfTokenizer

_AUTO_CLASS = {
    "text-classification": "AutoModelForSequenceClassification",
    "question-answering": "AutoModelForQuestionAnswering",
    "summarization": "AutoModelForSeq2SeqLM",
    "text2text-generation": "AutoModelForSeq2SeqLM",
    "text-generation": "AutoModelForCausalLM",
}


class TorchNetwork:
    """A `transformers` model behind the `Network` interface (batch size 1, no padding)."""

    def __init__(self, model, task: str, device, labels: List[str]):
        import inspect

        self.model = model
        self.task = task
        self.device = device
        self.labels = labels
        self.architecture = type(model).__name__
        self.parameters = int(sum(p.numel() for p in model.parameters()))
        self.vocab_size = int(getattr(model.config, "vocab_size", 0) or 0)
        self.is_encoder_decoder = bool(getattr(model.config, "is_encoder_decoder", False))
        accepted = inspect.signature(model.forward).parameters
        types = getattr(model.config, "type_vocab_size", 0) or 0
        self._typed = "token_type_ids" in accepted and types > 0

    def _inputs(self, ids: Sequence[int], type_ids: Sequence[int]) -> dict:
        import torch

        t = torch.tensor([list(ids)], dtype=torch.long, device=self.device)
        out = {"input_ids": t, "attention_mask": torch.ones_like(t)}
        if self._typed:
            out["token_type_ids"] = torch.tensor([list(type_ids)], dtype=torch.long,
                                                 device=self.device)
        return out

    def classify(self, ids, type_ids) -> List[float]:
        """Logits of the sequence-classification head."""
        import torch

        with torch.inference_mode():
            return self.model(**self._inputs(ids, type_ids)).logits[0].float().tolist()

    def qa(self, ids, type_ids):
        """Start and end logits of the span head."""
        import torch

        with torch.inference_mode():
            out = self.model(**self._inputs(ids, type_ids))
            return out.start_logits[0].float().tolist(), out.end_logits[0].float().tolist()

    def embed(self, ids, type_ids) -> List[float]:
        """Mean over tokens of the encoder's last hidden states."""
        import torch

        with torch.inference_mode():
            hidden = self.model.base_model(**self._inputs(ids, type_ids)).last_hidden_state
            return hidden[0].float().mean(dim=0).tolist()

    def generate(self, ids, decoding: Decoding,
                 on_token: Optional[Callable[[int], bool]]) -> List[int]:
        """`model.generate` with a fresh configuration holding exactly what `decoding` says
        (resolved by the server from the checkpoint's files or the built-in table, or greedy
        with `--decoding greedy`): lengths, beams, length penalty, n-gram bans, repetition
        penalty, forced tokens; nothing else is taken from the model's own defaults."""
        import torch
        from transformers import GenerationConfig, StoppingCriteria, StoppingCriteriaList

        cfg = self.model.config
        g = dict(max_new_tokens=decoding.max_new_tokens, min_new_tokens=decoding.min_new_tokens,
                 num_beams=decoding.num_beams, do_sample=decoding.do_sample,
                 eos_token_id=cfg.eos_token_id, pad_token_id=_pad_id(cfg),
                 bos_token_id=getattr(cfg, "bos_token_id", None))
        if decoding.num_beams > 1:
            g.update(length_penalty=decoding.length_penalty,
                     early_stopping=decoding.early_stopping)
            on_token = None  # the server never streams beams; the streamer refuses them
        for key in ("no_repeat_ngram_size", "encoder_no_repeat_ngram_size"):
            if getattr(decoding, key):
                g[key] = getattr(decoding, key)
        if decoding.repetition_penalty != 1.0:
            g["repetition_penalty"] = decoding.repetition_penalty
        if decoding.forced_bos_token_id is not None:
            g["forced_bos_token_id"] = decoding.forced_bos_token_id
        if decoding.forced_eos_token_id is not None:
            g["forced_eos_token_id"] = decoding.forced_eos_token_id
        if self.is_encoder_decoder:
            g["decoder_start_token_id"] = cfg.decoder_start_token_id
        if decoding.do_sample:
            g.update(temperature=decoding.temperature, top_p=decoding.top_p, top_k=0)
            torch.manual_seed(decoding.seed)
        kwargs = self._inputs(ids, [0] * len(ids))
        kwargs.pop("token_type_ids", None)
        if on_token is not None:
            state = _Stream(on_token)
            kwargs["streamer"] = state

            class _Stop(StoppingCriteria):
                def __call__(self, input_ids, scores, **_):
                    return torch.full((input_ids.shape[0],), state.stopped, dtype=torch.bool,
                                      device=input_ids.device)

            kwargs["stopping_criteria"] = StoppingCriteriaList([_Stop()])
        with torch.inference_mode():
            out = self.model.generate(generation_config=GenerationConfig(**g), **kwargs)
        seq = out[0].tolist()
        new = seq[1:] if self.is_encoder_decoder else seq[len(ids):]
        if on_token is not None and state.stopped:
            return new[: state.count]
        return new


class _Stream:
    """A `transformers` streamer that hands each new token id to a callback."""

    def __init__(self, on_token: Callable[[int], bool]):
        self.on_token = on_token
        self.first = True
        self.stopped = False
        self.count = 0

    def put(self, value) -> None:
        if self.first:  # the prompt (causal) or the decoder start token (seq2seq)
            self.first = False
            return
        for token in value.reshape(-1).tolist():
            if self.stopped:
                return
            self.count += 1
            if not self.on_token(int(token)):
                self.stopped = True

    def end(self) -> None:
        pass


def _pad_id(cfg):
    pad = getattr(cfg, "pad_token_id", None)
    if pad is None:
        eos = cfg.eos_token_id
        pad = eos[0] if isinstance(eos, list) else eos
    return pad


class TorchLoader:
    """Builds served models with `transformers` on the chosen device and dtype."""

    def __init__(self, options: Options):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        try:
            import torch
            import transformers  # noqa: F401
        except ImportError as e:
            raise LoadError(f"serving models needs torch and transformers: {e}") from e
        self.options = options
        self.torch = torch
        if options.device == "auto":
            options.device = "cuda" if torch.cuda.is_available() else "cpu"
        if options.threads is not None:
            torch.set_num_threads(options.threads)
        names = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
        self.dtype = names[options.dtype]
        self.device = torch.device(options.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise LoadError(f"--device {options.device}: torch sees no CUDA GPU")

    def about(self) -> dict:
        """torch and transformers versions, threads, and the GPU's name when on one."""
        import transformers

        torch = self.torch
        out = {"torch": torch.__version__, "transformers": transformers.__version__,
               "torch_threads": torch.get_num_threads()}
        if self.device.type == "cuda":
            out["gpu"] = torch.cuda.get_device_name(self.device)
        return out

    def _config(self, bp: Blueprint):
        from transformers import AutoConfig

        if bp.folder is not None and (os.path.isdir(bp.spec.source) or bp.entry is None):
            config = AutoConfig.from_pretrained(bp.folder)
        else:
            config = AutoConfig.for_model(bp.model_type, **bp.config)
        if bp.spec.task == "text-classification":
            config.num_labels = len(bp.labels)
            config.id2label = dict(enumerate(bp.labels))
            config.label2id = {label: i for i, label in enumerate(bp.labels)}
        return config

    def load(self, bp: Blueprint):
        """The served model: random weights from the seed, or the checkpoint's."""
        import transformers

        torch = self.torch
        auto = getattr(transformers, _AUTO_CLASS[bp.spec.task])
        if self.options.random_weights:
            torch.manual_seed(self.options.seed)
            with torch.device(self.device):
                model = auto.from_config(self._config(bp))
            weights = f"random (seed {self.options.seed})"
        else:
            source = bp.folder if os.path.isdir(bp.spec.source) else bp.spec.source
            try:
                model = auto.from_pretrained(source, local_files_only=True, dtype=self.dtype)
            except TypeError:
                model = auto.from_pretrained(source, local_files_only=True,
                                             torch_dtype=self.dtype)
            weights = "pretrained"
        model = model.to(device=self.device, dtype=self.dtype).eval()
        tokenizer = self._tokenizer(bp)
        labels = bp.labels
        if bp.spec.task == "text-classification" and not self.options.random_weights:
            labels = [str(model.config.id2label[i]) for i in range(model.config.num_labels)]
        network = TorchNetwork(model, bp.spec.task, self.device, labels)
        if not self.options.random_weights and bp.decoding.mode == "checkpoint":
            own = getattr(getattr(model, "generation_config", None), "num_beams", None)
            if isinstance(own, int) and own != bp.decoding.num_beams:
                bp.notes.append(f"transformers {transformers.__version__} loaded "
                                f"generation_config.num_beams = {own}; the server uses "
                                f"{bp.decoding.num_beams}, read from {bp.decoding.origin} "
                                "as the study's transformers 4 pipeline applied it")
        return bp.served(tokenizer, network, weights)

    def _tokenizer(self, bp: Blueprint):
        from transformers import AutoTokenizer

        source = bp.spec.source if os.path.isdir(bp.spec.source) else (bp.folder or bp.spec.source)
        try:
            tok = AutoTokenizer.from_pretrained(source, local_files_only=True)
        except Exception as e:  # no tokenizer files: the stand-in keeps the arithmetic realistic
            reason = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
            bp.notes.append(f"no tokenizer of its own ({reason}); using the stand-in")
            return bp.stand_in_tokenizer()
        if not getattr(tok, "is_fast", False) and bp.spec.task == "question-answering":
            bp.notes.append("its tokenizer is not a fast one (QA windows need offsets); "
                            "using the stand-in")
            return bp.stand_in_tokenizer()
        return HfTokenizer(tok, bp.spec.source)
