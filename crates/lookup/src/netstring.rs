//! Netstrings (cr.yp.to/proto/netstrings.txt), the framing of the socketmap protocol:
//! `LENGTH:BYTES,` with LENGTH in decimal ASCII.

use std::fmt;
use std::io;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

/// Why no netstring could be read.
#[derive(Debug)]
pub enum ReadError {
    /// The peer closed the connection between netstrings: the normal end.
    Closed,
    /// The bytes are not a netstring; the stream cannot be resynchronised.
    Malformed(&'static str),
    /// The netstring announces more bytes than the reader accepts.
    TooLong {
        length: usize,
        max: usize,
    },
    Io(io::Error),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed => f.write_str("the connection was closed"),
            Self::Malformed(why) => write!(f, "malformed netstring: {why}"),
            Self::TooLong { length, max } => write!(
                f,
                "the request is {length} bytes long; at most {max} are accepted"
            ),
            Self::Io(e) => write!(f, "reading the request failed: {e}"),
        }
    }
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            Self::Malformed("the connection closed inside a netstring")
        } else {
            Self::Io(e)
        }
    }
}

/// The most digits a length may have: enough for any length a reader accepts.
const MAX_LENGTH_DIGITS: usize = 9;

/// Reads one netstring of at most `max` bytes.
pub async fn read<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> Result<Vec<u8>, ReadError> {
    let mut length: usize = 0;
    let mut digits = 0;
    loop {
        let byte = match reader.read_u8().await {
            Ok(byte) => byte,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && digits == 0 => {
                return Err(ReadError::Closed);
            }
            Err(e) => return Err(e.into()),
        };
        match byte {
            b'0'..=b'9' if digits < MAX_LENGTH_DIGITS => {
                length = length * 10 + usize::from(byte - b'0');
                digits += 1;
            }
            b'0'..=b'9' => return Err(ReadError::Malformed("the length has too many digits")),
            b':' if digits > 0 => break,
            b':' => return Err(ReadError::Malformed("the length is missing before ':'")),
            _ => return Err(ReadError::Malformed("expected a decimal length and ':'")),
        }
    }
    if length > max {
        return Err(ReadError::TooLong { length, max });
    }
    let mut payload = vec![0; length];
    reader.read_exact(&mut payload).await?;
    if reader.read_u8().await? != b',' {
        return Err(ReadError::Malformed("the payload is not followed by ','"));
    }
    Ok(payload)
}

/// Whether the reader has buffered input or is at its end, without waiting for more than the
/// first byte: for telling a connection's idle time apart from a request in progress.
pub async fn wait_for_input<R: AsyncBufRead + Unpin>(reader: &mut R) -> io::Result<bool> {
    Ok(!reader.fill_buf().await?.is_empty())
}

/// Appends `payload` as a netstring to `out`.
pub fn encode(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(payload);
    out.push(b',');
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(input: &[u8], max: usize) -> Vec<Result<Vec<u8>, String>> {
        let mut reader = tokio::io::BufReader::new(input);
        let mut results = Vec::new();
        loop {
            match read(&mut reader, max).await {
                Ok(payload) => results.push(Ok(payload)),
                Err(ReadError::Closed) => return results,
                Err(e) => {
                    results.push(Err(e.to_string()));
                    return results;
                }
            }
        }
    }

    #[tokio::test]
    async fn reads_consecutive_netstrings_and_ends_cleanly_between_them() {
        let results = read_all(b"5:hello,0:,3:a b,", 100).await;
        assert_eq!(
            results,
            vec![Ok(b"hello".to_vec()), Ok(Vec::new()), Ok(b"a b".to_vec())]
        );
    }

    #[tokio::test]
    async fn refuses_what_is_not_a_netstring_and_says_why() {
        for (input, why) in [
            (&b"x:abc,"[..], "expected a decimal length"),
            (b":abc,", "the length is missing"),
            (b"3:abcd", "not followed by ','"),
            (b"5:abc", "closed inside a netstring"),
            (b"12", "closed inside a netstring"),
            (b"1234567890:", "too many digits"),
        ] {
            let results = read_all(input, 100).await;
            let last = results.last().expect("an outcome").clone();
            assert!(
                last.as_ref().is_err_and(|e| e.contains(why)),
                "{:?} → {last:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[tokio::test]
    async fn refuses_a_length_over_the_limit_before_reading_the_payload() {
        let results = read_all(b"101:", 100).await;
        assert_eq!(
            results,
            vec![Err(
                "the request is 101 bytes long; at most 100 are accepted".to_owned()
            )]
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
