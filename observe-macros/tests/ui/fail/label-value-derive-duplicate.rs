use observe_runtime::LabelValue;

#[derive(LabelValue)]
enum PaymentMethod {
    Card,
    #[label(rename = "card")]
    CreditCard,
}

fn main() {}
