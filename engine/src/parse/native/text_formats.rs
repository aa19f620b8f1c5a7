//! Native parsers of the text formats log types.

use super::NativeParser;

/// The native parser of this group called `name`, if any.
pub fn lookup(name: &str) -> Option<Box<dyn NativeParser>> {
    let _ = name;
    None
}
