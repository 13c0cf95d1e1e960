//! The planner's rules: one test per rule of product.md §2, §3 and §5, named after the rule, and
//! properties that must hold for every input.

#[path = "planner/apply.rs"]
mod apply;
#[path = "planner/categories.rs"]
mod categories;
#[path = "planner/conflicts.rs"]
mod conflicts;
#[path = "planner/delta.rs"]
mod delta;
#[path = "planner/directory.rs"]
mod directory;
#[path = "planner/properties.rs"]
mod properties;
#[path = "planner/recipients.rs"]
mod recipients;
#[path = "planner/safety.rs"]
mod safety;
#[path = "planner/support.rs"]
mod support;
