//! The efficiency techniques: a sparse mixture of experts against candle-transformers'
//! Mixtral and against its own routing done by hand, its parameter counts against its dense
//! comparisons; layer pruning's choice against distances computed here; Mixture-of-Depths
//! routing; the launch syntax and what /v1/models says of each.

use joulebench_reference as reference;

use crate::common::{get, spawn_server};
use crate::llama::{hf_tensors, max_abs, rel_diff};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use reference::models::depths::DepthsSpec;
use reference::models::kv_cache::CachedForward;
use reference::models::moe::{Mlp, route};
use reference::models::presets;
use reference::models::pruning::{PruneAmount, angular_distance, block_distances, prune};
use reference::{
    Generator, GeneratorConfig, Llama, LlamaConfig, LoadOptions, ModelSpec, SeededInit, Task,
    WeightFormat,
};

const PROMPT: &[u32] = &[5, 17, 300, 42, 999, 8, 64, 12, 77, 500, 31, 6];

fn preset(name: &str) -> LlamaConfig {
    presets::llama_preset(name).unwrap()
}

fn build(c: &LlamaConfig, seed: u64) -> Llama {
    Llama::load(c, WeightFormat::F32, SeededInit::new(seed).var_builder()).unwrap()
}

#[test]
fn routing_takes_the_top_k_and_renormalises_their_softmax() {
    let logits = [0.1f32, 2.0, -1.0, 1.5, 0.0, 2.0];
    let picks = route(&logits, 6, 2);
    // Ties go to the lower index; weights are the full softmax renormalised over the two.
    assert_eq!(picks[0].iter().map(|p| p.0).collect::<Vec<_>>(), vec![1, 5]);
    assert!((picks[0][0].1 - 0.5).abs() < 1e-6);
    let picks = route(&logits[..4], 4, 2);
    let (a, b) = (2.0f32.exp(), 1.5f32.exp());
    assert_eq!(picks[0][0].0, 1);
    assert_eq!(picks[0][1].0, 3);
    assert!((picks[0][0].1 - a / (a + b)).abs() < 1e-6);
    assert!((picks[0][1].1 - b / (a + b)).abs() < 1e-6);
}

#[test]
fn mixture_counts_total_and_active_parameters_against_its_dense_comparisons() {
    for (moe, e) in [("moe-test", 256), ("smollm2-moe-8x2", 576)] {
        let m = presets::generator(moe).unwrap();
        let active = presets::generator(&format!("{moe}-dense-active")).unwrap();
        let total = presets::generator(&format!("{moe}-dense-total")).unwrap();
        let layers = m.dims().layers;
        let router = layers * 8 * e;
        // The router is the only difference from each dense comparison.
        assert_eq!(
            m.active_parameter_count(),
            active.parameter_count() + router
        );
        assert_eq!(m.parameter_count(), total.parameter_count() + router);
        assert!(
            m.parameter_count() > 2 * m.active_parameter_count(),
            "{moe}"
        );
    }
    // SmolLM2 with 8 experts: 134.5M dense → about 692M total, 214M active.
    let m = presets::generator("smollm2-moe-8x2").unwrap();
    assert_eq!(
        m.parameter_count(),
        134_515_008 + 7 * 30 * 3 * 576 * 1536 + 30 * 8 * 576
    );
    // The built tensors are the analytic count, and the built model counts the same.
    let c = preset("moe-test");
    let init = SeededInit::new(3);
    let model = Llama::load(&c, WeightFormat::F32, init.var_builder()).unwrap();
    let built: usize = init.tensors().values().map(|t| t.elem_count()).sum();
    assert_eq!(built, c.parameter_count());
    assert_eq!(Generator::parameter_count(&model), c.parameter_count());
    assert_eq!(
        Generator::active_parameter_count(&model),
        c.active_parameter_count()
    );
    assert_eq!(model.architecture(), "MixtralForCausalLM");
}

#[test]
fn each_token_goes_through_its_top_two_experts_weighted() {
    let c = preset("moe-test");
    let m = build(&c, 5);
    let Mlp::Sparse(moe) = &m.blocks()[0].mlp else {
        panic!("moe-test has sparse blocks");
    };
    assert_eq!((moe.experts.len(), moe.top_k), (8, 2));
    let x = Tensor::randn(0f32, 1.0, (2, 3, c.hidden_size), &Device::Cpu).unwrap();
    let got = moe.forward(&x).unwrap();
    let flat = x.reshape((6, c.hidden_size)).unwrap();
    let logits = moe.router_logits(&flat).unwrap().to_vec2::<f32>().unwrap();
    let mut experts_used = std::collections::BTreeSet::new();
    for (t, row) in logits.iter().enumerate() {
        // By hand: softmax over all eight, the two largest, renormalised.
        let max = row.iter().cloned().fold(f32::MIN, f32::max);
        let p: Vec<f32> = row.iter().map(|l| (l - max).exp()).collect();
        let mut order: Vec<usize> = (0..8).collect();
        order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
        let (i, j) = (order[0], order[1]);
        experts_used.extend([i, j]);
        let xt = flat.get(t).unwrap().reshape((1, 1, c.hidden_size)).unwrap();
        let yi = moe.experts[i].forward(&xt).unwrap();
        let yj = moe.experts[j].forward(&xt).unwrap();
        let want = ((yi * f64::from(p[i] / (p[i] + p[j]))).unwrap()
            + (yj * f64::from(p[j] / (p[i] + p[j]))).unwrap())
        .unwrap()
        .flatten_all()
        .unwrap();
        let got_t = got.reshape((6, c.hidden_size)).unwrap().get(t).unwrap();
        assert!(rel_diff(&got_t, &want) < 1e-5, "token {t}");
    }
    assert!(
        experts_used.len() > 2,
        "every token went to the same experts"
    );
}

#[test]
fn mixtral_logits_equal_candle_transformers_mixtral_on_the_same_weights() {
    let c = LlamaConfig {
        attention_bias: false,
        ..preset("moe-test")
    };
    let init = SeededInit::new(4);
    let ours = Llama::load(&c, WeightFormat::F32, init.var_builder()).unwrap();
    let moe = c.moe.unwrap();
    let cfg: candle_transformers::models::mixtral::Config =
        serde_json::from_value(serde_json::json!({
            "vocab_size": c.vocab_size,
            "hidden_size": c.hidden_size,
            "intermediate_size": c.intermediate_size,
            "num_hidden_layers": c.num_hidden_layers,
            "num_attention_heads": c.num_attention_heads,
            "num_key_value_heads": c.num_key_value_heads,
            "hidden_act": "silu",
            "max_position_embeddings": c.max_position_embeddings,
            "rms_norm_eps": c.rms_norm_eps,
            "rope_theta": c.rope_theta,
            "sliding_window": 4096,
            "num_experts_per_tok": moe.top_k,
            "num_local_experts": moe.experts,
            "use_flash_attn": false,
        }))
        .unwrap();
    let vb = VarBuilder::from_tensors(hf_tensors(&c, &init), DType::F32, &Device::Cpu);
    let mut theirs = candle_transformers::models::mixtral::Model::new(&cfg, vb).unwrap();
    let input = Tensor::new(PROMPT, &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let want = theirs.forward(&input, 0).unwrap().flatten_all().unwrap();
    let mut cache = ours.new_cache();
    let got = ours.forward(PROMPT, &mut cache).unwrap();
    assert!(rel_diff(&got, &want) < 1e-4, "{}", rel_diff(&got, &want));
    // A cached step equals their step too.
    let step = Tensor::new(&[33u32], &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let want = theirs
        .forward(&step, PROMPT.len())
        .unwrap()
        .flatten_all()
        .unwrap();
    let got = ours.forward(&[33], &mut cache).unwrap();
    assert!(rel_diff(&got, &want) < 1e-4, "{}", rel_diff(&got, &want));
}

#[test]
fn a_mixtral_folder_loads_with_its_experts() {
    let c = preset("moe-test");
    let init = SeededInit::new(6);
    let ours = Llama::load(&c, WeightFormat::F32, init.var_builder()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    candle_core::safetensors::save(&hf_tensors(&c, &init), dir.path().join("model.safetensors"))
        .unwrap();
    let mut json = serde_json::to_value(&c).unwrap();
    json["model_type"] = "mixtral".into();
    json["num_local_experts"] = 8.into();
    json["num_experts_per_tok"] = 2.into();
    std::fs::write(dir.path().join("config.json"), json.to_string()).unwrap();
    let spec = ModelSpec::parse(
        Task::Generation,
        &format!("m={}:q8_0", dir.path().display()),
    )
    .unwrap();
    let served = reference::ServedModel::load(&spec, &Default::default()).unwrap();
    assert_eq!(served.architecture, "MixtralForCausalLM");
    assert_eq!(served.parameters, c.parameter_count());
    assert_eq!(served.active_parameters, c.active_parameter_count());
    let reference::registry::Network::Generator(g) = &served.network else {
        panic!("not a generator");
    };
    let (_, got) = g.start(PROMPT).unwrap();
    let want = ours.forward(PROMPT, &mut ours.new_cache()).unwrap();
    let err = rel_diff(&got, &want);
    assert!(
        err > 0.0 && err < 0.05,
        "q8_0 experts: relative error {err}"
    );
}

#[test]
fn angular_distance_is_the_normalised_angle() {
    assert!(angular_distance(&[1.0, 0.0], &[2.0, 0.0]).abs() < 1e-12);
    assert!((angular_distance(&[1.0, 0.0], &[0.0, 3.0]) - 0.5).abs() < 1e-12);
    assert!((angular_distance(&[1.0, 0.0], &[-1.0, 0.0]) - 1.0).abs() < 1e-12);
    assert_eq!(PruneAmount::parse("50%").unwrap(), PruneAmount::Share(0.5));
    assert_eq!(
        PruneAmount::parse("0.25").unwrap(),
        PruneAmount::Share(0.25)
    );
    assert_eq!(PruneAmount::parse("3").unwrap(), PruneAmount::Layers(3));
    assert_eq!(PruneAmount::Share(0.5).blocks(30).unwrap(), 15);
    for bad in ["0", "100%", "1.5", "half", "-2"] {
        assert!(PruneAmount::parse(bad).is_err(), "{bad}");
    }
    assert!(PruneAmount::Layers(4).blocks(4).is_err());
}

#[test]
fn pruning_removes_the_block_of_least_angular_distance_and_keeps_the_rest_intact() {
    let c = LlamaConfig {
        num_hidden_layers: 8,
        ..preset("llama-test")
    };
    let prompts: Vec<Vec<u32>> = vec![PROMPT.to_vec(), vec![9, 8, 7, 6, 5], vec![400, 3, 77]];
    let full = build(&c, 7);
    // Distances computed here from the residual stream, independently of block_distances.
    let n = 3;
    let mut mean = vec![0.0; c.num_hidden_layers + 1 - n];
    for p in &prompts {
        let states = full.hidden_states(p).unwrap();
        for (l, m) in mean.iter_mut().enumerate() {
            let a = states[l]
                .get(p.len() - 1)
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let b = states[l + n]
                .get(p.len() - 1)
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            *m += angular_distance(&a, &b) / prompts.len() as f64;
        }
    }
    let listed = block_distances(&full, n, &prompts).unwrap();
    assert_eq!(listed.len(), mean.len());
    for (a, b) in listed.iter().zip(&mean) {
        assert!((a - b).abs() < 1e-9);
    }
    let best = (0..mean.len())
        .min_by(|&a, &b| mean[a].total_cmp(&mean[b]))
        .unwrap();
    let mut pruned: Box<dyn Generator> = Box::new(build(&c, 7));
    let done = prune(pruned.as_mut(), PruneAmount::Layers(n), &prompts, "test").unwrap();
    assert_eq!((done.first, done.count), (best, n));
    let removed = pruned.techniques().removed_layers.unwrap();
    assert_eq!(removed.removed, (best..best + n).collect::<Vec<_>>());
    assert_eq!(removed.loaded, 8);
    assert_eq!(pruned.dims().layers, 5);
    // What remains is the same function minus those blocks: the stream entering the first
    // kept block after the gap is the one that left the block before it.
    let states = pruned.hidden_states(PROMPT).unwrap();
    let full_states = full.hidden_states(PROMPT).unwrap();
    assert_eq!(states.len(), 6);
    assert!(rel_diff(&states[best], &full_states[best]) < 1e-6);
    // Independently: a model built with blocks best..best+n left out of its weights (the
    // later blocks renumbered down) computes the same logits as the pruned one.
    let init = SeededInit::new(7);
    build_with(&c, &init);
    let renamed: std::collections::HashMap<String, Tensor> = init
        .tensors()
        .into_iter()
        .filter_map(|(name, t)| {
            let Some(rest) = name.strip_prefix("model.layers.") else {
                return Some((name, t));
            };
            let (layer, tail) = rest.split_once('.').unwrap();
            let layer: usize = layer.parse().unwrap();
            if (best..best + n).contains(&layer) {
                return None;
            }
            let layer = if layer >= best + n { layer - n } else { layer };
            Some((format!("model.layers.{layer}.{tail}"), t))
        })
        .collect();
    let shorter = LlamaConfig {
        num_hidden_layers: c.num_hidden_layers - n,
        ..c.clone()
    };
    let vb = VarBuilder::from_tensors(renamed, DType::F32, &Device::Cpu);
    let want = Llama::load(&shorter, WeightFormat::F32, vb).unwrap();
    let want = want.forward(PROMPT, &mut want.new_cache()).unwrap();
    let (_, got) = pruned.start(PROMPT).unwrap();
    assert!(rel_diff(&got, &want) < 1e-6, "{}", rel_diff(&got, &want));
    // Fewer parameters by exactly the removed blocks.
    let per_block = full.blocks()[0].parameters(false);
    assert_eq!(
        pruned.parameter_count(),
        Generator::parameter_count(&full) - n * per_block
    );
    assert!(full.flops_per_token(16) > pruned_flops(&c, best, n));
}

fn build_with(c: &LlamaConfig, init: &SeededInit) -> Llama {
    Llama::load(c, WeightFormat::F32, init.var_builder()).unwrap()
}

fn pruned_flops(c: &LlamaConfig, first: usize, n: usize) -> f64 {
    let mut m = build(c, 7);
    m.remove_layers(first, n).unwrap();
    m.flops_per_token(16)
}

#[test]
fn gpt2_and_bloom_prune_too() {
    for name in ["tiny", "bloom-tiny"] {
        let c = presets::generator(name).unwrap();
        let mut g = c.load(SeededInit::new(2).var_builder()).unwrap();
        let before = g.parameter_count();
        let done = prune(g.as_mut(), PruneAmount::Share(0.5), &[PROMPT.to_vec()], "t").unwrap();
        assert_eq!(done.count, 1, "{name}");
        assert_eq!(g.dims().layers, 1, "{name}");
        assert!(g.parameter_count() < before, "{name}");
        assert_eq!(g.techniques().removed_layers.unwrap().removed.len(), 1);
        let (mut d, logits) = g.start(PROMPT).unwrap();
        d.step(reference::models::llama::argmax(&logits).unwrap())
            .unwrap();
    }
}

#[test]
fn mixture_of_depths_routes_the_capacity_share_of_a_prompt_and_skips_the_rest() {
    let base = LlamaConfig {
        num_hidden_layers: 4,
        ..preset("llama-test")
    };
    let spec = DepthsSpec { capacity: 0.25 };
    let c = LlamaConfig {
        mixture_of_depths: Some(spec),
        ..base.clone()
    };
    let init = SeededInit::new(8);
    let m = Llama::load(&c, WeightFormat::F32, init.var_builder()).unwrap();
    // Routers on blocks 1 and 3 only, one weight vector each.
    let routed: Vec<bool> = m.blocks().iter().map(|b| b.router.is_some()).collect();
    assert_eq!(routed, vec![false, true, false, true]);
    let built: usize = init.tensors().values().map(|t| t.elem_count()).sum();
    assert_eq!(built, c.parameter_count());
    assert_eq!(
        c.parameter_count(),
        base.parameter_count() + 2 * base.hidden_size
    );
    let states = m.hidden_states(PROMPT).unwrap();
    // Block 1 takes ceil(0.25 × 12) = 3 tokens: the others leave it unchanged.
    let (inp, out) = (&states[1], &states[2]);
    let changed: Vec<usize> = (0..PROMPT.len())
        .filter(|&t| max_abs(&(inp.get(t).unwrap() - out.get(t).unwrap()).unwrap()) > 0.0)
        .collect();
    assert_eq!(changed.len(), 3, "{changed:?}");
    // They are the router's three best scores.
    let router = m.blocks()[1].router.as_ref().unwrap();
    let scores = router.scores(&inp.unsqueeze(0).unwrap()).unwrap();
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut top: Vec<usize> = order[..3].to_vec();
    top.sort_unstable();
    assert_eq!(changed, top);
    // The routed blocks' caches hold only the tokens they took.
    let mut cache = m.new_cache();
    m.forward(PROMPT, &mut cache).unwrap();
    let keys = |layer: usize, cache: &mut reference::models::kv_cache::KvCache| {
        cache
            .layer_mut(layer)
            .unwrap()
            .as_ref()
            .unwrap()
            .0
            .dim(2)
            .unwrap()
    };
    assert_eq!(keys(0, &mut cache), 12);
    assert_eq!(keys(1, &mut cache), 3);
}

#[test]
fn at_full_capacity_a_cached_step_equals_the_whole_sequence_at_once() {
    // Every token through every routed block: prompt and cached step must then agree, which
    // checks the routed tokens' rotary positions, their causal mask against the block's own
    // cache, and that cache's contents.
    let c = LlamaConfig {
        num_hidden_layers: 4,
        mixture_of_depths: Some(DepthsSpec { capacity: 1.0 }),
        ..preset("llama-test")
    };
    let mut m = build(&c, 10);
    m.calibrate_depths(&[PROMPT.to_vec()]).unwrap();
    let whole = m.forward(PROMPT, &mut m.new_cache()).unwrap();
    let mut cache = m.new_cache();
    m.forward(&PROMPT[..7], &mut cache).unwrap();
    let mut last = None;
    for &t in &PROMPT[7..] {
        last = Some(m.forward(&[t], &mut cache).unwrap());
    }
    let stepped = last.unwrap();
    assert!(
        rel_diff(&stepped, &whole) < 1e-4,
        "{}",
        rel_diff(&stepped, &whole)
    );
    let info = m.techniques().mixture_of_depths.unwrap();
    assert_eq!(info.generated_tokens_routed, info.generated_tokens_offered);
    // The routers do change the function: the same weights without them differ.
    let plain = build(
        &LlamaConfig {
            mixture_of_depths: None,
            ..c.clone()
        },
        10,
    );
    let dense = plain.forward(PROMPT, &mut plain.new_cache()).unwrap();
    assert!(rel_diff(&dense, &whole) > 1e-3);
}

#[test]
fn generated_tokens_pass_a_routed_block_at_about_the_calibrated_share() {
    let c = LlamaConfig {
        num_hidden_layers: 4,
        mixture_of_depths: Some(DepthsSpec { capacity: 0.125 }),
        ..preset("llama-test")
    };
    let mut m = build(&c, 9);
    let prompts: Vec<Vec<u32>> = (0..16)
        .map(|i| (0..24).map(|t| 3 + (i * 37 + t * 11) % 990).collect())
        .collect();
    m.calibrate_depths(&prompts).unwrap();
    let before = m.techniques().mixture_of_depths.unwrap();
    assert!(before.calibrated);
    // Calibration ran prompts, but the counts start after it.
    assert_eq!(
        (
            before.prompt_tokens_offered,
            before.generated_tokens_offered
        ),
        (0, 0)
    );
    // Generate greedily from fresh prompts and count what the routed blocks took.
    for i in 0..4u32 {
        let mut cache = m.new_cache();
        let prompt: Vec<u32> = (0..8).map(|t| 500 + i * 50 + t * 3).collect();
        let mut logits = m.forward(&prompt, &mut cache).unwrap();
        for _ in 0..40 {
            let next = reference::models::llama::argmax(&logits).unwrap();
            logits = m.forward(&[next], &mut cache).unwrap();
        }
    }
    let after = m.techniques().mixture_of_depths.unwrap();
    // Two routed blocks; each prompt of 8 gives each ⌈0.125 × 8⌉ = 1 token.
    assert_eq!(after.prompt_tokens_offered, 2 * 4 * 8);
    assert_eq!(after.prompt_tokens_routed, 2 * 4);
    assert_eq!(after.generated_tokens_offered, 2 * 4 * 40);
    let routed = after.generated_tokens_routed;
    let share = routed as f64 / after.generated_tokens_offered as f64;
    // Seeded weights: the decode-time share is near, not at, the capacity.
    assert!(share < 0.5, "{share}: the threshold passes most tokens");
    assert!(routed > 0, "no generated token went through a routed block");
}

#[test]
fn launch_syntax_parses_techniques_and_refuses_what_cannot_be_done() {
    let s = ModelSpec::parse(Task::Generation, "h=smollm2-135m:q8_0+prune=50%+mod").unwrap();
    assert_eq!(s.name, "h");
    assert_eq!(s.format, WeightFormat::Q8_0);
    assert_eq!(s.techniques.prune, Some(PruneAmount::Share(0.5)));
    assert_eq!(s.techniques.depths, Some(DepthsSpec { capacity: 0.125 }));
    let s = ModelSpec::parse(Task::Generation, "llama-test+mod=0.5").unwrap();
    assert_eq!(s.techniques.depths, Some(DepthsSpec { capacity: 0.5 }));
    for (bad, says) in [
        ("llama-test+prune", "prune with a value"),
        ("llama-test+mod=2", "outside (0, 1]"),
        ("llama-test+sparsity=2", "no technique `+sparsity=2`"),
        ("llama-test+prune=0", "at least one block"),
        ("dir/model+mod", "only presets"),
        ("llama-test+mod+prune", "prune with a value"),
    ] {
        let err = ModelSpec::parse(Task::Generation, bad).unwrap_err();
        assert!(err.to_string().contains(says), "{bad}: {err}");
    }
    // A `+` that starts no technique in a path's last part is the path's.
    let s = ModelSpec::parse(Task::Generation, "g=models/c++model").unwrap();
    assert_eq!(
        s.source,
        reference::Source::Folder("models/c++model".into())
    );
    let s = ModelSpec::parse(Task::Generation, "g=models/a+b+prune=2").unwrap();
    assert_eq!(
        s.source,
        reference::Source::Folder("models/a+b+prune=2".into())
    );
    let s = ModelSpec::parse(Task::Generation, "g=models/llama+prune=2").unwrap();
    assert_eq!(s.source, reference::Source::Folder("models/llama".into()));
    assert_eq!(s.techniques.prune, Some(PruneAmount::Layers(2)));
    let err = ModelSpec::parse(Task::Classification, "tiny+prune=1").unwrap_err();
    assert!(err.to_string().contains("generators only"), "{err}");
    // GPT-2 has no Mixture-of-Depths variant: the load says so.
    let spec = ModelSpec::parse(Task::Generation, "tiny+mod").unwrap();
    let err = reference::ServedModel::load(&spec, &Default::default()).unwrap_err();
    assert!(err.to_string().contains("Llama layout only"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn v1_models_reports_active_parameters_and_each_technique() {
    let specs = vec![
        ModelSpec::parse(Task::Generation, "moe=moe-test").unwrap(),
        ModelSpec::parse(Task::Generation, "pruned=llama-test+prune=1").unwrap(),
        ModelSpec::parse(Task::Generation, "depths=llama-test+mod").unwrap(),
        ModelSpec::parse(Task::Generation, "student=small").unwrap(),
    ];
    let server = tokio::task::spawn_blocking(move || spawn_server(specs, LoadOptions::default()))
        .await
        .unwrap();
    let (status, body) = get(&server, "/v1/models").await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let model = |id: &str| {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .unwrap()
            .clone()
    };
    let moe = model("moe");
    let c = preset("moe-test");
    assert_eq!(moe["parameters"], c.parameter_count());
    assert_eq!(moe["active_parameters"], c.active_parameter_count());
    assert_eq!(moe["techniques"]["mixture_of_experts"]["experts"], 8);
    assert_eq!(moe["techniques"]["mixture_of_experts"]["top_k"], 2);
    let pruned = model("pruned");
    let t = &pruned["techniques"];
    assert_eq!(t["removed_layers"]["loaded"], 2);
    assert_eq!(t["removed_layers"]["removed"].as_array().unwrap().len(), 1);
    assert!(t["layer_pruning"]["angular_distance"].as_f64().unwrap() > 0.0);
    assert!(
        t["layer_pruning"]["calibration"]
            .as_str()
            .unwrap()
            .contains("bundled samples")
    );
    assert!(pruned["parameters"].as_u64().unwrap() < preset("llama-test").parameter_count() as u64);
    let depths = model("depths");
    assert_eq!(depths["techniques"]["mixture_of_depths"]["capacity"], 0.125);
    assert_eq!(
        depths["techniques"]["mixture_of_depths"]["calibrated"],
        true
    );
    // Calibration is not counted as routing.
    assert_eq!(
        depths["techniques"]["mixture_of_depths"]["prompt_tokens_offered"],
        0
    );
    assert_eq!(
        depths["techniques"]["mixture_of_depths"]["routed_blocks"],
        serde_json::json!([1])
    );
    let student = model("student");
    assert!(
        student["techniques"]["distilled_from"]
            .as_str()
            .unwrap()
            .contains("gpt2")
    );
    assert!(
        model("pruned")["techniques"]
            .get("distilled_from")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kserve_metadata_reports_them_too() {
    let specs = vec![ModelSpec::parse(Task::Generation, "moe=moe-test+prune=1").unwrap()];
    let server = tokio::task::spawn_blocking(move || spawn_server(specs, LoadOptions::default()))
        .await
        .unwrap();
    let (status, body) = get(&server, "/v2/models/moe").await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let p = &v["parameters"];
    assert!(p["active_parameters"].as_u64().unwrap() < p["parameters"].as_u64().unwrap());
    assert_eq!(p["techniques"]["mixture_of_experts"]["top_k"], 2);
    assert_eq!(p["techniques"]["removed_layers"]["loaded"], 2);
}
