//! Time stamps in the formats Entra ID and Graph print.

use time::OffsetDateTime;
use time::macros::format_description;

pub fn now_unix() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `2018-12-22T02:21:05Z`, as in `createdDateTime`.
pub fn iso_z(unix: i64) -> String {
    at(unix)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .unwrap_or_default()
}

/// `2021-05-18T19:03:10`, as in a Graph error's `innerError.date`.
pub fn graph_error_date() -> String {
    OffsetDateTime::now_utc()
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]"
        ))
        .unwrap_or_default()
}

/// `2016-01-09 02:02:12Z`, as in a token endpoint error's `timestamp`.
pub fn token_error_timestamp() -> String {
    OffsetDateTime::now_utc()
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]Z"
        ))
        .unwrap_or_default()
}
