use observe_runtime::LabelValue;

#[derive(LabelValue)]
enum PaymentMethod {
    Card,
    Voucher(u64),
}

fn main() {}
