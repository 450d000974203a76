"""Built-in architectures of the study's models, so `--random-weights` needs no download.

Each entry holds the values of the model's public `config.json` that set its arithmetic
(widths, depths, heads, vocabulary, positions), the labels of classifiers, the stand-in
tokenizer family, the parameter count the study lists in `model_parameters.csv`
(`study_parameters`; the study counted the bare `AutoModel`, without task heads), and the
checkpoint's generation settings: `generation` (its `generation_config.json`, or the
generation keys of its `config.json`) and `task_generation` (its `config.json`
`task_specific_params`, which a pipeline of that task applied on top). `generation_note` says
how each was checked. `tests/check_configs.py` (needs torch) compares each entry with the
study's count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

ENCODER = "encoder"
SEQ2SEQ = "seq2seq"
CAUSAL = "causal"


@dataclass(frozen=True)
class BuiltinModel:
    """One study model: architecture, labels, tokenizer family and the study's count."""

    name: str
    model_type: str
    kind: str
    config: Dict[str, object]
    tokenizer: str
    study_parameters: Optional[int]
    study_task: str
    labels: Tuple[str, ...] = ()
    note: str = ""
    extra: Dict[str, object] = field(default_factory=dict)
    #: The checkpoint's generation config (only the keys that change decoding).
    generation: Dict[str, object] = field(default_factory=dict)
    #: `task_specific_params` of its config.json, by pipeline task.
    task_generation: Dict[str, Dict[str, object]] = field(default_factory=dict)
    #: Where `generation` and `task_generation` were read, and what is not certain.
    generation_note: str = ""


# --- shared dimensions -------------------------------------------------------------------

_BERT_BASE = dict(
    vocab_size=30522,
    hidden_size=768,
    num_hidden_layers=12,
    num_attention_heads=12,
    intermediate_size=3072,
    max_position_embeddings=512,
    type_vocab_size=2,
    pad_token_id=0,
)
_BERT_LARGE = dict(_BERT_BASE, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                   intermediate_size=4096)
_DISTILBERT = dict(
    vocab_size=30522,
    dim=768,
    n_layers=6,
    n_heads=12,
    hidden_dim=3072,
    max_position_embeddings=512,
    pad_token_id=0,
)
_ROBERTA_BASE = dict(
    vocab_size=50265,
    hidden_size=768,
    num_hidden_layers=12,
    num_attention_heads=12,
    intermediate_size=3072,
    max_position_embeddings=514,
    type_vocab_size=1,
    layer_norm_eps=1e-5,
    pad_token_id=1,
    bos_token_id=0,
    eos_token_id=2,
)
_ROBERTA_LARGE = dict(_ROBERTA_BASE, hidden_size=1024, num_hidden_layers=24,
                      num_attention_heads=16, intermediate_size=4096)
_BART = dict(
    vocab_size=50265,
    d_model=768,
    encoder_layers=6,
    decoder_layers=6,
    encoder_attention_heads=12,
    decoder_attention_heads=12,
    encoder_ffn_dim=3072,
    decoder_ffn_dim=3072,
    max_position_embeddings=1024,
    pad_token_id=1,
    bos_token_id=0,
    eos_token_id=2,
    decoder_start_token_id=2,
)
_BART_LARGE = dict(_BART, vocab_size=50264, d_model=1024, encoder_layers=12, decoder_layers=12,
                   encoder_attention_heads=16, decoder_attention_heads=16,
                   encoder_ffn_dim=4096, decoder_ffn_dim=4096)
_PEGASUS = dict(
    vocab_size=96103,
    d_model=1024,
    encoder_layers=16,
    decoder_layers=16,
    encoder_attention_heads=16,
    decoder_attention_heads=16,
    encoder_ffn_dim=4096,
    decoder_ffn_dim=4096,
    max_position_embeddings=1024,
    scale_embedding=True,
    activation_function="relu",
    pad_token_id=0,
    eos_token_id=1,
    decoder_start_token_id=0,
)
_FLAN_T5 = dict(
    vocab_size=32128,
    d_kv=64,
    feed_forward_proj="gated-gelu",
    tie_word_embeddings=False,
    relative_attention_num_buckets=32,
    relative_attention_max_distance=128,
    layer_norm_epsilon=1e-6,
    pad_token_id=0,
    eos_token_id=1,
    decoder_start_token_id=0,
)
_BLOOM = dict(
    vocab_size=250880,
    layer_norm_epsilon=1e-5,
    bos_token_id=1,
    eos_token_id=2,
    pad_token_id=3,
)

# --- generation settings (see each entry's generation_note) ------------------------------

# BART fine-tuned on CNN/DailyMail: config.json and its task_specific_params.summarization.
_BART_CNN_GEN = dict(num_beams=4, length_penalty=2.0, max_length=142, min_length=56,
                     no_repeat_ngram_size=3, early_stopping=True, forced_bos_token_id=0,
                     forced_eos_token_id=2)
_BART_CNN_TASK = {"summarization": dict(num_beams=4, length_penalty=2.0, max_length=142,
                                        min_length=56, no_repeat_ngram_size=3,
                                        early_stopping=True)}
# facebook/bart-base: beams and an n-gram ban at the top, lengths under summarization.
_BART_BASE_GEN = dict(num_beams=4, no_repeat_ngram_size=3, early_stopping=True,
                      forced_bos_token_id=0, forced_eos_token_id=2)
_BART_BASE_TASK = {"summarization": dict(num_beams=4, length_penalty=1.0, max_length=128,
                                         min_length=12)}
# T5's config template, kept by every Flan-T5 config.json: only a *summarization* pipeline
# applies it; the study ran Flan-T5 as text2text-generation, which decodes greedily.
_T5_TASK = {"summarization": dict(num_beams=4, length_penalty=2.0, max_length=200,
                                  min_length=30, no_repeat_ngram_size=3, early_stopping=True)}
_FLAN_T5_NOTE = ("generation_config.json (google/flan-t5-base): decoder_start_token_id, "
                 "eos_token_id, pad_token_id only, no num_beams: greedy; config.json "
                 "task_specific_params.summarization (seen in configs derived from "
                 "flan-t5-xl) applies only when served as summarization")
_BLOOMZ_NOTE = ("no generation keys (BLOOM's config.json holds none and the bloom-560m "
                "repository has no generation_config.json): greedy; the bloomz files "
                "themselves not seen")

_SENTIMENT_3 = ("negative", "neutral", "positive")
_SST2 = ("NEGATIVE", "POSITIVE")


def _entries() -> Tuple[BuiltinModel, ...]:
    tc, qa, su, gp = ("text-classification", "question-answering", "summarization",
                      "general-purpose")
    e = BuiltinModel
    return (
        # text classification: the 8 models of text_classif_{imdb,sst2,tomatoes}.csv
        e("cardiffnlp/twitter-roberta-base-sentiment-latest", "roberta", ENCODER,
          _ROBERTA_BASE, "roberta", 124645632, tc, _SENTIMENT_3),
        e("cardiffnlp/twitter-xlm-roberta-base-sentiment", "xlm-roberta", ENCODER,
          dict(_ROBERTA_BASE, vocab_size=250002), "roberta", 278043648, tc, _SENTIMENT_3),
        e("distilbert-base-uncased-finetuned-sst-2-english", "distilbert", ENCODER,
          _DISTILBERT, "wordpiece-uncased", 66362880, tc, _SST2),
        e("finiteautomata/bertweet-base-sentiment-analysis", "roberta", ENCODER,
          dict(_ROBERTA_BASE, vocab_size=64001, max_position_embeddings=130), "roberta",
          134899968, tc, ("NEG", "NEU", "POS"), "BERTweet: RoBERTa layout, 128-token inputs"),
        e("lvwerra/distilbert-imdb", "distilbert", ENCODER, _DISTILBERT, "wordpiece-uncased",
          66362880, tc, _SST2),
        e("nlptown/bert-base-multilingual-uncased-sentiment", "bert", ENCODER,
          dict(_BERT_BASE, vocab_size=105879), "wordpiece-uncased", 167356416, tc,
          ("1 star", "2 stars", "3 stars", "4 stars", "5 stars")),
        e("sbcBI/sentiment_analysis_model", "distilbert", ENCODER, _DISTILBERT,
          "wordpiece-uncased", 66362880, tc, ("LABEL_0", "LABEL_1", "LABEL_2"),
          "labels as generic LABEL_i; the label count is not certain"),
        e("siebert/sentiment-roberta-large-english", "roberta", ENCODER, _ROBERTA_LARGE,
          "roberta", 355359744, tc, _SST2),
        # extractive QA: the 8 models of qa_{squad,squadv2,sciq}.csv
        e("bert-large-uncased-whole-word-masking-finetuned-squad", "bert", ENCODER, _BERT_LARGE,
          "wordpiece-uncased", 335141888, qa),
        e("deepset/bert-large-uncased-whole-word-masking-squad2", "bert", ENCODER, _BERT_LARGE,
          "wordpiece-uncased", 335141888, qa),
        e("deepset/electra-base-squad2", "electra", ENCODER,
          dict(_BERT_BASE, embedding_size=768), "wordpiece-uncased", 108891648, qa),
        e("deepset/roberta-base-squad2", "roberta", ENCODER, _ROBERTA_BASE, "roberta",
          124645632, qa),
        e("deepset/tinyroberta-squad2", "roberta", ENCODER,
          dict(_ROBERTA_BASE, num_hidden_layers=6), "roberta", 82118400, qa),
        e("distilbert-base-cased-distilled-squad", "distilbert", ENCODER,
          dict(_DISTILBERT, vocab_size=28996), "wordpiece-cased", 65190912, qa),
        e("distilbert-base-uncased-distilled-squad", "distilbert", ENCODER, _DISTILBERT,
          "wordpiece-uncased", 66362880, qa),
        e("timpal0l/mdeberta-v3-base-squad2", "deberta-v2", ENCODER,
          dict(vocab_size=251000, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
               intermediate_size=3072, max_position_embeddings=512, type_vocab_size=0,
               relative_attention=True, max_relative_positions=-1, position_buckets=256,
               norm_rel_ebd="layer_norm", share_att_key=True, pos_att_type=["p2c", "c2p"],
               position_biased_input=False, layer_norm_eps=1e-7, pad_token_id=0),
          "deberta", 278218752, qa),
        # summarization: the 8 models of summarize_{cnn,samsum,xsum}_15.csv, and the model its
        # logs show in the slot its lists call distilbart-xsum-12-6
        e("ainize/bart-base-cnn", "bart", SEQ2SEQ, _BART, "roberta", 139420416, su,
          generation=_BART_BASE_GEN, task_generation=_BART_BASE_TASK,
          generation_note="facebook/bart-base's config.json (4 beams, n-gram ban; "
          "task_specific_params.summarization: min_length 12, length_penalty 1.0), which "
          "ainize's fine-tune is taken to keep: ainize's own file not seen"),
        e("facebook/bart-large-cnn", "bart", SEQ2SEQ, _BART_LARGE, "roberta", 406290432, su,
          generation=_BART_CNN_GEN, task_generation=_BART_CNN_TASK,
          generation_note="generation_config.json of its fine-tunes (_from_model_config) and "
          "its config.json task_specific_params.summarization"),
        e("google/pegasus-large", "pegasus", SEQ2SEQ, _PEGASUS, "pegasus", 570797056, su,
          generation=dict(num_beams=8, length_penalty=0.8, max_length=256,
                          forced_eos_token_id=1),
          generation_note="its generation_config_for_summarization_large.json; its "
          "task_specific_params are summarization_<dataset>, none for the summarization "
          "pipeline"),
        e("google/pegasus-multi_news", "pegasus", SEQ2SEQ, _PEGASUS, "pegasus", 570797056, su,
          generation=dict(num_beams=8, length_penalty=0.8, max_length=256, min_length=32,
                          forced_eos_token_id=1),
          generation_note="its generation_config.json"),
        e("google/pegasus-xsum", "pegasus", SEQ2SEQ, dict(_PEGASUS, max_position_embeddings=512),
          "pegasus", 569748480, su,
          generation=dict(num_beams=8, length_penalty=0.6, max_length=64,
                          forced_eos_token_id=1),
          generation_note="transformers' Pegasus conversion table (summarization_xsum: "
          "length_penalty 0.6, max_length 64; 8 beams); its own generation_config.json not "
          "seen, so a min_length there (pegasus-multi_news has 32) is not known"),
        e("pszemraj/led-large-book-summary", "led", SEQ2SEQ,
          dict(vocab_size=50265, d_model=1024, encoder_layers=12, decoder_layers=12,
               encoder_attention_heads=16, decoder_attention_heads=16, encoder_ffn_dim=4096,
               decoder_ffn_dim=4096, max_encoder_position_embeddings=16384,
               max_decoder_position_embeddings=1024, attention_window=[1024] * 12,
               pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2),
          "roberta", 459801600, su,
          generation=dict(num_beams=4, length_penalty=0.8, max_length=1024, min_length=8,
                          no_repeat_ngram_size=3, repetition_penalty=3.5, early_stopping=True),
          generation_note="config.json of models fine-tuned from it (_name_or_path "
          "pszemraj/led-large-book-summary) and the generation_config.json of "
          "pszemraj/led-large-book-summary-continued: the same values"),
        e("sshleifer/distilbart-cnn-12-6", "bart", SEQ2SEQ, dict(_BART_LARGE, decoder_layers=6),
          "roberta", 305510400, su, generation=_BART_CNN_GEN, task_generation=_BART_CNN_TASK,
          generation_note="config.json (copied into its fine-tunes: 4 beams, length_penalty "
          "2.0, min_length 56, force_bos_token_to_be_generated) and its task_specific_params"),
        e("sshleifer/distilbart-cnn-6-6", "bart", SEQ2SEQ,
          dict(_BART_LARGE, encoder_layers=6, decoder_layers=6), "roberta", 229933056, su,
          generation=_BART_CNN_GEN, task_generation=_BART_CNN_TASK,
          note="the model the study's logs name for the runs its lists call "
          "distilbart-xsum-12-6 (its 229,933,056 parameters are this 6 + 6 layout)",
          generation_note="generation_config.json of its conversion Xenova/distilbart-cnn-6-6 "
          "(_from_model_config, so sshleifer's config.json)"),
        e("sshleifer/distilbart-xsum-12-6", "bart", SEQ2SEQ, dict(_BART_LARGE, decoder_layers=6),
          "roberta", 229933056, su,
          note="12 encoder + 6 decoder layers as the name says (306M, as sshleifer's table); "
          "the study's 229,933,056 is the count of a 6 + 6 layout: its logs name "
          "sshleifer/distilbart-cnn-6-6 for these runs",
          generation=dict(num_beams=6, length_penalty=0.5, max_length=62, min_length=11,
                          no_repeat_ngram_size=3, early_stopping=True, forced_eos_token_id=2),
          generation_note="generation_config.json of Xenova/distilbart-xsum-6-6 (same "
          "family and settings; bart-large-xsum's 6 beams, min_length 11); the 12-6 file "
          "not seen"),
        # general-purpose: Flan-T5 (text2text-generation) and BLOOMz (text-generation)
        e("google/flan-t5-base", "t5", SEQ2SEQ,
          dict(_FLAN_T5, d_model=768, d_ff=2048, num_layers=12, num_decoder_layers=12,
               num_heads=12), "t5", 222903552, gp, task_generation=_T5_TASK,
          generation_note=_FLAN_T5_NOTE),
        e("google/flan-t5-large", "t5", SEQ2SEQ,
          dict(_FLAN_T5, d_model=1024, d_ff=2816, num_layers=24, num_decoder_layers=24,
               num_heads=16), "t5", 750251008, gp, task_generation=_T5_TASK,
          generation_note=_FLAN_T5_NOTE),
        e("google/flan-t5-xl", "t5", SEQ2SEQ,
          dict(_FLAN_T5, d_model=2048, d_ff=5120, num_layers=24, num_decoder_layers=24,
               num_heads=32), "t5", 2783959040, gp, task_generation=_T5_TASK,
          generation_note=_FLAN_T5_NOTE),
        e("google/flan-t5-xxl", "t5", SEQ2SEQ,
          dict(_FLAN_T5, d_model=4096, d_ff=10240, num_layers=24, num_decoder_layers=24,
               num_heads=64), "t5", 11003736064, gp, task_generation=_T5_TASK,
          generation_note=_FLAN_T5_NOTE),
        e("bigscience/bloomz-560m", "bloom", CAUSAL,
          dict(_BLOOM, hidden_size=1024, n_layer=24, n_head=16), "bloom", 559214592, gp,
          generation_note=_BLOOMZ_NOTE),
        e("bigscience/bloomz-1b7", "bloom", CAUSAL,
          dict(_BLOOM, hidden_size=2048, n_layer=24, n_head=16), "bloom", 1720000000, gp,
          note="the study lists 1.72e9, rounded", generation_note=_BLOOMZ_NOTE),
        e("bigscience/bloomz-3b", "bloom", CAUSAL,
          dict(_BLOOM, hidden_size=2560, n_layer=30, n_head=32), "bloom", 3000000000, gp,
          note="the study lists 3e9, rounded", generation_note=_BLOOMZ_NOTE),
        e("bigscience/bloomz-7b1", "bloom", CAUSAL,
          dict(_BLOOM, hidden_size=4096, n_layer=30, n_head=32), "bloom", 7000000000, gp,
          note="the study lists 7e9, rounded", generation_note=_BLOOMZ_NOTE),
    )


BUILTIN: Dict[str, BuiltinModel] = {m.name: m for m in _entries()}

# Organisations the Hub later moved some of these models under.
_MOVED_TO = ("distilbert/", "google-bert/", "FacebookAI/", "openai-community/")


def builtin(source: str) -> Optional[BuiltinModel]:
    """The built-in entry for a Hugging Face id (also under the ids the Hub moved it to)."""
    if source in BUILTIN:
        return BUILTIN[source]
    for prefix in _MOVED_TO:
        if source.startswith(prefix) and source[len(prefix):] in BUILTIN:
            return BUILTIN[source[len(prefix):]]
    return None


def position_limit(model_type: str, config: Dict[str, object]) -> Optional[int]:
    """Tokens the model's positions allow in one input (None: no fixed limit, as T5, BLOOM)."""

    def get(key: str) -> Optional[int]:
        v = config.get(key)
        return v if isinstance(v, int) and v > 0 else None

    if model_type in ("t5", "mt5", "bloom"):
        return None
    if model_type in ("roberta", "xlm-roberta", "camembert", "longformer"):
        n = get("max_position_embeddings")
        return n - 2 if n else None  # RoBERTa positions start after the padding index
    if model_type == "led":
        return get("max_encoder_position_embeddings")
    if model_type == "gpt2":
        return get("n_positions")
    return get("max_position_embeddings")
