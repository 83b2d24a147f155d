//! The argument check of a tool whose code is elsewhere (a Lambda function, an HTTP service): a JSON
//! object, no larger than the pipeline's limit, valid against the catalog's `input_schema` when it
//! has one. The target still has the last word; this refuses bad calls before they are queued.

use crate::catalog::ToolSpec;
use crate::error::InputError;
use serde_json::Value;

pub struct SchemaCheck {
    validator: Option<jsonschema::Validator>,
}

impl SchemaCheck {
    /// Compiles the tool's schema; a schema that does not compile names the tool.
    pub fn new(spec: &ToolSpec) -> Result<SchemaCheck, InputError> {
        let validator = match &spec.input_schema {
            None => None,
            Some(schema) => Some(
                jsonschema::validator_for(&Value::Object(schema.clone())).map_err(|e| {
                    InputError::new(
                        format!("tools.{}.input_schema", spec.name),
                        format!("is not a valid JSON Schema: {e}"),
                    )
                })?,
            ),
        };
        Ok(SchemaCheck { validator })
    }

    pub fn check(&self, arguments: &Value) -> Result<(), InputError> {
        if !arguments.is_object() {
            return Err(InputError::new("arguments", "must be a JSON object"));
        }
        if let Some(validator) = &self.validator
            && let Some(error) = validator.iter_errors(arguments).next()
        {
            let path = error.instance_path().to_string();
            let field = if path.is_empty() {
                "arguments".to_string()
            } else {
                format!("arguments{}", path.replace('/', "."))
            };
            return Err(InputError::new(field, error.to_string()));
        }
        Ok(())
    }
}
