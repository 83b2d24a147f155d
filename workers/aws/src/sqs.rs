//! A queue on SQS.

use crate::error::QueueError;
use crate::ports::{self, MessageQueue, QueueDepth, ReceivedMessage};
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
};
use std::time::Duration;

pub struct SqsQueue {
    client: Client,
    url: String,
    name: String,
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        let url = url.into();
        let name = url.rsplit('/').next().unwrap_or(&url).to_string();
        SqsQueue { client, url, name }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn backend(&self, e: impl Into<anyhow::Error>) -> QueueError {
        QueueError::Backend {
            queue: self.name.clone(),
            source: e.into(),
        }
    }
}

/// Whole seconds, rounded up, as the SQS API takes them.
fn seconds(d: Duration) -> i32 {
    d.as_secs_f64().ceil() as i32
}

#[async_trait]
impl MessageQueue for SqsQueue {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, body: &str) -> Result<String, QueueError> {
        ports::check_send(body)?;
        let out = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| self.backend(aws_sdk_sqs::Error::from(e)))?;
        Ok(out.message_id.unwrap_or_default())
    }

    async fn receive(
        &self,
        max_messages: u32,
        wait: Duration,
        visibility: Option<Duration>,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        ports::check_receive(max_messages, wait)?;
        if let Some(v) = visibility {
            ports::check_visibility(v)?;
        }
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max_messages as i32)
            .wait_time_seconds(seconds(wait))
            .set_visibility_timeout(visibility.map(seconds))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| self.backend(aws_sdk_sqs::Error::from(e)))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let receive_count = m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                ReceivedMessage {
                    message_id: m.message_id.unwrap_or_default(),
                    receipt_handle: m.receipt_handle.unwrap_or_default(),
                    body: m.body.unwrap_or_default(),
                    receive_count,
                }
            })
            .collect())
    }

    async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(|e| self.backend(aws_sdk_sqs::Error::from(e)))?;
        Ok(())
    }

    async fn delete_batch(&self, receipt_handles: &[String]) -> Result<(), QueueError> {
        ports::check_batch_len(receipt_handles.len())?;
        if receipt_handles.is_empty() {
            return Ok(());
        }
        let entries = receipt_handles
            .iter()
            .enumerate()
            .map(|(i, handle)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(handle)
                    .build()
                    .map_err(|e| self.backend(e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .client
            .delete_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| self.backend(aws_sdk_sqs::Error::from(e)))?;
        if let Some(failed) = out.failed.first() {
            return Err(self.backend(anyhow::anyhow!(
                "{} of {} deletes failed, first: {} {}",
                out.failed.len(),
                receipt_handles.len(),
                failed.code,
                failed.message.as_deref().unwrap_or("")
            )));
        }
        Ok(())
    }

    async fn change_visibility(
        &self,
        receipt_handle: &str,
        timeout: Duration,
    ) -> Result<(), QueueError> {
        ports::check_visibility(timeout)?;
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds(timeout))
            .send()
            .await
            .map_err(|e| self.backend(aws_sdk_sqs::Error::from(e)))?;
        Ok(())
    }

    async fn depth(&self) -> Result<QueueDepth, QueueError> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| self.backend(aws_sdk_sqs::Error::from(e)))?;
        let attributes = out.attributes.unwrap_or_default();
        let count = |name: QueueAttributeName| {
            attributes
                .get(&name)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Ok(QueueDepth {
            visible: count(QueueAttributeName::ApproximateNumberOfMessages),
            in_flight: count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        })
    }
}
