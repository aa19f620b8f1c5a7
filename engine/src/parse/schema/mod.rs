//! Log type schemas: Panther's custom log schema format, for built-in and user log types.
//!
//! A schema names a log type, says how a line is split into named values (`parser`:
//! JSON by default, `csv`, `regex`, or `native` for formats that need code) and declares
//! the fields: their types, which one is the event time, which feed the `p_any_*`
//! indicator arrays, which are required, and which must hold one of a few values
//! (`validate`, how JSON log types that share a shape are told apart).
//!
//! ```yaml
//! schema: Custom.Login            # `name` is accepted as well
//! description: Logins from our VPN appliance
//! parser:
//!   csv: { delimiter: ",", columns: [time, user, ip] }
//! fields:
//!   - { name: time, type: timestamp, timeFormat: "%Y-%m-%d %H:%M:%S", isEventTime: true, required: true }
//!   - { name: user, type: string, indicators: [username] }
//!   - { name: ip, type: string, indicators: [ip] }
//! ```
//!
//! Only declared fields reach the event (Panther drops unknown keys); a `json` field
//! keeps any value as is. Unknown keys *in the schema file* are errors naming the key.

pub mod format;
pub mod loader;
pub mod normalize;
pub mod time_format;

pub use format::{FieldSchema, FieldType, LogSchema, ParserSpec};
pub use loader::{builtin_schemas, load_schema_dir, SchemaError};
