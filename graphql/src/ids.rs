//! IDs and cursors as they cross the API.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use juniper::ID;
use renkei_core::{Error, Result};
use uuid::Uuid;

pub fn parse_id(field: &str, id: &ID) -> Result<Uuid> {
    Uuid::parse_str(id).map_err(|_| Error::bad_input(format!("{field}: not a valid ID")))
}

pub fn to_id(id: Uuid) -> ID {
    ID::new(id.to_string())
}

/// An opaque cursor for a position (sort key, id) in a keyset-paginated list.
pub fn encode_cursor(key: &str, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{id}{key}"))
}

pub fn decode_cursor(cursor: &str) -> Result<(String, Uuid)> {
    let bad = || Error::bad_input("after: not a cursor from this list");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    if text.len() < 36 || !text.is_char_boundary(36) {
        return Err(bad());
    }
    let (id, key) = text.split_at(36);
    // Keys are names and timestamps; a control character can only come from a forged cursor.
    if key.chars().any(char::is_control) {
        return Err(bad());
    }
    Ok((key.to_owned(), Uuid::parse_str(id).map_err(|_| bad())?))
}

/// Checks a page size: connections take `first`, between 1 and 100.
pub fn page_size(first: i32) -> Result<i64> {
    if (1..=100).contains(&first) {
        Ok(i64::from(first))
    } else {
        Err(Error::bad_input(format!("first: must be between 1 and 100 (got {first})")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let id = Uuid::new_v4();
        for key in ["東京市民病院", "", "2026-11-20T07:30:00+00:00"] {
            assert_eq!(decode_cursor(&encode_cursor(key, id)).ok(), Some((key.to_owned(), id)));
        }
        let nul = URL_SAFE_NO_PAD.encode(format!("{id}a\u{0}b"));
        for bad in ["", "!!", "YWJj", &URL_SAFE_NO_PAD.encode("x".repeat(40)), &nul] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn page_sizes_are_bounded() {
        assert!(page_size(0).is_err());
        assert!(page_size(101).is_err());
        assert_eq!(page_size(100).ok(), Some(100));
    }
}
