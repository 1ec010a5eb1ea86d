//! The values at a few JSON pointers, read from a body in one pass without building the
//! document.
//!
//! The recorder reads a handful of pointers per response (node, session id, fields) and the
//! replay reads the ids a response produces. Parsing the whole body into a
//! `serde_json::Value` for that (with `preserve_order`, an `IndexMap` per object, every key
//! hashed and every string copied) costs far more than those few values. A [`Picker`] holds
//! its pointers as a small trie of tokens and walks the body once with serde: a key or an
//! index on a wanted path descends, a value a pointer ends at is materialized as a `Value`,
//! and everything else is parsed and dropped without allocating (keys are compared as
//! borrowed `&str`).
//!
//! # Invariants
//! - Picking from a body equals `serde_json::from_slice::<Value>(body)` followed by
//!   `Value::pointer` for each pointer (a property test compares them): skipped values go
//!   through the same `deserialize_any` a `Value` does, so the same syntax, UTF-8,
//!   number-range and nesting-depth rules reject a body, and then nothing is picked. A
//!   duplicate key's last value wins, as in a `Value`; array indices follow RFC 6901
//!   (digits, no leading zero; `-` matches nothing).
//! - Slot `i` of a [`Picked`] is the `i`-th pointer given to [`Picker::new`]; a `None`
//!   pointer is a slot that never holds a value.

use super::pointer::{self, Pointer};
use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// A set of JSON pointers, ready to pick from many bodies.
#[derive(Debug, Clone, Default)]
pub struct Picker {
    root: Node,
    slots: usize,
}

/// The values one body holds at a [`Picker`]'s pointers, by slot. Reuse it across bodies.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Picked {
    values: Vec<Option<Value>>,
}

impl Picked {
    /// The value at slot `slot`'s pointer, if the body had one there.
    pub fn get(&self, slot: usize) -> Option<&Value> {
        self.values.get(slot)?.as_ref()
    }

    /// Takes the value at slot `slot` out.
    pub fn take(&mut self, slot: usize) -> Option<Value> {
        self.values.get_mut(slot)?.take()
    }
}

/// One token of the trie: the pointers that end here and the tokens that go on.
#[derive(Debug, Clone, Default)]
struct Node {
    /// Slots whose pointer ends at this node.
    ends: Vec<usize>,
    /// Every slot whose pointer passes through or ends at this node (cleared when a
    /// duplicate key replaces the value).
    below: Vec<usize>,
    children: Vec<Child>,
}

#[derive(Debug, Clone)]
struct Child {
    /// The unescaped token, matched against object keys.
    key: Box<str>,
    /// The token as an array index, when it is one.
    index: Option<usize>,
    node: Node,
}

impl Picker {
    /// A picker whose slot `i` is the `i`-th pointer.
    pub fn new<'p>(pointers: impl IntoIterator<Item = Option<&'p Pointer>>) -> Picker {
        let mut picker = Picker::default();
        for (slot, p) in pointers.into_iter().enumerate() {
            picker.slots = slot + 1;
            let Some(p) = p else { continue };
            let mut node = &mut picker.root;
            node.below.push(slot);
            for token in p.tokens() {
                let at = match node.children.iter().position(|c| *c.key == **token) {
                    Some(at) => at,
                    None => {
                        node.children.push(Child {
                            key: token.as_str().into(),
                            index: pointer::index(token),
                            node: Node::default(),
                        });
                        node.children.len() - 1
                    }
                };
                node = &mut node.children[at].node;
                node.below.push(slot);
            }
            node.ends.push(slot);
        }
        picker
    }

    /// Picks from a JSON body into `out`; false, with nothing picked, when the body is not
    /// one JSON document.
    pub fn pick_slice(&self, body: &[u8], out: &mut Picked) -> bool {
        self.reset(out);
        self.run(&mut serde_json::Deserializer::from_slice(body), out)
    }

    /// [`Picker::pick_slice`] for a body already known to be UTF-8.
    pub fn pick_str(&self, body: &str, out: &mut Picked) -> bool {
        self.reset(out);
        self.run(&mut serde_json::Deserializer::from_str(body), out)
    }

    /// Picks from a parsed document (the values `Value::pointer` finds).
    pub fn pick_value(&self, doc: &Value, out: &mut Picked) {
        self.reset(out);
        fill(&self.root, doc, &mut out.values);
    }

    fn reset(&self, out: &mut Picked) {
        out.values.clear();
        out.values.resize(self.slots, None);
    }

    fn run<'de, R: serde_json::de::Read<'de>>(
        &self,
        de: &mut serde_json::Deserializer<R>,
        out: &mut Picked,
    ) -> bool {
        let seed = NodeSeed {
            node: &self.root,
            out: &mut out.values,
        };
        let ok = seed.deserialize(&mut *de).and_then(|()| de.end()).is_ok();
        if !ok {
            out.values.iter_mut().for_each(|v| *v = None);
        }
        ok
    }
}

/// Sets the slots of `node` and its descendants from an already parsed `v`.
fn fill(node: &Node, v: &Value, out: &mut [Option<Value>]) {
    for &slot in &node.ends {
        out[slot] = Some(v.clone());
    }
    for c in &node.children {
        let next = match v {
            Value::Object(m) => m.get(&*c.key),
            Value::Array(a) => c.index.and_then(|i| a.get(i)),
            _ => None,
        };
        if let Some(next) = next {
            fill(&c.node, next, out);
        }
    }
}

/// Reads the value at `node` into the slots below it.
struct NodeSeed<'a> {
    node: &'a Node,
    out: &'a mut [Option<Value>],
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let node = self.node;
        if !node.ends.is_empty() {
            let v = Value::deserialize(d)?;
            if let ([slot], []) = (&node.ends[..], &node.children[..]) {
                self.out[*slot] = Some(v); // the common leaf: no copy
            } else {
                fill(node, &v, self.out);
            }
            Ok(())
        } else if node.children.is_empty() {
            d.deserialize_any(Skip).map(drop)
        } else {
            d.deserialize_any(self)
        }
    }
}

/// A node with children and no pointer ending at it: descends into keys and indices that
/// are on a path, skips the rest.
impl<'de> Visitor<'de> for NodeSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        loop {
            let more = match self.node.children.iter().find(|c| c.index == Some(i)) {
                Some(c) => seq
                    .next_element_seed(NodeSeed {
                        node: &c.node,
                        out: &mut *self.out,
                    })?
                    .is_some(),
                None => seq.next_element::<Skip>()?.is_some(),
            };
            if !more {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(child) = map.next_key_seed(KeySeed(&self.node.children))? {
            match child {
                Some(c) => {
                    // a duplicate key replaces what its first value picked
                    for &slot in &c.node.below {
                        self.out[slot] = None;
                    }
                    map.next_value_seed(NodeSeed {
                        node: &c.node,
                        out: &mut *self.out,
                    })?;
                }
                None => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(())
    }
}

/// Reads an object key (borrowed when it has no escapes) and finds the child it names.
struct KeySeed<'a>(&'a [Child]);

impl<'de, 'a> DeserializeSeed<'de> for KeySeed<'a> {
    type Value = Option<&'a Child>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, 'a> Visitor<'de> for KeySeed<'a> {
    type Value = Option<&'a Child>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().find(|c| *c.key == *key))
    }
}

/// Any JSON value, parsed as a `Value` would be and dropped without allocating.
struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Skip, D::Error> {
        d.deserialize_any(Skip)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_key::<Skip>()?.is_some() {
            map.next_value::<Skip>()?;
        }
        Ok(Skip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn picker(pointers: &[&str]) -> Picker {
        let parsed: Vec<Option<Pointer>> = pointers.iter().map(|p| Pointer::parse(p)).collect();
        Picker::new(parsed.iter().map(Option::as_ref))
    }

    /// What the full parse finds: `from_slice::<Value>` then `Value::pointer`.
    fn reference(body: &[u8], pointers: &[&str]) -> Vec<Option<Value>> {
        let doc = serde_json::from_slice::<Value>(body).ok();
        pointers
            .iter()
            .map(|p| doc.as_ref().and_then(|d| d.pointer(p)).cloned())
            .collect()
    }

    fn pick(body: &[u8], pointers: &[&str]) -> (bool, Vec<Option<Value>>) {
        let mut out = Picked::default();
        let ok = picker(pointers).pick_slice(body, &mut out);
        (ok, out.values)
    }

    fn assert_same(body: &[u8], pointers: &[&str]) {
        let (ok, got) = pick(body, pointers);
        assert_eq!(
            got,
            reference(body, pointers),
            "body {:?}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(ok, serde_json::from_slice::<Value>(body).is_ok());
        if let Ok(s) = std::str::from_utf8(body) {
            let mut out = Picked::default();
            assert_eq!(picker(pointers).pick_str(s, &mut out), ok);
            assert_eq!(out.values, got, "pick_str");
        }
    }

    #[test]
    fn picks_nested_objects_and_arrays() {
        let body = br#"{"a": {"b": [10, {"c": "x"}, null]}, "current_node": "CI", "n": 1.5}"#;
        let (ok, got) = pick(
            body,
            &["/a/b/1/c", "/current_node", "/a/b/0", "/a/b/3", "/n"],
        );
        assert!(ok);
        assert_eq!(
            got,
            vec![
                Some(json!("x")),
                Some(json!("CI")),
                Some(json!(10)),
                None,
                Some(json!(1.5))
            ]
        );
    }

    #[test]
    fn pointer_escapes_and_odd_tokens() {
        let body = br#"{"a/b": 1, "m~n": 2, "": {"": 3}, "arr": [7, 8], "0": "zero", "k\"q": 4}"#;
        let pointers = [
            "/a~1b", "/m~0n", "/", "//", "/arr/0", "/arr/01", "/arr/-", "/arr/+1", "/arr/1", "/0",
            "/k\"q", "/a/b", "/m~n",
        ];
        assert_same(body, &pointers);
        let (_, got) = pick(body, &pointers);
        assert_eq!(got[0], Some(json!(1)));
        assert_eq!(got[1], Some(json!(2)));
        assert_eq!(got[3], Some(json!(3)));
        assert_eq!(got[4], Some(json!(7)));
        assert_eq!((&got[5], &got[6], &got[7]), (&None, &None, &None));
        assert_eq!(got[9], Some(json!("zero")));
        assert_eq!(got[10], Some(json!(4)));
    }

    #[test]
    fn an_escaped_key_matches_its_unescaped_token() {
        let body = br#"{"current\u005fnode": "CI", "th\u00e9": "\ud83d\ude00 \"q\""}"#;
        assert_same(body, &["/current_node", "/thé"]);
        assert_eq!(pick(body, &["/current_node"]).1, vec![Some(json!("CI"))]);
    }

    #[test]
    fn a_duplicate_key_s_last_value_wins() {
        for body in [
            &br#"{"a": {"b": 1}, "a": {"c": 2}}"#[..],
            br#"{"a": {"b": 1}, "a": 5}"#,
            br#"{"a": 5, "a": {"b": 1}}"#,
            br#"{"a": [1, 2], "a": [3]}"#,
            br#"{"n": "AR", "x": 1, "n": "GE"}"#,
        ] {
            assert_same(body, &["/a/b", "/a/c", "/a", "/a/1", "/a/0", "/n"]);
        }
        assert_eq!(
            pick(br#"{"n": "AR", "n": "GE"}"#, &["/n"]).1,
            vec![Some(json!("GE"))]
        );
    }

    #[test]
    fn a_body_that_is_not_one_json_document_picks_nothing() {
        let deep = format!(
            "{{\"a\": 1, \"b\": {}{}}}",
            "[".repeat(200),
            "]".repeat(200)
        );
        let bodies: [&[u8]; 10] = [
            b"",
            b"<html>",
            br#"{"a": 1"#,
            br#"{"a": 1} trailing"#,
            br#"{"a": 1, "b": 1e400}"#,
            b"{\"a\": 1, \"b\": \"\xff\"}",
            b"{\"a\": 1, \"b\": \"tab\there\"}",
            br#"{"a": 1, "b": "\ud800"}"#,
            br#"{"a": 1, "b": tru}"#,
            deep.as_bytes(),
        ];
        for body in bodies {
            let (ok, got) = pick(body, &["/a", ""]);
            assert!(!ok, "{:?}", String::from_utf8_lossy(body));
            assert_eq!(got, vec![None, None]);
            assert_same(body, &["/a", ""]);
        }
        assert_eq!(pick(b" {\"a\": 1}\n ", &["/a"]).1, vec![Some(json!(1))]);
    }

    #[test]
    fn whole_document_prefixes_and_shared_paths() {
        let body = br#"{"a": {"b": {"c": true}}, "s": "x"}"#;
        let pointers = ["", "/a", "/a/b", "/a/b/c", "/a/b/c", "/s", "/s/0"];
        assert_same(body, &pointers);
        let (_, got) = pick(body, &pointers);
        assert_eq!(got[3], Some(json!(true)));
        assert_eq!(got[4], Some(json!(true)));
        assert_eq!(
            got[0].as_ref(),
            serde_json::from_slice::<Value>(body).ok().as_ref()
        );
    }

    #[test]
    fn a_missing_pointer_is_an_empty_slot() {
        let mut out = Picked::default();
        let p = Picker::new([None, Pointer::parse("/a").as_ref()]);
        assert!(p.pick_slice(br#"{"a": "x"}"#, &mut out));
        assert_eq!(out.get(0), None);
        assert_eq!(out.take(1), Some(json!("x")));
        assert_eq!(out.get(1), None);
        assert_eq!(out.get(9), None);
    }

    #[test]
    fn huge_and_escaped_strings() {
        let big = "é\\\"\\n".repeat(50_000);
        let body = format!(r#"{{"skip": "{big}", "keep": "{big}", "n": "CI"}}"#);
        assert_same(body.as_bytes(), &["/keep", "/n", "/skip/0"]);
        let (_, got) = pick(body.as_bytes(), &["/n"]);
        assert_eq!(got, vec![Some(json!("CI"))]);
    }

    #[test]
    fn pick_value_equals_value_pointer() {
        let doc = json!({"a": [1, {"b~/": null}], "": 0});
        let pointers = ["/a/1/b~0~1", "/a/0", "/", "/a/x", ""];
        let mut out = Picked::default();
        picker(&pointers).pick_value(&doc, &mut out);
        let want: Vec<_> = pointers.iter().map(|p| doc.pointer(p).cloned()).collect();
        assert_eq!(out.values, want);
    }

    /// An array or object text of `inner` values; object keys from a small alphabet (with
    /// duplicates, escapes and the empty key) so that generated pointers often hit.
    fn container(inner: BoxedStrategy<String>) -> BoxedStrategy<String> {
        let key = prop_oneof![
            4 => prop::sample::select(vec!["a", "b", "0"]),
            1 => prop::sample::select(vec!["1", "a/b", "m~n", "", "é"]),
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((key, inner), 0..7).prop_map(|kv| {
                let fields: Vec<String> = kv
                    .iter()
                    .map(|(k, v)| format!("{}:{v}", serde_json::to_string(k).unwrap()))
                    .collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
        .boxed()
    }

    /// JSON documents whose top level is an array or an object.
    fn doc() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_string()),
            any::<bool>().prop_map(|b| b.to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            (-1e6f64..1e6).prop_map(|f| f.to_string()),
            "[a-z\\\\\"é ]{0,6}".prop_map(|s| serde_json::to_string(&s).unwrap()),
        ];
        let value = leaf.prop_recursive(3, 30, 6, |inner| container(inner.boxed()));
        container(value.boxed())
    }

    fn pointers() -> impl Strategy<Value = Vec<String>> {
        // mostly tokens the documents use, so that many pointers lead somewhere (about a
        // fifth of the non-empty ones do)
        let token = prop_oneof![
            4 => prop::sample::select(vec!["a", "b", "0", "1"]),
            1 => prop::sample::select(vec!["01", "-", "a~1b", "m~0n", "", "é"]),
        ];
        prop::collection::vec(
            prop::collection::vec(token, 0..3)
                .prop_map(|t| t.iter().map(|t| format!("/{t}")).collect::<String>()),
            1..5,
        )
    }

    proptest! {
        #[test]
        fn equals_a_full_parse_then_value_pointer(body in doc(), ptrs in pointers(), cut in 0usize..4) {
            let ptrs: Vec<&str> = ptrs.iter().map(String::as_str).collect();
            // also a body cut short (perhaps inside a character), which is not JSON
            let body = if cut == 0 { &body.as_bytes()[..body.len() / 2] } else { body.as_bytes() };
            let (ok, got) = pick(body, &ptrs);
            prop_assert_eq!(&got, &reference(body, &ptrs));
            prop_assert_eq!(ok, serde_json::from_slice::<Value>(body).is_ok());
            if let Ok(doc) = serde_json::from_slice::<Value>(body) {
                let mut out = Picked::default();
                picker(&ptrs).pick_value(&doc, &mut out);
                prop_assert_eq!(&out.values, &got);
            }
        }
    }
}
