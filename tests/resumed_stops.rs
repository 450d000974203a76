//! Why a resumed run stopped: a server that answered before the interruption is "gone",
//! never "never answered", even when the resumed session gets no answer from it.

use crate::common;

use common::{Reply, TestServer, manifest, one_model_suite, openai_answer, run_suite};

#[test]
fn a_server_that_answered_before_the_interruption_is_not_called_never_answered() {
    // Answers repetition 1 (10 requests), then closes every POST: the first run stops
    // "stopped answering"; the resumed one gets no answer at all, yet the server did answer.
    let dying = TestServer::start_replies(|r| {
        if r.method == "POST" && r.nth_post >= 10 {
            return Reply::Close;
        }
        let (s, b) = openai_answer(r);
        Reply::Json(s, b)
    });
    let suite = one_model_suite(
        "openai-completions",
        &dying.url,
        "general-purpose",
        "inferences = 10\nrepetitions = 3\nwarmup = 0",
        "",
    );
    let (first, _dir, out) = run_suite(&suite, 5);
    assert!(!first.status.success());
    let reason = |out: &std::path::Path| {
        manifest(out)["status_reason"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert!(
        reason(&out).contains("stopped answering"),
        "{}",
        reason(&out)
    );
    let (resumed, stderr) = common::resume(&out);
    assert!(!resumed.status.success(), "{stderr}");
    let said = reason(&out);
    assert!(said.contains("stopped answering"), "{said}");
    assert!(!said.contains("never answered"), "{said}");
    assert!(!stderr.contains("never answered"), "{stderr}");
}
