//! Model arithmetic: parameter counts of public configurations, FLOP growth with size, and
//! the exact length rules of generation.

use joulebench_reference as reference;

use reference::models::{flops, presets};
use reference::{EncoderTask, GenerationParams, SeededInit};

#[test]
fn parameter_counts_match_public_checkpoints() {
    let two = EncoderTask::Classification(vec!["a".into(), "b".into()]);
    // bert-base-uncased with a 2-label head (BertForSequenceClassification).
    assert_eq!(
        presets::encoder("base").unwrap().parameter_count(&two),
        109_483_778
    );
    // distilbert-base-uncased-finetuned-sst-2-english.
    assert_eq!(
        presets::encoder("distilbert")
            .unwrap()
            .parameter_count(&two),
        66_955_010
    );
    // gpt2 and distilgpt2.
    assert_eq!(
        presets::generator("base").unwrap().parameter_count(),
        124_439_808
    );
    assert_eq!(
        presets::generator("small").unwrap().parameter_count(),
        81_912_576
    );
    assert_eq!(
        presets::generator("medium").unwrap().parameter_count(),
        354_823_168
    );
}

#[test]
fn analytic_counts_equal_the_built_tensors() {
    for name in ["tiny", "bloom-tiny", "t5-tiny"] {
        let c = presets::generator(name).unwrap();
        let init = SeededInit::new(1);
        c.load(init.var_builder()).unwrap();
        let built: usize = init.tensors().values().map(|t| t.elem_count()).sum();
        assert_eq!(built, c.parameter_count(), "{name}");
    }
    for task in [
        EncoderTask::QuestionAnswering,
        EncoderTask::Classification(vec!["x".into(); 3]),
    ] {
        for layout in ["tiny", "distilbert"] {
            let mut c = presets::encoder(layout).unwrap();
            c.num_hidden_layers = 1;
            c.vocab_size = 100;
            c.max_position_embeddings = 64;
            let init = SeededInit::new(1);
            reference::EncoderModel::load(&c, task.clone(), init.var_builder()).unwrap();
            let built: usize = init.tensors().values().map(|t| t.elem_count()).sum();
            assert_eq!(built, c.parameter_count(&task), "{layout} {task:?}");
        }
    }
}

#[test]
fn per_token_flops_grow_with_model_size() {
    let names = ["tiny", "small", "base", "medium", "large"];
    let costs: Vec<u64> = names
        .iter()
        .map(|n| flops::decoder_token(&presets::generator(n).unwrap().dims(), 32))
        .collect();
    assert!(costs.windows(2).all(|w| w[0] < w[1]), "{costs:?}");
    // Away from the LM head, cost per token is ~2 × non-embedding parameters.
    for name in ["base", "bloom-560m"] {
        let c = presets::generator(name).unwrap();
        let d = c.dims();
        let positions = if name == "base" { 1024 } else { 0 };
        let non_embedding = c.parameter_count() - (d.vocab + positions) * d.width;
        let body = flops::decoder_token(&d, 0) - 2 * (d.width * d.vocab) as u64;
        let ratio = body as f64 / (2 * non_embedding) as f64;
        assert!((0.99..1.01).contains(&ratio), "{name}: {ratio}");
    }
}

#[test]
fn generation_length_rules_are_exact() {
    let c = presets::generator("tiny").unwrap();
    let model = c.load(SeededInit::new(0).var_builder()).unwrap();
    let prompt = [10u32, 20, 30];
    let greedy = GenerationParams {
        max_new_tokens: 16,
        ..Default::default()
    };
    let free = reference::generate::generate(&*model, &prompt, &greedy, None, |_| true).unwrap();
    assert_eq!(free.tokens.len(), 16);
    // Make the first greedy token the end-of-sequence token.
    let eos = Some(free.tokens[0]);
    let stop = reference::generate::generate(&*model, &prompt, &greedy, eos, |_| true).unwrap();
    assert_eq!(stop.tokens, vec![free.tokens[0]]);
    assert_eq!(stop.finish, reference::FinishReason::EndOfSequence);
    let ignore = GenerationParams {
        ignore_eos: true,
        ..greedy.clone()
    };
    let all = reference::generate::generate(&*model, &prompt, &ignore, eos, |_| true).unwrap();
    assert_eq!(all.tokens, free.tokens);
    assert_eq!(all.finish, reference::FinishReason::Length);
    let min = GenerationParams {
        min_new_tokens: 5,
        ..greedy
    };
    let at_least = reference::generate::generate(&*model, &prompt, &min, eos, |_| true).unwrap();
    assert!(at_least.tokens.len() >= 5);
    assert!(!at_least.tokens[..5].contains(&free.tokens[0]));
}

#[test]
fn cached_steps_match_a_full_pass() {
    for name in ["tiny", "bloom-tiny"] {
        let c = presets::generator(name).unwrap();
        let model = c.load(SeededInit::new(3).var_builder()).unwrap();
        let ids = [1u32, 2, 3, 4];
        let full = model.start(&ids).unwrap().1.to_vec1::<f32>().unwrap();
        let (mut decoding, _) = model.start(&ids[..2]).unwrap();
        decoding.step(ids[2]).unwrap();
        let stepped = decoding.step(ids[3]).unwrap().to_vec1::<f32>().unwrap();
        let diff = full
            .iter()
            .zip(&stepped)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(diff < 1e-4, "{name}: {diff}");
    }
}

#[test]
fn model_specs_name_presets_and_folders() {
    use reference::{ModelSpec, Source, Task};
    let s = ModelSpec::parse(Task::Classification, "small").unwrap();
    assert_eq!(
        (s.name.as_str(), &s.source),
        ("classifier-small", &Source::Preset("small".into()))
    );
    let s = ModelSpec::parse(Task::Generation, "gpt=base").unwrap();
    assert_eq!(s.name, "gpt");
    let s = ModelSpec::parse(Task::QuestionAnswering, "/models/squad-bert").unwrap();
    assert_eq!(
        (s.name.as_str(), &s.source),
        ("squad-bert", &Source::Folder("/models/squad-bert".into()))
    );
    let e = ModelSpec::parse(Task::Generation, "huge")
        .unwrap_err()
        .to_string();
    assert!(e.contains("tiny, small, base, medium, large"), "{e}");
    let specs = [
        ModelSpec::parse(Task::Classification, "a=tiny").unwrap(),
        ModelSpec::parse(Task::QuestionAnswering, "a=tiny").unwrap(),
    ];
    assert!(reference::ModelRegistry::load(&specs, &Default::default()).is_err());
}

#[test]
fn alibi_slopes_match_transformers() {
    use reference::models::bloom::alibi_slopes;
    assert_eq!(alibi_slopes(4), vec![0.25, 0.0625, 0.015625, 0.00390625]);
    assert_eq!(
        alibi_slopes(6),
        vec![0.25, 0.0625, 0.015625, 0.00390625, 0.5, 0.125]
    );
    let s16 = alibi_slopes(16);
    assert!((s16[0] - 0.5f32.sqrt()).abs() < 1e-7 && (s16[15] - 2f32.powi(-8)).abs() < 1e-9);
}

#[test]
fn t5_generation_honours_length_rules() {
    let c = presets::generator("t5-tiny").unwrap();
    let model = c.load(SeededInit::new(2).var_builder()).unwrap();
    let params = GenerationParams {
        max_new_tokens: 16,
        ignore_eos: true,
        ..Default::default()
    };
    let g = reference::generate::generate(&*model, &[5, 6, 7], &params, Some(1), |_| true).unwrap();
    assert_eq!(g.tokens.len(), 16);
    // The model is free again after a generation.
    let again =
        reference::generate::generate(&*model, &[5, 6, 7], &params, Some(1), |_| true).unwrap();
    assert_eq!(again.tokens, g.tokens);
}

#[test]
fn a_padded_batch_gives_each_sequence_its_own_results() {
    let inputs: [(Vec<u32>, Vec<u32>); 3] = [
        (vec![1, 5, 9, 2], vec![0, 0, 1, 1]),
        (vec![1, 7, 3, 11, 13, 17, 2], vec![0, 0, 0, 1, 1, 1, 1]),
        (vec![1, 2], vec![0, 0]),
    ];
    let batch: Vec<(&[u32], &[u32])> = inputs
        .iter()
        .map(|(i, t)| (i.as_slice(), t.as_slice()))
        .collect();
    let close = |a: &[f32], b: &[f32], what: &str| {
        assert_eq!(a.len(), b.len(), "{what}");
        for (x, y) in a.iter().zip(b) {
            assert!(
                (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
                "{what}: {x} vs {y}"
            );
        }
    };
    for layout in ["tiny", "distilbert"] {
        let mut c = presets::encoder(layout).unwrap();
        c.num_hidden_layers = 2;
        c.vocab_size = 100;
        c.max_position_embeddings = 64;
        let classifier = reference::EncoderModel::load(
            &c,
            EncoderTask::Classification(vec!["a".into(), "b".into(), "c".into()]),
            SeededInit::new(3).var_builder(),
        )
        .unwrap();
        let logits = classifier.classify_batch(&batch).unwrap();
        let vectors = classifier.embed_batch(&batch, true).unwrap();
        let qa = reference::EncoderModel::load(
            &c,
            EncoderTask::QuestionAnswering,
            SeededInit::new(4).var_builder(),
        )
        .unwrap();
        let spans = qa.span_logits_batch(&batch).unwrap();
        for (n, (ids, types)) in batch.iter().enumerate() {
            let what = format!("{layout} sequence {n}");
            close(&logits[n], &classifier.classify(ids, types).unwrap(), &what);
            close(
                &vectors[n],
                &classifier.embed(ids, types, true).unwrap(),
                &what,
            );
            let (start, end) = qa.span_logits(ids, types).unwrap();
            assert_eq!(
                spans[n].0.len(),
                ids.len(),
                "{what}: one logit per own token"
            );
            close(&spans[n].0, &start, &what);
            close(&spans[n].1, &end, &what);
        }
        // Without the mask the padding would leak into the shorter sequences.
        assert!(
            logits[0] != logits[1],
            "{layout}: distinct inputs, distinct logits"
        );
    }
}
