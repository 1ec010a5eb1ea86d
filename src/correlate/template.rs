//! Endpoint templates: `GET /session/status/{thread_id}` from `GET /session/status/3f2c…`.
//!
//! A path segment equal to a known id is shown as `{name}` with the name the caller gives
//! (the correlation's name, e.g. `thread_id`); a segment that merely looks like an id (a
//! UUID, a long hex string, a number) is shown as `{id}`. Pure and cheap: the replay calls
//! it once per recorded exchange while building its plan, never on the hot path.

/// The endpoint name of a request: `METHOD /path/with/{placeholders}`.
///
/// `ids` are `(value, name)` pairs of known ids; the first pair whose value equals a segment
/// names it.
pub fn endpoint(method: &str, path: &str, ids: &[(&str, &str)]) -> String {
    format!(
        "{} {}",
        method.to_ascii_uppercase(),
        path_template(path, ids)
    )
}

/// The path part of [`endpoint`].
pub fn path_template(path: &str, ids: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(path.len());
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if let Some((_, name)) = ids.iter().find(|(v, _)| !v.is_empty() && *v == seg) {
            out.push('{');
            out.push_str(name);
            out.push('}');
        } else if looks_like_id(seg) {
            out.push_str("{id}");
        } else {
            out.push_str(seg);
        }
    }
    out
}

/// A UUID, a hex string of 16+ characters, or a number.
pub fn looks_like_id(seg: &str) -> bool {
    if seg.is_empty() {
        return false;
    }
    let is_uuid = seg.len() == 36
        && seg.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    is_uuid
        || seg.bytes().all(|b| b.is_ascii_digit())
        || (seg.len() >= 16 && seg.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_ids_are_named_and_id_like_segments_hidden() {
        let t = "3f2c1a9e-8c4b-4f1e-9a53-2b7d7c1e0f44";
        assert_eq!(
            endpoint("get", &format!("/session/status/{t}"), &[(t, "thread_id")]),
            "GET /session/status/{thread_id}"
        );
        assert_eq!(
            endpoint("GET", "/users/42/orders/0123456789abcdef0", &[]),
            "GET /users/{id}/orders/{id}"
        );
        assert_eq!(
            endpoint("POST", "/session/start", &[]),
            "POST /session/start"
        );
        assert_eq!(endpoint("GET", "/", &[]), "GET /");
    }
}
