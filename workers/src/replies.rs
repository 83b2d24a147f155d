//! Reply queues: one per consumer (a process that hosts conversations), so a consumer receives only
//! its own results. A deployment has a fixed set (the stack's); the memory backend makes them on
//! first use (`ReplyQueues::on_demand`, `memory::reply_queue`), up to `MAX_CONSUMERS`.

use crate::error::InputError;
use crate::limits::MAX_CONSUMERS;
use crate::ports::MessageQueue;
use crate::protocol::check_consumer_name;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// A reply queue's visibility timeout: a router holds a message only while it hands it over.
pub const REPLY_VISIBILITY_TIMEOUT_S: u32 = 30;
/// Only a consumer's own router receives from its queue; a message comes back only if the router
/// died while handing it over, so a few receives are plenty before the DLQ.
pub const REPLY_MAX_RECEIVE_COUNT: u32 = 10;

/// One consumer's queue and its DLQ.
#[derive(Clone)]
pub struct ReplyQueue {
    pub queue: Arc<dyn MessageQueue>,
    pub dead_letter: Option<Arc<dyn MessageQueue>>,
}

pub struct ReplyQueues {
    queues: Mutex<BTreeMap<String, ReplyQueue>>,
    /// Makes a consumer's queue when it is first named (memory backends); `None`: a fixed set.
    make: Option<fn(&str) -> ReplyQueue>,
}

impl ReplyQueues {
    /// The deployment's queues: a consumer not among them is refused.
    pub fn fixed(queues: BTreeMap<String, ReplyQueue>) -> Result<ReplyQueues, InputError> {
        if queues.len() > MAX_CONSUMERS {
            return Err(InputError::new(
                "reply queues",
                format!("{} consumers; the limit is {MAX_CONSUMERS}", queues.len()),
            ));
        }
        for name in queues.keys() {
            check_consumer_name(name)?;
        }
        Ok(ReplyQueues {
            queues: Mutex::new(queues),
            make: None,
        })
    }

    /// Queues made by `make` on first use (`memory::reply_queue` for the memory backend's).
    pub fn on_demand(make: fn(&str) -> ReplyQueue) -> ReplyQueues {
        ReplyQueues {
            queues: Mutex::new(BTreeMap::new()),
            make: Some(make),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ReplyQueue>> {
        self.queues.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The consumer's queue; an unknown consumer is the caller's error.
    pub fn get(&self, consumer: &str) -> Result<ReplyQueue, InputError> {
        check_consumer_name(consumer)?;
        let mut queues = self.lock();
        if let Some(queue) = queues.get(consumer) {
            return Ok(queue.clone());
        }
        let Some(make) = self.make else {
            let known: Vec<&str> = queues.keys().map(String::as_str).collect();
            return Err(InputError::new(
                "reply_to",
                format!(
                    "{consumer:?} is not a consumer of this deployment (known: {})",
                    known.join(", ")
                ),
            ));
        };
        if queues.len() >= MAX_CONSUMERS {
            return Err(InputError::new(
                "reply_to",
                format!(
                    "{consumer:?} would be consumer number {}; the limit is {MAX_CONSUMERS}",
                    queues.len() + 1
                ),
            ));
        }
        let queue = make(consumer);
        queues.insert(consumer.to_string(), queue.clone());
        Ok(queue)
    }

    pub fn queue(&self, consumer: &str) -> Result<Arc<dyn MessageQueue>, InputError> {
        Ok(self.get(consumer)?.queue)
    }

    /// Every consumer known now, with its queues.
    pub fn all(&self) -> Vec<(String, ReplyQueue)> {
        self.lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_set_refuses_unknown_consumers_and_memory_makes_them() {
        let memory = ReplyQueues::in_memory();
        assert_eq!(memory.queue("agents").unwrap().name(), "reply-agents");
        let fixed = ReplyQueues::fixed(BTreeMap::from([(
            "default".to_string(),
            ReplyQueue {
                queue: memory.queue("agents").unwrap(),
                dead_letter: None,
            },
        )]))
        .unwrap();
        let err = fixed.queue("other").err().unwrap();
        assert_eq!(
            err.to_string(),
            "reply_to: \"other\" is not a consumer of this deployment (known: default)"
        );
        assert!(memory.queue("Bad Name").is_err());
        for i in 1..MAX_CONSUMERS {
            memory.queue(&format!("c{i}")).unwrap();
        }
        assert!(
            memory
                .queue("one-too-many")
                .err()
                .unwrap()
                .to_string()
                .contains("the limit is 50")
        );
    }
}
