use observe_runtime::observe;

#[observe(span = "Checkout.Pay", metric = "latency",
          objective(success = "99.9%", latency = "250ms", latency_target = "99%"))]
fn pay() -> Result<(), String> {
    Ok(())
}

#[observe(span = "Checkout.Refund", metric(name = "refund_duration_seconds", buckets = [0.1, 0.3, 1.0]),
          objective(latency = "0.3s", latency_target = "95%", window = "7d"))]
fn refund() {}

fn main() {
    let _ = pay();
    refund();
    let objectives = observe_runtime::slo::objectives();
    let names: Vec<&str> = objectives.iter().map(|o| o.name()).collect();
    assert_eq!(names, ["Checkout.Pay", "Checkout.Refund"]);
    assert_eq!(
        objectives[1].slo_window(),
        std::time::Duration::from_secs(7 * 86_400)
    );
}
