use observe_runtime::observe;

#[observe(span = "User.Notify", fields(pin.bits = !pin_code.pan))]
fn notify(pin_code: &Card) -> u64 {
    pin_code.pan
}

pub struct Card {
    pub pan: u64,
}

fn main() {}
