//! Parses one captured response body again and again, for instruction counts under
//! `valgrind --tool=callgrind` (repeatable where wall times on a shared machine are not).
//!
//! ```text
//! cargo build --release -p roster-graph --example parse_bench
//! valgrind --tool=callgrind target/release/examples/parse_bench users users.json 10
//! ```
//!
//! The kind is `users`, `groups` or `batch` (a `$batch` of group member pages), parsed the
//! way a full read parses it. The body is read once, before the first parse.

use roster_graph::parse;

type Failure = Box<dyn std::error::Error>;

fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kind, file, rest @ ..] = args.as_slice() else {
        return Err("usage: parse_bench users|groups|batch FILE [ITERATIONS]".into());
    };
    let iterations: usize = rest.first().map_or(Ok(1), |count| count.parse())?;
    let body = std::fs::read(file)?;
    let mut objects = 0;
    for _ in 0..iterations {
        objects += match kind.as_str() {
            "users" => parse::user_page(&body)?.items.len(),
            "groups" => parse::group_page(&body)?.items.len(),
            "batch" => batch_members(&body)?,
            other => {
                return Err(
                    format!("unknown kind {other}: expected users, groups or batch").into(),
                );
            }
        };
    }
    println!("{objects} objects in {iterations} parses");
    Ok(())
}

/// The members in a `$batch` response, read as the full read reads them.
fn batch_members(body: &[u8]) -> Result<usize, Failure> {
    let mut members = 0;
    for (index, item) in parse::member_batch(body)?.into_iter().enumerate() {
        members += item.body.members(index)?.items.len();
    }
    Ok(members)
}
