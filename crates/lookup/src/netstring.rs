//! Netstrings (cr.yp.to/proto/netstrings.txt), the framing of the socketmap protocol:
//! `LENGTH:BYTES,` with LENGTH in decimal ASCII.

use std::fmt;
use std::io::Write as _;

/// Why the bytes received are not a netstring; the stream cannot be resynchronised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    Malformed(&'static str),
    /// The netstring announces more bytes than the reader accepts.
    TooLong {
        length: usize,
        max: usize,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "malformed netstring: {why}"),
            Self::TooLong { length, max } => write!(
                f,
                "the request is {length} bytes long; at most {max} are accepted"
            ),
        }
    }
}

impl std::error::Error for ParseError {}

/// The most digits a length may have: enough for any length a reader accepts.
const MAX_LENGTH_DIGITS: usize = 9;

/// The first netstring at the start of `input`, of at most `max` bytes: its payload and how
/// many bytes of `input` it took. `None` while `input` holds only the beginning of one; an
/// error as soon as the bytes received cannot begin one.
pub fn parse(input: &[u8], max: usize) -> Result<Option<(&[u8], usize)>, ParseError> {
    let mut length: usize = 0;
    let mut digits = 0;
    for (at, &byte) in input.iter().enumerate() {
        match byte {
            b'0'..=b'9' if digits < MAX_LENGTH_DIGITS => {
                length = length * 10 + usize::from(byte - b'0');
                digits += 1;
            }
            b'0'..=b'9' => return Err(ParseError::Malformed("the length has too many digits")),
            b':' if digits > 0 => {
                if length > max {
                    return Err(ParseError::TooLong { length, max });
                }
                let payload = at + 1;
                let comma = payload + length;
                return match input.get(comma) {
                    None => Ok(None),
                    Some(b',') => Ok(Some((&input[payload..comma], comma + 1))),
                    Some(_) => Err(ParseError::Malformed("the payload is not followed by ','")),
                };
            }
            b':' => return Err(ParseError::Malformed("the length is missing before ':'")),
            _ => return Err(ParseError::Malformed("expected a decimal length and ':'")),
        }
    }
    Ok(None)
}

/// Why a stream that ends inside a netstring cannot be answered.
pub const CLOSED_INSIDE: ParseError =
    ParseError::Malformed("the connection closed inside a netstring");

/// Appends `payload` as a netstring to `out`.
pub fn encode(payload: &[u8], out: &mut Vec<u8>) {
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{}:", payload.len());
    out.extend_from_slice(payload);
    out.push(b',');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every netstring at the start of `input`, then how parsing ended.
    fn parse_all(mut input: &[u8], max: usize) -> (Vec<&[u8]>, Result<(), String>) {
        let mut payloads = Vec::new();
        loop {
            match parse(input, max) {
                Ok(Some((payload, used))) => {
                    payloads.push(payload);
                    input = &input[used..];
                }
                Ok(None) if input.is_empty() => return (payloads, Ok(())),
                Ok(None) => return (payloads, Err("incomplete".to_owned())),
                Err(e) => return (payloads, Err(e.to_string())),
            }
        }
    }

    #[test]
    fn parses_consecutive_netstrings() {
        let (payloads, end) = parse_all(b"5:hello,0:,3:a b,", 100);
        assert_eq!(payloads, vec![&b"hello"[..], b"", b"a b"]);
        assert_eq!(end, Ok(()));
    }

    #[test]
    fn waits_for_the_rest_of_a_netstring_begun() {
        for begun in [&b"1"[..], b"12", b"12:", b"5:hel", b"5:hello"] {
            assert_eq!(
                parse(begun, 100),
                Ok(None),
                "{:?}",
                String::from_utf8_lossy(begun)
            );
        }
    }

    #[test]
    fn refuses_what_is_not_a_netstring_and_says_why() {
        for (input, why) in [
            (&b"x:abc,"[..], "expected a decimal length"),
            (b":abc,", "the length is missing"),
            (b"3:abcd", "not followed by ','"),
            (b"1234567890:", "too many digits"),
        ] {
            let (_, end) = parse_all(input, 100);
            assert!(
                end.as_ref().is_err_and(|e| e.contains(why)),
                "{:?} → {end:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn refuses_a_length_over_the_limit_before_the_payload_arrives() {
        assert_eq!(
            parse(b"101:", 100),
            Err(ParseError::TooLong {
                length: 101,
                max: 100
            })
        );
    }

    #[test]
    fn encodes_the_length_in_bytes_not_characters() {
        let mut out = Vec::new();
        encode("OK é".as_bytes(), &mut out);
        encode(b"", &mut out);
        assert_eq!(out, "5:OK é,0:,".as_bytes());
    }
}
