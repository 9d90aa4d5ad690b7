//! The calls an objective counts, and how its rules select them: the
//! operations of `#[observe]` functions (`operation` and `outcome` labels),
//! or one route of the HTTP server layer (`http_route`,
//! `http_request_method` and `error_type`, the semantic conventions' labels).

use super::{promql_string, regex_escape};

/// The family the HTTP server layer observes every request in; equal to
/// `http::SERVER_DURATION` (checked by a test of `edges/http/server.rs`).
pub(crate) const HTTP_SERVER_FAMILY: &str = "http_server_request_duration_seconds";

/// The buckets of that family, the semantic conventions' (checked equal to
/// the layer's by the same test).
pub(crate) const HTTP_SERVER_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The values of the `http_request_method` label: the methods the semantic
/// conventions name, then `_OTHER` for every other one.
pub(crate) const HTTP_METHODS: [&str; 10] = [
    "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE", "_OTHER",
];

/// The calls of an objective.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Calls {
    /// Calls of `#[observe]` functions, by span name.
    Operations(Vec<String>),
    /// Requests of one route template, of one method or of all.
    Route {
        route: String,
        method: Option<String>,
    },
}

/// The labels of one synthetic good series and one bad series, without
/// braces, for the `promtool` tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Synthetic {
    pub(crate) good: String,
    pub(crate) bad: String,
}

impl Calls {
    /// The matchers that select the objective's calls.
    pub(crate) fn selector(&self) -> String {
        match self {
            Calls::Operations(operations) => match operations.as_slice() {
                [one] => format!("operation={}", promql_string(one)),
                many => {
                    let escaped: Vec<String> = many.iter().map(|op| regex_escape(op)).collect();
                    format!("operation=~{}", promql_string(&escaped.join("|")))
                }
            },
            Calls::Route { route, method } => {
                let mut selector = format!("http_route={}", promql_string(route));
                if let Some(method) = method {
                    selector.push_str(&format!(",http_request_method={}", promql_string(method)));
                }
                selector
            }
        }
    }

    /// The matcher that picks the failed calls among them: an `Err` or a
    /// panic of an operation; for a request, a 5xx answer, a panic, or an
    /// error of the service instead of an answer (`_OTHER`). A 4xx is the
    /// client's mistake, and a client that goes away is not served badly:
    /// neither is a failure.
    pub(crate) fn bad_matcher(&self) -> &'static str {
        match self {
            Calls::Operations(_) => "outcome=~\"error|panic\"",
            Calls::Route { .. } => "error_type!=\"\"",
        }
    }

    /// What the objective counts, in words.
    pub(crate) fn noun(&self) -> &'static str {
        match self {
            Calls::Operations(_) => "calls",
            Calls::Route { .. } => "requests",
        }
    }

    /// What a failed one does, in words.
    pub(crate) fn failing(&self) -> &'static str {
        match self {
            Calls::Operations(_) => "calls fail",
            Calls::Route { .. } => "requests answer 5xx or fail",
        }
    }

    /// The labels of synthetic series that this objective counts and none
    /// of `others` does, or `None` when each of its calls is counted by
    /// another objective too.
    pub(crate) fn synthetic(&self, others: &[&Calls]) -> Option<Synthetic> {
        match self {
            Calls::Operations(operations) => {
                let unique = operations.iter().find(|op| {
                    !others.iter().any(|other| match other {
                        Calls::Operations(theirs) => theirs.contains(op),
                        Calls::Route { .. } => false,
                    })
                })?;
                let operation = promql_string(unique);
                Some(Synthetic {
                    good: format!("operation={operation},outcome=\"ok\""),
                    bad: format!("operation={operation},outcome=\"error\""),
                })
            }
            Calls::Route { route, method } => {
                let candidates: Vec<&str> = match method {
                    Some(method) => vec![method.as_str()],
                    None => HTTP_METHODS.to_vec(),
                };
                let unique = candidates.into_iter().find(|candidate| {
                    !others.iter().any(|other| match other {
                        Calls::Route {
                            route: theirs,
                            method: their_method,
                        } => {
                            theirs == route
                                && their_method.as_deref().is_none_or(|m| m == *candidate)
                        }
                        Calls::Operations(_) => false,
                    })
                })?;
                let labels = format!(
                    "http_request_method={},http_route={}",
                    promql_string(unique),
                    promql_string(route)
                );
                Some(Synthetic {
                    good: format!("{labels},http_response_status_code=\"200\""),
                    bad: format!("{labels},http_response_status_code=\"500\",error_type=\"500\""),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_selectors_escape_names() {
        assert_eq!(
            Calls::Operations(vec!["Checkout.Pay".to_owned()]).selector(),
            "operation=\"Checkout.Pay\""
        );
        assert_eq!(
            Calls::Operations(vec!["A.B".to_owned(), "C.D".to_owned()]).selector(),
            "operation=~\"A\\\\.B|C\\\\.D\""
        );
    }

    #[test]
    fn route_selectors_name_the_template_and_the_method() {
        let any = Calls::Route {
            route: "/orders/{id}".to_owned(),
            method: None,
        };
        assert_eq!(any.selector(), "http_route=\"/orders/{id}\"");
        assert_eq!(any.bad_matcher(), "error_type!=\"\"");
        let get = Calls::Route {
            route: "/orders/{id}".to_owned(),
            method: Some("GET".to_owned()),
        };
        assert_eq!(
            get.selector(),
            "http_route=\"/orders/{id}\",http_request_method=\"GET\""
        );
    }

    #[test]
    fn synthetic_series_avoid_other_objectives_calls() {
        let any = Calls::Route {
            route: "/orders".to_owned(),
            method: None,
        };
        let connect = Calls::Route {
            route: "/orders".to_owned(),
            method: Some("CONNECT".to_owned()),
        };
        // The route's objective takes a method no other objective counts.
        let synthetic = any.synthetic(&[&connect]).unwrap();
        assert_eq!(
            synthetic.bad,
            "http_request_method=\"DELETE\",http_route=\"/orders\",\
             http_response_status_code=\"500\",error_type=\"500\""
        );
        // Every CONNECT request is counted by the route's objective too.
        assert_eq!(connect.synthetic(&[&any]), None);
        let other_route = Calls::Route {
            route: "/carts".to_owned(),
            method: None,
        };
        assert!(connect.synthetic(&[&other_route]).is_some());
        let ops = Calls::Operations(vec!["A".to_owned(), "B".to_owned()]);
        let a = Calls::Operations(vec!["A".to_owned()]);
        assert_eq!(
            ops.synthetic(&[&a, &any]).unwrap().good,
            "operation=\"B\",outcome=\"ok\""
        );
        assert_eq!(a.synthetic(&[&ops]), None);
    }
}
