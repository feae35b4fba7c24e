//! Readiness of a member object of any type, read from the standard signals of its status, so
//! that every type whose FederatedTypeConfig collects status (`statusCollection: Enabled`)
//! gets a READY count, not only the kinds the operator knows.
//!
//! The rule, first match wins:
//! 1. a `Ready` condition: ready when `True`;
//! 2. else an `Available` condition: ready when `True`;
//! 3. else `status.observedGeneration`: ready when it has caught up with the member's
//!    `metadata.generation`.
//!
//! A condition (or status) that describes an older generation than the member's own
//! (`observedGeneration` below `metadata.generation`) is not trusted: not ready. A status with
//! none of these signals says nothing (`None`).

use serde_json::Value;

/// Whether the member object reports ready, from its status as collected
/// (`remoteStatus`) and its `metadata.generation`; `None` when the status carries no signal.
pub fn member_ready(remote_status: Option<&Value>, generation: Option<i64>) -> Option<bool> {
    let status = remote_status?;
    let observed = status.get("observedGeneration").and_then(Value::as_i64);
    let current = |observed: Option<i64>| match (observed, generation) {
        (Some(observed), Some(generation)) => observed >= generation,
        _ => true,
    };
    let conditions = status
        .get("conditions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let find = |type_: &str| {
        conditions
            .iter()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
    };
    if let Some(condition) = find("Ready").or_else(|| find("Available")) {
        let holds = condition.get("status").and_then(Value::as_str) == Some("True");
        let condition_generation = condition.get("observedGeneration").and_then(Value::as_i64);
        return Some(holds && current(observed) && current(condition_generation));
    }
    observed.map(|o| current(Some(o)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ready(status: Value, generation: i64) -> Option<bool> {
        member_ready(Some(&status), Some(generation))
    }

    #[test]
    fn ready_condition_wins() {
        let c = |t: &str, s: &str| json!({"type": t, "status": s});
        assert_eq!(
            ready(json!({"conditions": [c("Ready", "True")]}), 1),
            Some(true)
        );
        assert_eq!(
            ready(json!({"conditions": [c("Ready", "False")]}), 1),
            Some(false)
        );
        assert_eq!(
            ready(json!({"conditions": [c("Ready", "Unknown")]}), 1),
            Some(false)
        );
        // Ready decides even when Available says otherwise.
        assert_eq!(
            ready(
                json!({"conditions": [c("Available", "True"), c("Ready", "False")]}),
                1
            ),
            Some(false)
        );
        assert_eq!(
            ready(
                json!({"conditions": [c("Available", "True"), c("Progressing", "False")]}),
                1
            ),
            Some(true)
        );
        assert_eq!(
            ready(json!({"conditions": [c("Available", "False")]}), 1),
            Some(false)
        );
    }

    #[test]
    fn conditions_of_an_older_generation_are_not_trusted() {
        let status = json!({"observedGeneration": 2,
            "conditions": [{"type": "Ready", "status": "True"}]});
        assert_eq!(ready(status.clone(), 2), Some(true));
        assert_eq!(ready(status, 3), Some(false));
        let per_condition = json!({"conditions": [
            {"type": "Ready", "status": "True", "observedGeneration": 4}]});
        assert_eq!(ready(per_condition.clone(), 4), Some(true));
        assert_eq!(ready(per_condition, 5), Some(false));
    }

    #[test]
    fn observed_generation_alone_and_no_signal() {
        assert_eq!(ready(json!({"observedGeneration": 3}), 3), Some(true));
        assert_eq!(ready(json!({"observedGeneration": 2}), 3), Some(false));
        assert_eq!(ready(json!({"phase": "Running"}), 1), None);
        assert_eq!(
            ready(
                json!({"conditions": [{"type": "Synced", "status": "True"}]}),
                1
            ),
            None
        );
        assert_eq!(member_ready(None, Some(1)), None);
        // Without a member generation, the condition alone decides.
        assert_eq!(
            member_ready(
                Some(
                    &json!({"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True"}]})
                ),
                None
            ),
            Some(true)
        );
    }
}
