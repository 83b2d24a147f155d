//! The functions' environment, as the CDK stack sets it. Errors name the variable.

use crate::aws::{parse_reply_queues, parse_work_queues};
use crate::catalog::Catalog;
use crate::error::InputError;
use crate::limits::{DEFAULT_MAX_OPEN_TASKS, DEFAULT_TASK_TTL_DAYS, MAX_OPEN_TASKS_LIMIT};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub struct DispatcherEnv {
    pub table: String,
    pub work_queue_urls: BTreeMap<String, String>,
    pub reply_queue_urls: BTreeMap<String, String>,
    pub task_ttl_days: u32,
    /// `ASYNCTOOLS_OWNER_SCOPE`: `session` (default) or `role`.
    pub owner_scope: crate::dispatcher::OwnerScope,
    /// `ASYNCTOOLS_MAX_OPEN_TASKS`: a principal's open tasks at most (default
    /// `DEFAULT_MAX_OPEN_TASKS`); `off`: no limit.
    pub max_open_tasks: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WorkerEnv {
    pub table: String,
    pub reply_queue_urls: BTreeMap<String, String>,
    pub tool: String,
    pub work_queue_url: String,
    /// The stage's target for a `lambda` or `http` tool (ASYNCTOOLS_TOOL_FUNCTION, _URL,
    /// _AUTH_SECRET), over the catalog's.
    pub target: crate::catalog::TargetOverride,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SweeperEnv {
    pub table: String,
    pub work_queue_urls: BTreeMap<String, String>,
    pub reply_queue_urls: BTreeMap<String, String>,
    pub older_than_s: u64,
    /// The `Stack` dimension of its metrics.
    pub stack_name: String,
}

/// The reply settler: which consumer's results it settles, in which table.
#[derive(Debug, Clone, PartialEq)]
pub struct SettlerEnv {
    pub table: String,
    pub consumer: String,
}

impl SettlerEnv {
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<SettlerEnv, InputError> {
        let consumer = required(&get, "ASYNCTOOLS_CONSUMER")?;
        crate::protocol::check_consumer_name(&consumer)
            .map_err(|e| InputError::new("ASYNCTOOLS_CONSUMER", e.message))?;
        Ok(SettlerEnv {
            table: required(&get, "ASYNCTOOLS_TABLE")?,
            consumer,
        })
    }
}

impl DispatcherEnv {
    /// The table and queues this function reaches.
    pub fn resources(&self) -> crate::aws::Resources {
        resources(&self.table, &self.work_queue_urls, &self.reply_queue_urls)
    }
}

impl SweeperEnv {
    /// The table and queues this function reaches.
    pub fn resources(&self) -> crate::aws::Resources {
        resources(&self.table, &self.work_queue_urls, &self.reply_queue_urls)
    }
}

fn resources(
    table: &str,
    work_queue_urls: &BTreeMap<String, String>,
    reply_queue_urls: &BTreeMap<String, String>,
) -> crate::aws::Resources {
    crate::aws::Resources {
        table: table.to_string(),
        work_queue_urls: work_queue_urls.clone(),
        reply_queue_urls: reply_queue_urls.clone(),
        ..crate::aws::Resources::default()
    }
}

fn required(get: &impl Fn(&str) -> Option<String>, name: &str) -> Result<String, InputError> {
    get(name)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| InputError::new(name, "is not set"))
}

impl DispatcherEnv {
    pub fn from_env(
        get: impl Fn(&str) -> Option<String>,
        catalog: &Catalog,
    ) -> Result<Self, InputError> {
        let work_queue_urls =
            parse_work_queues(&required(&get, "ASYNCTOOLS_WORK_QUEUES")?, catalog)?;
        if let Some(missing) = catalog
            .names()
            .into_iter()
            .find(|t| !work_queue_urls.contains_key(*t))
        {
            return Err(InputError::new(
                "ASYNCTOOLS_WORK_QUEUES",
                format!("has no queue for tool {missing:?} of the catalog"),
            ));
        }
        let task_ttl_days = match get("ASYNCTOOLS_TASK_TTL_DAYS").filter(|v| !v.trim().is_empty()) {
            None => DEFAULT_TASK_TTL_DAYS,
            Some(text) => text.trim().parse().map_err(|_| {
                InputError::new(
                    "ASYNCTOOLS_TASK_TTL_DAYS",
                    format!("{text:?} is not a whole number of days"),
                )
            })?,
        };
        let owner_scope = match get("ASYNCTOOLS_OWNER_SCOPE").filter(|v| !v.trim().is_empty()) {
            None => crate::dispatcher::OwnerScope::default(),
            Some(text) => crate::dispatcher::OwnerScope::parse(&text)
                .map_err(|e| InputError::new("ASYNCTOOLS_OWNER_SCOPE", e.message))?,
        };
        let max_open_tasks = match get("ASYNCTOOLS_MAX_OPEN_TASKS").filter(|v| !v.trim().is_empty())
        {
            None => Some(DEFAULT_MAX_OPEN_TASKS),
            Some(text) if text.trim() == "off" => None,
            Some(text) => Some(
                text.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_OPEN_TASKS_LIMIT).contains(n))
                    .ok_or_else(|| {
                        InputError::new(
                            "ASYNCTOOLS_MAX_OPEN_TASKS",
                            format!("{text:?} is neither \"off\" nor a whole number in 1..={MAX_OPEN_TASKS_LIMIT}"),
                        )
                    })?,
            ),
        };
        Ok(DispatcherEnv {
            table: required(&get, "ASYNCTOOLS_TABLE")?,
            work_queue_urls,
            reply_queue_urls: parse_reply_queues(&required(&get, "ASYNCTOOLS_REPLY_QUEUES")?)?,
            task_ttl_days,
            owner_scope,
            max_open_tasks,
        })
    }
}

impl WorkerEnv {
    pub fn from_env(
        get: impl Fn(&str) -> Option<String>,
        catalog: &Catalog,
    ) -> Result<Self, InputError> {
        let tool = required(&get, "ASYNCTOOLS_TOOL")?;
        catalog
            .get(&tool)
            .map_err(|e| InputError::new("ASYNCTOOLS_TOOL", e.message))?;
        Ok(WorkerEnv {
            table: required(&get, "ASYNCTOOLS_TABLE")?,
            reply_queue_urls: parse_reply_queues(&required(&get, "ASYNCTOOLS_REPLY_QUEUES")?)?,
            tool,
            work_queue_url: required(&get, "ASYNCTOOLS_WORK_QUEUE")?,
            target: crate::catalog::TargetOverride {
                function: get("ASYNCTOOLS_TOOL_FUNCTION").filter(|v| !v.trim().is_empty()),
                url: get("ASYNCTOOLS_TOOL_URL").filter(|v| !v.trim().is_empty()),
                auth_secret: get("ASYNCTOOLS_TOOL_AUTH_SECRET").filter(|v| !v.trim().is_empty()),
            },
        })
    }
}

impl SweeperEnv {
    pub fn from_env(
        get: impl Fn(&str) -> Option<String>,
        catalog: &Catalog,
    ) -> Result<Self, InputError> {
        let older_than_s =
            match get("ASYNCTOOLS_SWEEP_OLDER_THAN_S").filter(|v| !v.trim().is_empty()) {
                None => crate::limits::DEFAULT_SWEEP_OLDER_THAN_S,
                Some(text) => text.trim().parse().map_err(|_| {
                    InputError::new(
                        "ASYNCTOOLS_SWEEP_OLDER_THAN_S",
                        format!("{text:?} is not a whole number of seconds"),
                    )
                })?,
            };
        Ok(SweeperEnv {
            table: required(&get, "ASYNCTOOLS_TABLE")?,
            work_queue_urls: parse_work_queues(
                &required(&get, "ASYNCTOOLS_WORK_QUEUES")?,
                catalog,
            )?,
            reply_queue_urls: parse_reply_queues(&required(&get, "ASYNCTOOLS_REPLY_QUEUES")?)?,
            older_than_s,
            stack_name: get("ASYNCTOOLS_STACK_NAME").unwrap_or_else(|| "AsyncTools".into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    /// A queue URL for every tool of the catalog (yours included).
    fn queues() -> String {
        let urls: std::collections::BTreeMap<&str, String> = Catalog::embedded()
            .names()
            .into_iter()
            .map(|t| (t, format!("http://q/{t}")))
            .collect();
        serde_json::to_string(&urls).unwrap()
    }
    const REPLIES: &str = r#"{"default":"http://q/reply"}"#;

    #[test]
    fn dispatcher_env_parses_with_default_ttl() {
        let queues = queues();
        let e = DispatcherEnv::from_env(
            env(&[
                ("ASYNCTOOLS_TABLE", "T"),
                ("ASYNCTOOLS_WORK_QUEUES", queues.as_str()),
                ("ASYNCTOOLS_REPLY_QUEUES", REPLIES),
            ]),
            Catalog::embedded(),
        )
        .unwrap();
        assert_eq!(e.task_ttl_days, 7);
        assert_eq!(e.work_queue_urls["research"], "http://q/research");
        assert_eq!(e.max_open_tasks, Some(DEFAULT_MAX_OPEN_TASKS));
    }

    #[test]
    fn the_open_task_limit_is_a_number_in_range_or_off() {
        let queues = queues();
        let with = |value: &str| {
            DispatcherEnv::from_env(
                env(&[
                    ("ASYNCTOOLS_TABLE", "T"),
                    ("ASYNCTOOLS_WORK_QUEUES", queues.as_str()),
                    ("ASYNCTOOLS_REPLY_QUEUES", REPLIES),
                    ("ASYNCTOOLS_MAX_OPEN_TASKS", value),
                ]),
                Catalog::embedded(),
            )
            .map(|e| e.max_open_tasks)
        };
        assert_eq!(with("5"), Ok(Some(5)));
        assert_eq!(with(" off "), Ok(None));
        for bad in ["0", "1001", "many", "-1"] {
            let err = with(bad).unwrap_err();
            assert_eq!(err.field, "ASYNCTOOLS_MAX_OPEN_TASKS", "{bad}");
            assert!(err.message.contains("1..=1000"), "{err}");
        }
    }

    #[test]
    fn dispatcher_env_errors_name_the_variable() {
        let queues = queues();
        let catalog = Catalog::embedded();
        let err =
            DispatcherEnv::from_env(env(&[("ASYNCTOOLS_WORK_QUEUES", queues.as_str())]), catalog)
                .unwrap_err();
        assert_eq!(err.to_string(), "ASYNCTOOLS_TABLE: is not set");
        let err = DispatcherEnv::from_env(
            env(&[("ASYNCTOOLS_WORK_QUEUES", r#"{"sentiment":"u"}"#)]),
            catalog,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("has no queue for tool \"research\""),
            "{err}"
        );
        let err = DispatcherEnv::from_env(
            env(&[
                ("ASYNCTOOLS_TABLE", "T"),
                ("ASYNCTOOLS_WORK_QUEUES", queues.as_str()),
                ("ASYNCTOOLS_REPLY_QUEUES", REPLIES),
                ("ASYNCTOOLS_TASK_TTL_DAYS", "soon"),
            ]),
            catalog,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "ASYNCTOOLS_TASK_TTL_DAYS: \"soon\" is not a whole number of days"
        );
    }

    #[test]
    fn worker_env_checks_the_tool() {
        let catalog = Catalog::embedded();
        let vars = [
            ("ASYNCTOOLS_TABLE", "T"),
            ("ASYNCTOOLS_REPLY_QUEUES", REPLIES),
            ("ASYNCTOOLS_TOOL", "nope"),
            ("ASYNCTOOLS_WORK_QUEUE", "w"),
        ];
        let err = WorkerEnv::from_env(env(&vars), catalog).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("ASYNCTOOLS_TOOL: \"nope\" is not in the tool catalog"),
            "{err}"
        );
        let mut ok = vars;
        ok[2].1 = "sentiment";
        assert_eq!(
            WorkerEnv::from_env(env(&ok), catalog).unwrap().tool,
            "sentiment"
        );
    }
}
