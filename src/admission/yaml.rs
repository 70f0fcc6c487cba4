//! Reading a YAML file into JSON values within bounded time and memory, and as strictly as the
//! API server decodes objects.
//!
//! serde_norway (libyaml underneath) already refuses, for each document: malformed YAML, tabs as
//! indentation, control characters; nesting deeper than 128 levels ("recursion limit
//! exceeded"); and more than 100 alias jumps per event of the document ("repetition limit
//! exceeded"), which stops "billion laughs" chains of aliases. What it leaves to this module:
//!
//! - the size of the input, capped at [`MAX_INPUT_BYTES`];
//! - UTF-8, checked here so the error can say where it breaks;
//! - duplicate mapping keys: into `serde_json::Value` the last one silently wins; the API
//!   server's strict decoding refuses them;
//! - the size of what aliases expand to: the repetition limit counts jumps, not what each one
//!   copies, so a list of N aliases to an anchor of N items (linear input) expands to N² items;
//!   [`max_expanded_values`] and [`MAX_EXPANDED_TEXT`] cap it;
//! - flow collections: libyaml's scanner revisits every open `[`/`{` level on every token, so
//!   deep flow nesting costs depth × length before the recursion limit is ever reached;
//!   [`MAX_FLOW_COST`] caps that product;
//! - stopping at the first syntax error, which serde_norway's document iterator would otherwise
//!   yield again forever.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};
use serde_json::{Map, Number, Value};

/// The largest file `reconcile -f` reads: 1 MiB. The API server takes requests up to 3 MiB and
/// etcd objects up to 1.5 MiB, but a file holds a few resources of a few KiB each; 1 MiB leaves
/// room for hundreds of them while a release build still reads it in a few tenths of a second.
pub const MAX_INPUT_BYTES: usize = 1 << 20;

/// The most text (strings and keys) the documents of a file may expand to: 4 MiB. Without
/// aliases it is at most the input itself.
const MAX_EXPANDED_TEXT: usize = 4 * MAX_INPUT_BYTES;

/// The most values the documents of an input of `len` bytes may expand to: one per byte and
/// 64 Ki more. Without aliases every value takes at least a byte of input (an implicit null
/// takes none, but follows a key and a separator), so only aliases come near; they may still
/// repeat a shared block a fair number of times. Time and memory stay proportional to the input.
fn max_expanded_values(len: usize) -> usize {
    len + (64 << 10)
}

/// The most `[` and `{` times input bytes libyaml is given: 64 Mi, a fraction of a second even
/// in an unoptimized build. A file of a few KiB may hold thousands of flow collections; a file of
/// 1 MiB, 64.
const MAX_FLOW_COST: usize = 1 << 26;

/// A problem with the input as a whole, found before any document is read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputProblem {
    #[error("input is larger than {limit} bytes, the most reconcile -f reads")]
    TooLarge { limit: usize },
    #[error("input is not UTF-8: invalid byte at offset {offset}")]
    NotUtf8 { offset: usize },
    #[error(
        "input has {openers} flow collections ('[' or '{{') in {bytes} bytes, more than the YAML parser reads in bounded time (at most {limit} in an input this size): write them in block style"
    )]
    TooMuchFlow { openers: usize, bytes: usize, limit: usize },
}

/// The documents of `input` as JSON values, each or the reason it is not valid YAML. Reading
/// stops after a document the parser cannot get past, so the last entry may stand for the rest.
pub fn documents(input: &[u8]) -> Result<Vec<Result<Value, String>>, InputProblem> {
    let text = checked_text(input)?;
    let budget = Budget::new(max_expanded_values(text.len()), MAX_EXPANDED_TEXT);
    let mut documents = vec![];
    for document in serde_norway::Deserializer::from_str(text) {
        budget.recoverable.set(false);
        match Node(&budget).deserialize(document) {
            Ok(value) => documents.push(Ok(value)),
            Err(e) => {
                documents.push(Err(e.to_string()));
                if !budget.recoverable.get() {
                    break;
                }
            }
        }
    }
    Ok(documents)
}

/// `input` as text, if it is small enough, UTF-8, and light enough on flow collections.
fn checked_text(input: &[u8]) -> Result<&str, InputProblem> {
    if input.len() > MAX_INPUT_BYTES {
        return Err(InputProblem::TooLarge { limit: MAX_INPUT_BYTES });
    }
    let text = std::str::from_utf8(input).map_err(|e| InputProblem::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let openers = input.iter().filter(|&&b| b == b'[' || b == b'{').count();
    if openers.saturating_mul(input.len()) > MAX_FLOW_COST {
        return Err(InputProblem::TooMuchFlow {
            openers,
            bytes: input.len(),
            limit: MAX_FLOW_COST / input.len(),
        });
    }
    Ok(text)
}

/// What is left of the values and text the documents may expand to while a file is read, and
/// whether the last error leaves the parser able to go on to the next document.
struct Budget {
    limits: (usize, usize),
    values: Cell<usize>,
    text: Cell<usize>,
    recoverable: Cell<bool>,
}

impl Budget {
    fn new(values: usize, text: usize) -> Self {
        Budget {
            limits: (values, text),
            values: Cell::new(values),
            text: Cell::new(text),
            recoverable: Cell::new(false),
        }
    }

    /// Count one value, with `text` bytes of string or key.
    fn charge<E: de::Error>(&self, text: usize) -> Result<(), E> {
        match (self.values.get().checked_sub(1), self.text.get().checked_sub(text)) {
            (Some(values), Some(text)) => {
                self.values.set(values);
                self.text.set(text);
                Ok(())
            }
            _ => Err(E::custom(format!(
                "the documents expand to more than {} values or {} bytes of text (aliases repeat too much)",
                self.limits.0, self.limits.1
            ))),
        }
    }

    /// An error in this document only: the next one can still be read.
    fn refuse<E: de::Error>(&self, message: impl fmt::Display) -> E {
        self.recoverable.set(true);
        E::custom(message)
    }
}

/// Any value, as JSON.
struct Node<'b>(&'b Budget);

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value JSON can represent")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.0.charge(0)?;
        Ok(Value::Null)
    }

    /// An empty document.
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.0.charge(0)?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.0.charge(0)?;
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.0.charge(0)?;
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.0.charge(0)?;
        let number = Number::from_f64(v).ok_or_else(|| self.0.refuse(format!("{v} is not a JSON number")))?;
        Ok(Value::Number(number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.0.charge(v.len())?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.0.charge(0)?;
        let mut items = vec![];
        while let Some(item) = seq.next_element_seed(Node(self.0))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.0.charge(0)?;
        let mut object = Map::new();
        while let Some(key) = map.next_key_seed(Key(self.0))? {
            if object.contains_key(&key) {
                return Err(self.0.refuse(format!("duplicate key {key:?}")));
            }
            let value = map.next_value_seed(Node(self.0))?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }

    /// A value with an application's tag (`!pool eu-west-1_Abc`): the API server reads it as the
    /// value itself.
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        let (_tag, value) = data.variant::<String>()?;
        value.newtype_variant_seed(Node(self.0))
    }
}

/// A mapping key: a string, or a number or boolean written as one, as Kubernetes' YAML reader
/// takes them.
struct Key<'b>(&'b Budget);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, number or boolean as a mapping key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        self.0.charge(v.len())?;
        Ok(v.to_owned())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Err(self.0.refuse("a mapping key is null"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(self.0.refuse("a mapping key is a sequence"))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(self.0.refuse("a mapping key is a mapping"))
    }
}
