//! Feeds arbitrary bytes to every response parser of the Graph client: none may panic, hang
//! or allocate out of proportion, whatever a server sends.

#![no_main]

use std::time::SystemTime;

use libfuzzer_sys::fuzz_target;
use roster_graph::{DirectoryEvent, parse};

fuzz_target!(|body: &[u8]| {
    for page in [parse::user_page(body), parse::group_page(body)].into_iter().flatten() {
        for event in page.items {
            // Applying a patch to an empty mirror exercises the merge rules too.
            match event {
                DirectoryEvent::User(patch) => drop(patch.apply(None)),
                DirectoryEvent::Group(patch) => drop(patch.apply(None)),
                DirectoryEvent::UserRemoved(_) | DirectoryEvent::GroupRemoved(_) => {}
            }
        }
    }
    let _ = parse::member_page(body);
    let _ = parse::domain_page(body);
    let _ = parse::token_response(body);
    let _ = parse::token_error(body);
    let _ = parse::error_body(body);
    if let Ok(items) = parse::batch_response(body) {
        for (index, item) in items.iter().enumerate() {
            let _ = parse::batch_member_page(index, &item.body);
        }
    }
    if let Ok(items) = parse::member_batch(body) {
        for (index, item) in items.into_iter().enumerate() {
            let _ = item.body.error();
            let _ = item.body.members(index);
        }
    }
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = parse::retry_after(text, SystemTime::UNIX_EPOCH);
    }
});
