//! The dispatcher's HTTP API, written once: its routes (method and path), the query of its list
//! routes, and the bodies of its answers. The Function URL handler (`lambda::http`) serves it and
//! the CLI's client (`client`) calls it, both from this table.
//!
//! | method | path                                          | answer                         |
//! |--------|-----------------------------------------------|--------------------------------|
//! | POST   | `/tasks` (body: a task request)               | 202 + acknowledgement          |
//! | GET    | `/tasks/{task_id}`                            | 200 + task record              |
//! | POST   | `/tasks/{task_id}/cancel`                     | 200 + [`CancelReply`]          |
//! | POST   | `/tasks/{task_id}/delivered`                  | 200 + task record              |
//! | GET    | `/conversations/{id}/tasks?limit=&cursor=`    | 200 + [`PageReply`]            |
//! | GET    | `/consumers/{name}/undelivered?limit=&cursor=`| 200 + [`PageReply`]            |
//!
//! Path segments are percent-encoded by the client and decoded by the server. Errors are an
//! [`ErrorReply`].

use crate::dispatcher::CancelOutcome;
use crate::limits::DEFAULT_LIST_PAGE;
use crate::ports::TaskPage;
use crate::record::TaskRecord;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;

/// One route of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Submit,
    Get,
    Cancel,
    Delivered,
    List,
    Undelivered,
}

/// Stands for a route's one parameter (a whole path segment) in [`ROUTES`].
const PARAM: &str = "{}";

/// Every route's method and path, in the order of `Route`.
pub const ROUTES: [(Route, &str, &str); 6] = [
    (Route::Submit, "POST", "/tasks"),
    (Route::Get, "GET", "/tasks/{}"),
    (Route::Cancel, "POST", "/tasks/{}/cancel"),
    (Route::Delivered, "POST", "/tasks/{}/delivered"),
    (Route::List, "GET", "/conversations/{}/tasks"),
    (Route::Undelivered, "GET", "/consumers/{}/undelivered"),
];

impl Route {
    fn entry(self) -> (&'static str, &'static str) {
        let (_, method, path) = ROUTES[self as usize];
        (method, path)
    }

    pub fn method(self) -> &'static str {
        self.entry().0
    }

    /// The request path, `param` percent-encoded in place of the route's parameter (`Submit` has
    /// none and ignores it).
    pub fn path(self, param: &str) -> String {
        self.entry().1.replace(PARAM, &url_encode(param))
    }
}

/// What a request's method and percent-decoded path segments name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matched<'a> {
    /// A route and its parameter ("" for `Submit`).
    Route(Route, &'a str),
    /// The path of a route, with a method it does not take (405).
    WrongMethod,
    /// No route has this path (404).
    NoRoute,
}

pub fn match_route<'a>(method: &str, segments: &[&'a str]) -> Matched<'a> {
    let mut path_known = false;
    for (route, route_method, path) in ROUTES {
        let pattern: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        if pattern.len() != segments.len() {
            continue;
        }
        let mut param = "";
        let fits = pattern.iter().zip(segments).all(|(p, s)| {
            if *p == PARAM {
                param = s;
            }
            *p == PARAM || p == s
        });
        if fits && route_method == method {
            return Matched::Route(route, param);
        }
        path_known |= fits;
    }
    if path_known {
        Matched::WrongMethod
    } else {
        Matched::NoRoute
    }
}

/// The query of the list routes: `limit` (default `DEFAULT_LIST_PAGE`) and `cursor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageQuery<'a> {
    pub limit: u32,
    pub cursor: Option<&'a str>,
}

impl<'a> PageQuery<'a> {
    /// `?limit=N[&cursor=C]`, encoded.
    pub fn to_query(&self) -> String {
        let mut query = format!("?limit={}", self.limit);
        if let Some(cursor) = self.cursor {
            query.push_str(&format!("&cursor={}", url_encode(cursor)));
        }
        query
    }

    /// From a request's decoded query parameters; the error is the answer's message.
    pub fn parse(query: &'a HashMap<String, String>) -> Result<PageQuery<'a>, &'static str> {
        let limit = match query.get("limit").map(|l| l.parse::<u32>()) {
            None => DEFAULT_LIST_PAGE,
            Some(Ok(limit)) => limit,
            Some(Err(_)) => return Err("limit: must be a whole number"),
        };
        Ok(PageQuery {
            limit,
            cursor: query.get("cursor").map(String::as_str),
        })
    }
}

/// A status and a JSON body: what the handler answers and the client receives.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    pub error: String,
}

/// One page of tasks, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageReply {
    pub tasks: Vec<TaskRecord>,
    /// Pass back as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

impl From<TaskPage> for PageReply {
    fn from(page: TaskPage) -> Self {
        PageReply {
            tasks: page.tasks,
            next_cursor: page.next_cursor,
        }
    }
}

/// What a cancel did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CancelReply {
    /// False when the task had already finished.
    pub cancelled: bool,
    pub task: TaskRecord,
}

impl From<CancelOutcome> for CancelReply {
    fn from(outcome: CancelOutcome) -> Self {
        CancelReply {
            cancelled: outcome.cancelled,
            task: outcome.record,
        }
    }
}

/// Percent-encodes one path segment or query value (ids are plain ASCII, cursors contain '.').
pub fn url_encode(part: &str) -> String {
    part.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_the_order_of_the_routes() {
        for (i, (route, _, _)) in ROUTES.iter().enumerate() {
            assert_eq!(*route as usize, i, "{route:?}");
        }
    }

    #[test]
    fn every_route_matches_its_own_path_and_only_its_method() {
        for (route, method, _) in ROUTES {
            let path = route.path("a b/c");
            let decoded: Vec<String> = path
                .trim_start_matches('/')
                .split('/')
                .map(|s| {
                    percent_encoding::percent_decode_str(s)
                        .decode_utf8()
                        .unwrap()
                        .into_owned()
                })
                .collect();
            let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();
            let param = if route == Route::Submit { "" } else { "a b/c" };
            assert_eq!(match_route(method, &segments), Matched::Route(route, param));
            assert_eq!(match_route("PUT", &segments), Matched::WrongMethod);
        }
        assert_eq!(match_route("GET", &["nope"]), Matched::NoRoute);
        assert_eq!(match_route("GET", &[]), Matched::NoRoute);
        assert_eq!(
            match_route("POST", &["tasks", "t1", "cancel"]),
            Matched::Route(Route::Cancel, "t1")
        );
        assert_eq!(Route::Get.path("01A"), "/tasks/01A");
    }

    #[test]
    fn page_queries_round_trip() {
        let query = PageQuery {
            limit: 5,
            cursor: Some("12.01A"),
        };
        assert_eq!(query.to_query(), "?limit=5&cursor=12.01A");
        let parsed: HashMap<String, String> = [
            ("limit".to_string(), "5".to_string()),
            ("cursor".into(), "12.01A".into()),
        ]
        .into();
        assert_eq!(PageQuery::parse(&parsed), Ok(query));
        let empty = HashMap::new();
        assert_eq!(PageQuery::parse(&empty).unwrap().limit, DEFAULT_LIST_PAGE);
        let bad: HashMap<String, String> = [("limit".to_string(), "x".to_string())].into();
        assert_eq!(PageQuery::parse(&bad), Err("limit: must be a whole number"));
    }
}
