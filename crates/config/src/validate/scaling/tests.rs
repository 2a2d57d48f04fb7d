use std::time::Duration;

use crate::parse;
use crate::scaling::*;

const BASE: &str = "[listeners.web]\nbind = \"127.0.0.1:8080\"\ndefault_action = { forward = \"app\" }\n\n[target_groups.app]\ntargets = []\n\n";

fn with(group: &str) -> String {
    format!("{BASE}[scaling_groups.app]\ntarget_group = \"app\"\nmin = 1\nmax = 4\nprovider = {{ process = {{ command = \"ballast echo --port {{port}}\", ports = \"9100-9199\" }} }}\n{group}\n")
}

fn messages(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(_) => panic!("expected errors for {text}"),
        Err(e) => e.errors().iter().map(|e| e.to_string()).collect(),
    }
}

fn has(text: &str, start: &str) {
    let errors = messages(text);
    assert!(
        errors.iter().any(|e| e.starts_with(start)),
        "no error starting with {start:?} in {errors:#?}"
    );
}

#[test]
fn a_group_with_every_policy_kind_reads_with_its_defaults() {
    let text = with(
        r#"policies = [
  { type = "target_tracking", metric = "request_count_per_target", target = 500 },
  { type = "step", alarm = { metric = "average_cpu", comparison = ">=", threshold = 70, evaluation_periods = 3 }, adjustment_type = "percent_change_in_capacity", steps = [{ lower = 20, adjustment = 30 }, { lower = 0, upper = 20, adjustment = 10 }], min_adjustment_magnitude = 2 },
  { type = "simple", alarm = { metric = "average_cpu", comparison = "<", threshold = 20, period = "5m" }, adjustment_type = "change_in_capacity", adjustment = -1 },
  { type = "predictive", target = 6000, mode = "forecast_and_scale", max_capacity_breach = "increase", max_capacity_buffer = 10 },
]
scheduled_actions = [
  { name = "morning", recurrence = "0 8 * * 1-5", time_zone = "Europe/Berlin", min = 2 },
  { name = "launch-day", start = "2026-12-24T18:00:00Z", desired = 4 },
]"#,
    );
    let config = parse(&text).unwrap();
    let g = &config.scaling_groups[0];
    assert_eq!(
        (g.min, g.max, g.desired),
        (1, 4, 1),
        "desired defaults to min"
    );
    assert_eq!(g.health_check_grace_period, Duration::from_secs(300));
    assert_eq!(g.default_instance_warmup, Duration::ZERO);
    assert_eq!(g.termination_policy, vec![TerminationPolicy::Default]);
    assert_eq!(
        g.history_file,
        std::path::Path::new("/var/lib/ballast/scaling/app.json")
    );
    assert!(
        matches!(&g.provider, ProviderConfig::Process { ports, stop_timeout, .. }
        if *ports == (9100..=9199) && *stop_timeout == Duration::from_secs(10))
    );
    assert_eq!(g.policies.len(), 4);
    assert_eq!(
        g.policies[0],
        ScalingPolicyConfig::TargetTracking {
            metric: ScalingMetric::RequestCountPerTarget,
            target: 500.0,
            disable_scale_in: false,
        }
    );
    let ScalingPolicyConfig::Step {
        alarm,
        steps,
        min_adjustment_magnitude,
        ..
    } = &g.policies[1]
    else {
        panic!("{:?}", g.policies[1]);
    };
    assert_eq!(alarm.statistic, Statistic::Average);
    assert_eq!(
        (alarm.evaluation_periods, alarm.datapoints_to_alarm),
        (3, 3)
    );
    assert_eq!(alarm.period, Duration::from_secs(60));
    assert_eq!(steps[0].lower, Some(0.0), "sorted by lower bound");
    assert_eq!(*min_adjustment_magnitude, 2);
    let ScalingPolicyConfig::Simple {
        cooldown, alarm, ..
    } = &g.policies[2]
    else {
        panic!();
    };
    assert_eq!(
        *cooldown,
        Duration::from_secs(300),
        "the group's default cooldown"
    );
    assert_eq!(alarm.comparison, Comparison::Less);
    assert!(matches!(
        g.policies[3],
        ScalingPolicyConfig::Predictive { metric: ScalingMetric::RequestCount, forecast_and_scale: true, increase_max_by: Some(b), .. } if b == 10.0
    ));
    assert_eq!(g.scheduled_actions[0].time_zone, "Europe/Berlin");
    assert_eq!(g.scheduled_actions[1].time_zone, "UTC");
}

#[test]
fn capacity_provider_and_references_are_checked() {
    let base = BASE;
    has(
        &format!("{base}[scaling_groups.app]\ntarget_group = \"nope\"\nmin = 1\nmax = 2\nprovider = {{ command = {{ launch = \"l\", terminate = \"t\" }} }}\n"),
        "scaling_groups.app.target_group: unknown target group \"nope\"",
    );
    has(
        &with("desired = 9"),
        "scaling_groups.app.desired: invalid value 9",
    );
    has(
        &format!("{base}[scaling_groups.app]\ntarget_group = \"app\"\nmin = 5\nmax = 2\nprovider = {{ command = {{ launch = \"l\", terminate = \"t\" }} }}\n"),
        "scaling_groups.app.min: invalid value 5",
    );
    has(
        &format!("{base}[scaling_groups.app]\ntarget_group = \"app\"\nmin = 1\nmax = 2\nprovider = {{ process = {{ command = \"x\", ports = \"9100-9100\" }} }}\n"),
        "scaling_groups.app.provider.process.command: invalid value \"x\"",
    );
    has(
        &format!("{base}[scaling_groups.app]\ntarget_group = \"app\"\nmin = 1\nmax = 2\nprovider = {{ process = {{ command = \"x {{port}}\", ports = \"9100-9100\" }} }}\n"),
        "scaling_groups.app.provider.process.ports: invalid value \"9100-9100\"",
    );
    has(
        &format!("{base}[scaling_groups.app]\ntarget_group = \"app\"\nmin = 1\nmax = 2\nprovider = {{}}\n"),
        "scaling_groups.app.provider: invalid value",
    );
    has(
        &format!("{base}[scaling_groups.a]\ntarget_group = \"app\"\nmin = 1\nmax = 2\nprovider = {{ command = {{ launch = \"l\", terminate = \"t\" }} }}\n[scaling_groups.b]\ntarget_group = \"app\"\nmin = 1\nmax = 2\nprovider = {{ command = {{ launch = \"l\", terminate = \"t\" }} }}\n"),
        "scaling_groups.b.target_group: target group app is already used by scaling_groups.a.target_group",
    );
    has(
        &with("termination_policy = [\"default\", \"oldest_instance\"]"),
        "scaling_groups.app.termination_policy[0]",
    );
    has(&with("zones = [\"a b\"]"), "scaling_groups.app.zones[0]");
}

#[test]
fn each_policy_kind_takes_its_own_keys() {
    let policy = |p: &str| with(&format!("policies = [{p}]"));
    has(
        &policy("{ type = \"magic\" }"),
        "scaling_groups.app.policies[0].type: invalid value \"magic\"",
    );
    has(
        &policy("{ type = \"target_tracking\", metric = \"request_count\", target = 5 }"),
        "scaling_groups.app.policies[0].metric: invalid value \"request_count\"",
    );
    has(
        &policy("{ type = \"target_tracking\", metric = \"average_cpu\" }"),
        "scaling_groups.app.policies[0].target",
    );
    has(
        &policy("{ type = \"target_tracking\", metric = \"average_cpu\", target = 50, cooldown = \"1m\" }"),
        "scaling_groups.app.policies[0].cooldown: invalid value cooldown on a target_tracking policy",
    );
    has(
        &policy("{ type = \"step\", alarm = { metric = \"average_cpu\", comparison = \">=\", threshold = 70 }, adjustment_type = \"change_in_capacity\", steps = [{ lower = 0, upper = 10, adjustment = 1 }] }"),
        "scaling_groups.app.policies[0].steps: invalid value 1 steps: expected steps reach above the threshold",
    );
    has(
        &policy("{ type = \"step\", alarm = { metric = \"average_cpu\", comparison = \"=>\", threshold = 70, period = \"45s\", datapoints_to_alarm = 2 }, adjustment_type = \"change_in_capacity\", steps = [{ lower = 0, adjustment = 1 }] }"),
        "scaling_groups.app.policies[0].alarm.comparison: invalid value \"=>\"",
    );
    has(
        &policy("{ type = \"step\", alarm = { metric = \"average_cpu\", comparison = \">\", threshold = 70, period = \"45s\" }, adjustment_type = \"change_in_capacity\", steps = [{ lower = 0, adjustment = 1 }] }"),
        "scaling_groups.app.policies[0].alarm.period",
    );
    has(
        &policy("{ type = \"step\", alarm = { metric = \"average_cpu\", comparison = \">\", threshold = 70, datapoints_to_alarm = 2 }, adjustment_type = \"change_in_capacity\", steps = [{ lower = 0, adjustment = 1 }] }"),
        "scaling_groups.app.policies[0].alarm.datapoints_to_alarm: invalid value 2",
    );
    has(
        &policy("{ type = \"simple\", alarm = { metric = \"average_cpu\", comparison = \">\", threshold = 70 }, adjustment_type = \"change_in_capacity\", adjustment = 1, min_adjustment_magnitude = 2 }"),
        "scaling_groups.app.policies[0].min_adjustment_magnitude",
    );
    has(
        &policy("{ type = \"predictive\", target = 100, scheduling_buffer = \"2h\" }"),
        "scaling_groups.app.policies[0].scheduling_buffer",
    );
    has(
        &policy("{ type = \"predictive\", target = 100, max_capacity_buffer = 10 }"),
        "scaling_groups.app.policies[0].max_capacity_buffer",
    );
    has(
        &policy("{ type = \"predictive\", target = 100, mode = \"forecast_and_scale\" }, { type = \"predictive\", target = 200, mode = \"forecast_and_scale\" }"),
        "scaling_groups.app.policies[1].mode: forecast_and_scale (one predictive policy may scale) is already used by scaling_groups.app.policies[0].mode",
    );
}

#[test]
fn scheduled_actions_are_checked_at_their_keys() {
    let action = |a: &str| with(&format!("scheduled_actions = [{a}]"));
    has(
        &action("{ name = \"a\", recurrence = \"0 8 * *\", desired = 2 }"),
        "scaling_groups.app.scheduled_actions[0].recurrence: invalid value \"0 8 * *\"",
    );
    has(
        &action("{ name = \"a\", recurrence = \"0 8 * * *\", time_zone = \"Mars/Olympus\", desired = 2 }"),
        "scaling_groups.app.scheduled_actions[0].time_zone: invalid value \"Mars/Olympus\"",
    );
    has(
        &action("{ name = \"a\", start = \"tomorrow\", desired = 2 }"),
        "scaling_groups.app.scheduled_actions[0].start: invalid value \"tomorrow\"",
    );
    has(
        &action("{ name = \"a\", desired = 2 }"),
        "scaling_groups.app.scheduled_actions[0]: invalid value neither recurrence nor start",
    );
    has(
        &action("{ name = \"a\", recurrence = \"0 8 * * *\" }"),
        "scaling_groups.app.scheduled_actions[0]: invalid value an action that sets nothing",
    );
    has(
        &action("{ name = \"a\", recurrence = \"0 8 * * *\", start = \"2026-12-02T00:00:00Z\", end = \"2026-12-01T00:00:00Z\", desired = 1 }"),
        "scaling_groups.app.scheduled_actions[0].end",
    );
    has(
        &action("{ name = \"a\", recurrence = \"0 8 * * *\", desired = 1 }, { name = \"a\", recurrence = \"0 9 * * *\", desired = 2 }"),
        "scaling_groups.app.scheduled_actions[1].name: scheduled action name a is already used by",
    );
}

#[test]
fn the_history_file_may_be_set_but_not_empty() {
    let config = parse(&with("history_file = \"/tmp/app-history.json\"")).unwrap();
    assert_eq!(
        config.scaling_groups[0].history_file,
        std::path::Path::new("/tmp/app-history.json")
    );
    has(
        &with("history_file = \"\""),
        "scaling_groups.app.history_file",
    );
}

#[test]
fn response_time_policies_need_metrics() {
    let tracking = r#"policies = [{ type = "target_tracking", metric = "target_response_time", target = 200 }]"#;
    assert!(parse(&with(tracking)).is_ok());
    let off = |group: &str| format!("{}\n[metrics]\nenabled = false\n", with(group));
    has(&off(tracking), "scaling_groups.app.policies[0].metric");
    let step = r#"policies = [{ type = "simple", alarm = { metric = "target_response_time", comparison = ">", threshold = 300 }, adjustment_type = "change_in_capacity", adjustment = 1 }]"#;
    has(&off(step), "scaling_groups.app.policies[0].alarm");
    assert!(parse(&off(
        r#"policies = [{ type = "target_tracking", metric = "average_cpu", target = 50 }]"#
    ))
    .is_ok());
}
