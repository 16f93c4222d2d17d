//! Text as Renkei stores it: enums kept as `text` with a CHECK constraint, user text trimmed and
//! bounded, and search needles matched literally. Every domain module uses these.

/// A Rust enum stored as `text` with a CHECK constraint: one list of variants gives the string
/// form, parsing and the diesel mapping.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
                 diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
        #[diesel(sql_type = diesel::sql_types::Text)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = crate::Error;
            fn from_str(s: &str) -> crate::Result<Self> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(crate::Error::bad_input(format!(
                        concat!(stringify!($name), ": unknown value {:?} (one of {})"),
                        other,
                        [$($text),+].join(", ")))),
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                text.parse().map_err(|e: crate::Error| serde::de::Error::custom(e.message))
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>)
                -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg>>::to_sql(self.as_str(), out)
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn from_sql(bytes: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                let text = <String as diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg>>::from_sql(bytes)?;
                text.parse().map_err(|e: crate::Error| e.message.into())
            }
        }
    };
}
pub(crate) use text_enum;

/// Escapes `%`, `_` and `\` so user text matches literally inside an ILIKE pattern.
pub(crate) fn like_pattern(needle: &str) -> String {
    let mut escaped = String::with_capacity(needle.len() + 2);
    escaped.push('%');
    for ch in needle.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(ch);
    }
    escaped.push('%');
    escaped
}

/// Trims `value` and checks its length in characters, naming `field` in the error.
pub(crate) fn text_field(field: &str, value: &str, max: usize) -> crate::Result<String> {
    let value = value.trim();
    let len = value.chars().count();
    if len == 0 {
        return Err(crate::Error::bad_input(format!("{field}: must not be empty")));
    }
    if len > max {
        return Err(crate::Error::bad_input(format!("{field}: at most {max} characters (got {len})")));
    }
    if value.chars().any(char::is_control) {
        return Err(crate::Error::bad_input(format!("{field}: must not contain control characters")));
    }
    Ok(value.to_owned())
}

/// An optional free-text field: blank means none, anything else is checked like `text_field`.
pub(crate) fn optional_text(field: &str, value: Option<String>, max: usize) -> crate::Result<Option<String>> {
    value.filter(|v| !v.trim().is_empty()).map(|v| text_field(field, &v, max)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_match_user_text_literally() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(like_pattern("東京"), "%東京%");
    }

    #[test]
    fn text_fields_are_trimmed_and_bounded_in_characters() {
        assert_eq!(text_field("name", "  病院 ", 10).ok().as_deref(), Some("病院"));
        assert!(text_field("name", &"病".repeat(10), 10).is_ok(), "characters, not bytes");
        let err = text_field("name", &"病".repeat(11), 10).err().map(|e| e.message);
        assert_eq!(err.as_deref(), Some("name: at most 10 characters (got 11)"));
        assert!(text_field("name", "   ", 10).is_err());
        assert!(text_field("name", "a\u{7}b", 10).is_err());
    }
}
