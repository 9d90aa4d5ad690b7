//! RabbitMQ (AMQP 0-9-1) through lapin, behind the `amqp` feature: the
//! `FieldTable` header carrier, and what a received `Delivery` records on a
//! consumer span.

use lapin::message::Delivery;
use lapin::types::FieldTable;

use crate::edges::messaging::{string, Carrier, IncomingMessage};
use crate::edges::propagation::{self, Remote};
use crate::hot::span::ActiveSpan;
use crate::hot::value::attribute_value;

pub mod carrier {
    //! AMQP 0-9-1 message headers: lapin's `FieldTable`.
    use crate::edges::brokers::known;
    use crate::edges::propagation::{extract_fields, inject_fields, HeaderFields};
    use crate::hot::context::SpanContext;
    use lapin::types::{AMQPValue, FieldTable, LongString};

    /// Writes the current span's context into outgoing message headers
    /// (`BasicProperties::with_headers`).
    pub fn inject(headers: &mut FieldTable) {
        inject_context(&crate::hot::context::current(), headers);
    }

    /// Writes `context` into outgoing message headers.
    pub fn inject_context(context: &SpanContext, headers: &mut FieldTable) {
        for (name, value) in inject_fields(context) {
            headers.insert(name.into(), AMQPValue::LongString(LongString::from(value)));
        }
    }

    /// Headers of a fresh message carrying the current span's context.
    pub fn headers() -> FieldTable {
        let mut headers = FieldTable::default();
        inject(&mut headers);
        headers
    }

    /// Reads the producer's span from a delivery's headers
    /// (`delivery.properties.headers()`), names in any case. Values of
    /// another AMQP type than a string, or not UTF-8, are ignored and
    /// counted.
    pub fn extract(headers: Option<&FieldTable>) -> SpanContext {
        extract_fields(fields(headers))
    }

    pub(crate) fn fields(headers: Option<&FieldTable>) -> HeaderFields {
        let mut fields = HeaderFields::default();
        if let Some(headers) = headers {
            for (key, value) in headers.inner() {
                let Some(name) = known(key.as_str()) else {
                    continue;
                };
                let text = match value {
                    AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).map_err(|_| ()),
                    AMQPValue::ShortString(s) => Ok(s.as_str()),
                    _ => {
                        crate::core::health::count_error("amqp_value_type");
                        continue;
                    }
                };
                fields.add(name, text);
            }
        }
        fields
    }
}

impl Carrier for FieldTable {
    fn remote(&self) -> Remote {
        propagation::extract_remote_fields(carrier::fields(Some(self)))
    }
}

impl Carrier for Delivery {
    fn remote(&self) -> Remote {
        self.properties.headers().remote()
    }
}

/// `messaging.destination.name` is the exchange, or the routing key
/// (the queue) for the default exchange.
impl IncomingMessage for Delivery {
    fn system(&self) -> &'static str {
        "rabbitmq"
    }

    fn record(&self, span: &mut ActiveSpan) {
        let destination = if self.exchange.as_str().is_empty() {
            self.routing_key.as_str()
        } else {
            self.exchange.as_str()
        };
        span.set_attribute("messaging.destination.name", string(destination));
        if !self.routing_key.as_str().is_empty() {
            span.set_attribute(
                "messaging.rabbitmq.destination.routing_key",
                string(self.routing_key.as_str()),
            );
        }
        if let Some(id) = self.properties.message_id() {
            span.set_attribute("messaging.message.id", string(id.as_str()));
        }
        span.set_attribute(
            "messaging.rabbitmq.message.delivery_tag",
            attribute_value(&self.delivery_tag),
        );
        span.set_attribute(
            "messaging.message.body.size",
            attribute_value(&self.data.len()),
        );
    }
}
