//! A malformed policy is an error at each attribute, naming the file and the
//! keys; the function is still emitted, so nothing else fails.
use observe_runtime::observe;

#[observe(span = "Order.Submit")]
fn submit() {}

fn main() {
    submit();
}
