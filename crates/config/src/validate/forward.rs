//! Validation of a weighted forward: `forward = { groups = [...], stickiness = "1h" }`.

use std::time::Duration;

use crate::defaults::*;
use crate::error::KeyPath;
use crate::model::WeightedForward;
use crate::raw::RawWeightedForward;

use super::Validator;

impl Validator {
    pub(super) fn weighted_forward(
        &mut self,
        path: &KeyPath,
        raw: &RawWeightedForward,
        known: &[String],
    ) -> Option<WeightedForward> {
        let list = path.key("groups");
        if raw.groups.is_empty() || raw.groups.len() > MAX_FORWARD_GROUPS {
            self.invalid(
                list.clone(),
                format!("{} groups", raw.groups.len()),
                format!("1 to {MAX_FORWARD_GROUPS} target groups"),
            );
            // Repeats below are found by a scan of the earlier entries: not over a long list.
            if !raw.groups.is_empty() {
                return None;
            }
        }
        let mut groups = Vec::with_capacity(raw.groups.len());
        let mut complete = true;
        for (i, entry) in raw.groups.iter().enumerate() {
            let at = list.index(i);
            let weight =
                self.count(&at.key("weight"), entry.weight, 1, 0..=MAX_FORWARD_WEIGHT) as u32;
            if raw.groups[..i].iter().any(|g| g.name == entry.name) {
                self.invalid(
                    at.key("name"),
                    format!("\"{}\" a second time", entry.name),
                    "each target group once",
                );
                complete = false;
                continue;
            }
            match self.group_reference(&at.key("name"), &entry.name, known) {
                Some(name) => groups.push((name, weight)),
                None => complete = false,
            }
        }
        if complete && !groups.is_empty() && groups.iter().all(|(_, w)| *w == 0) {
            self.invalid(
                list,
                "every weight 0",
                "at least one group with a weight above 0",
            );
            complete = false;
        }
        let stickiness = raw.stickiness.as_deref().and_then(|text| {
            let at = path.key("stickiness");
            let d = self.duration(&at, Some(text), DEFAULT_STICKINESS_DURATION);
            if d < Duration::from_secs(1) || d > MAX_STICKINESS_DURATION {
                self.invalid(
                    at,
                    format!("\"{text}\""),
                    "a duration from \"1s\" to \"7d\"",
                );
                return None;
            }
            Some(d)
        });
        (complete && !groups.is_empty() && groups.len() <= MAX_FORWARD_GROUPS)
            .then_some(WeightedForward { groups, stickiness })
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{Action, WeightedForward};
    use crate::parse;
    use std::time::Duration;

    fn config(forward: &str) -> String {
        format!(
            "[listeners.web]\nbind = \"127.0.0.1:0\"\ndefault_action = {{ forward = {forward} }}\n[target_groups.blue]\n[target_groups.green]\n"
        )
    }

    fn messages(forward: &str) -> Vec<String> {
        match parse(&config(forward)) {
            Ok(_) => panic!("expected errors for {forward}"),
            Err(e) => e.errors().iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn weighted_groups_and_stickiness_are_read() {
        let parsed = parse(&config(
            "{ groups = [{ name = \"blue\", weight = 90 }, { name = \"green\", weight = 10 }], stickiness = \"1h\" }",
        ))
        .unwrap();
        assert_eq!(
            parsed.listeners[0].default_action,
            Action::WeightedForward(WeightedForward {
                groups: vec![("blue".into(), 90), ("green".into(), 10)],
                stickiness: Some(Duration::from_secs(3600)),
            })
        );
    }

    #[test]
    fn bad_weighted_forwards_name_their_key() {
        let prefix = "listeners.web.default_action.forward";
        let cases = [
            (
                "{ groups = [] }",
                format!("{prefix}.groups: invalid value 0 groups"),
            ),
            (
                "{ groups = [{ name = \"blu\" }] }",
                format!("{prefix}.groups[0].name: unknown target group \"blu\""),
            ),
            (
                "{ groups = [{ name = \"blue\", weight = 1000 }] }",
                format!("{prefix}.groups[0].weight: invalid value 1000"),
            ),
            (
                "{ groups = [{ name = \"blue\", weight = 0 }, { name = \"green\", weight = 0 }] }",
                format!("{prefix}.groups: invalid value every weight 0"),
            ),
            (
                "{ groups = [{ name = \"blue\" }, { name = \"blue\" }] }",
                format!("{prefix}.groups[1].name: invalid value \"blue\" a second time"),
            ),
            (
                "{ groups = [{ name = \"blue\" }], stickiness = \"8d\" }",
                format!("{prefix}.stickiness: invalid value \"8d\""),
            ),
        ];
        for (forward, expected) in cases {
            let errors = messages(forward);
            assert!(errors[0].starts_with(&expected), "{forward}: {errors:?}");
        }
    }
}
